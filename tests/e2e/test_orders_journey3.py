"""Journey 3, "ship to home, split": a web order of three SKUs to a home address where no location
has all three. The router explains its plan, everything is held at once at two locations, both
locations pick, pack and ship (through fulfilment when it runs, otherwise as fulfilment would),
and the order completes."""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import (
    BERLIN,
    HAMBURG,
    MUNICH,
    SPANDAU,
    Shop,
    allocated,
    publish,
    quote_of,
    reasons,
    ship_request,
    ship_through_fulfilment,
    task_event,
)

TIMEOUT = 15.0
HOME = (52.4009, 13.0591)  # a house in Potsdam


@pytest_asyncio.fixture
async def shop(stack: Stack) -> Shop:
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))


async def ship_as_fulfilment_would(shop: Shop, bus: Any, order: pb.Order) -> None:
    """Without the fulfilment service: sell each location's part of the hold and announce the shipment."""
    for allocation in order.allocations:
        await shop.inventory.CommitHold(
            inv.CommitHoldRequest(
                request_id=unique_id(),
                hold_id=allocation.hold_id,
                lines=[
                    inv.HoldLineRequest(location_id=allocation.location_id, sku=line.sku, quantity=line.quantity)
                    for line in allocation.lines
                ],
            )
        )
        await publish(bus, "fulfilment.task.shipped", task_event(order, allocation), source="fulfilment")


async def test_ship_to_home_split_across_two_locations(stack: Stack, shop: Shop, db, bus, tap) -> None:
    sofa, lamp, rug = await shop.sku("Sofa", 49900), await shop.sku("Lamp", 2500), await shop.sku("Rug", 9900)
    west = await shop.location(SPANDAU, warehouse=True, city="Berlin")  # sofa and lamp
    north = await shop.location(HAMBURG, warehouse=True, city="Hamburg")  # rug and lamp
    berlin_store = await shop.location(BERLIN)  # rug only, a store
    munich_store = await shop.location(MUNICH, city="Munich")  # sofa only, a store
    for location, sku, units in (
        (west, sofa, 2),
        (west, lamp, 5),
        (north, rug, 3),
        (north, lamp, 5),
        (berlin_store, rug, 1),
        (munich_store, sofa, 1),
    ):
        await shop.receive(location, sku, units)

    web = shop.orders_as("storefront")
    request = ship_request([(sofa, 1), (lamp, 2), (rug, 1)], to=HOME)

    # The router explains: which locations, and why each other one was passed over.
    plan = (await web.QuoteRouting(quote_of(request))).plan
    assert plan.complete and plan.splits == 2
    assert {a.location_id for a in plan.allocations} == {west, north}
    assert "no single location had every line" in plan.explanation
    assert reasons(plan) == {
        berlin_store: "PASS_OVER_REASON_NOT_A_WAREHOUSE",
        munich_store: "PASS_OVER_REASON_NOT_A_WAREHOUSE",
    }
    assert all(passed.detail for passed in plan.passed_over)

    # Everything is held at once: one all-or-nothing hold across both locations.
    order = (await web.CreateOrder(request)).order
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    assert order.decision == plan
    assert allocated(order) == {west: {sofa: 1, lamp: 2}, north: {rug: 1}}
    assert len({a.hold_id for a in order.allocations}) == 1
    hold = await shop.hold(order.allocations[0].hold_id)
    assert {(line.location_id, line.sku, line.open) for line in hold.lines} == {
        (west, sofa, 1),
        (west, lamp, 2),
        (north, rug, 1),
    }
    assert await shop.held((west, sofa), (west, lamp), (north, rug)) == [1, 2, 1]

    # Both locations ship.
    if "fulfilment" in stack.addresses:
        await ship_through_fulfilment(stack, order)
    else:
        await ship_as_fulfilment_would(shop, bus, order)

    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED, TIMEOUT)
    assert {a.status for a in done.allocations} == {pb.ALLOCATION_STATUS_SHIPPED}
    assert [(line.sku, line.fulfilled) for line in done.lines] == [(sofa, 1), (lamp, 2), (rug, 1)]
    await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "orders.order.completed" and payload.order.order_id == order.order_id
        ),
        TIMEOUT,
    )
    levels = [await shop.level(location, sku) for location, sku in ((west, sofa), (west, lamp), (north, rug))]
    assert [(level.on_hand, level.held) for level in levels] == [(1, 0), (3, 0), (2, 0)]
    assert await check_invariants(db) == []
