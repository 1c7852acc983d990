"""Journey 6, "till sale under pressure": web, app, chat and two tills compete at once for the last
few units of one SKU. Exactly as many units are sold or held as existed; every loser gets a clear
shortfall (FAILED_PRECONDITION with a Shortfall detail), never another error; the stock invariants hold."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, POTSDAM, SPANDAU, Shop, ship_request, store_request

pytestmark = pytest.mark.timeout(90)

STOCK = {"A": 3, "B": 2}  # the last five units, at two stores


@pytest_asyncio.fixture
async def shop(stack: Stack) -> Shop:
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))


@dataclass
class Outcome:
    who: str
    units: int = 0  # won: units sold (carry-out) or held (orders, reservations)
    sold: bool = False
    shortfall: common_pb2.Shortfall | None = None
    error: str = ""


async def attempt(who: str, call: Callable[[], Awaitable[int]], *, sold: bool = False) -> Outcome:
    try:
        return Outcome(who, units=await call(), sold=sold)
    except grpc.aio.AioRpcError as error:
        shortfalls = details_of(error, common_pb2.Shortfall)
        if error.code() == grpc.StatusCode.FAILED_PRECONDITION and shortfalls:
            return Outcome(who, shortfall=shortfalls[0])
        return Outcome(who, error=f"{error.code().name}: {error.details()}")


async def test_many_channels_race_for_the_last_units(stack: Stack, shop: Shop, db) -> None:
    sku = await shop.sku("Last sofa", 99900)
    stores = {"A": await shop.location(BERLIN), "B": await shop.location(POTSDAM)}
    for name, units in STOCK.items():
        await shop.receive(stores[name], sku, units)
    reservations_running = "reservations" in stack.addresses

    def order(
        role: str, request: pb.CreateOrderRequest, locations: list[str] | None = None
    ) -> Callable[[], Awaitable[int]]:
        stub = shop.orders_as(role, locations)

        async def call() -> int:
            placed = (await stub.CreateOrder(request)).order
            assert placed.status in (pb.ORDER_STATUS_ALLOCATED, pb.ORDER_STATUS_COMPLETED), placed
            return sum(line.quantity for a in placed.allocations for line in a.lines)

        return call

    def reserve(store: str) -> Callable[[], Awaitable[int]]:
        from omnistock.reservations.v1 import reservations_pb2 as rpb

        stub = shop.stack.stub("reservations", role="chat_agent")

        async def call() -> int:
            made = await stub.CreateReservation(
                rpb.CreateReservationRequest(
                    request_id=unique_id(),
                    channel=common_pb2.CHANNEL_CHAT,
                    customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Chat customer"),
                    store_id=store,
                    lines=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
                )
            )
            return sum(line.quantity for line in made.reservation.lines)

        return call

    callers: list[Awaitable[Outcome]] = []
    for n in range(6):
        callers.append(attempt(f"web-{n}", order("storefront", ship_request([(sku, 1)], to=SPANDAU))))
    for n in range(4):
        request = store_request([(sku, 1)], stores["A"], channel=common_pb2.CHANNEL_APP)
        callers.append(attempt(f"app-{n}", order("app", request)))
    for n in range(4):
        if reservations_running:
            callers.append(attempt(f"chat-reservation-{n}", reserve(stores["B"])))
        else:
            request = store_request([(sku, 1)], stores["B"], channel=common_pb2.CHANNEL_CHAT)
            callers.append(attempt(f"chat-order-{n}", order("chat_agent", request)))
    for name in ("A", "B"):
        for n in range(3):
            sale = store_request([(sku, 1)], stores[name], carry_out=True)
            callers.append(attempt(f"till-{name}-{n}", order("pos", sale, [stores[name]]), sold=True))

    outcomes = await asyncio.gather(*callers)

    errors = [(o.who, o.error) for o in outcomes if o.error]
    assert errors == [], errors
    winners = [o for o in outcomes if o.units]
    losers = [o for o in outcomes if o.shortfall is not None]
    assert len(winners) + len(losers) == len(outcomes)
    assert sum(o.units for o in winners) == sum(STOCK.values())
    for loser in losers:
        assert loser.shortfall is not None and loser.shortfall.lines, loser.who
        assert all(line.sku == sku and line.available < line.requested for line in loser.shortfall.lines), loser

    # Inventory agrees: every unit is either sold at a till or held for an order or a reservation.
    levels = {name: await shop.level(stores[name], sku) for name in STOCK}
    sold = sum(STOCK[name] - levels[name].on_hand for name in STOCK)
    held = sum(level.held for level in levels.values())
    assert sold + held == sum(STOCK.values())
    assert sold == sum(o.units for o in winners if o.sold)
    assert held == sum(o.units for o in winners if not o.sold)
    assert all(level.on_hand == level.held for level in levels.values())
    assert await check_invariants(db) == []
