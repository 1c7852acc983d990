"""Journey 1, the reservation's part of "the last green sofa": the chat agent finds the one green
sofa near the customer's city and reserves it; the web shop and another store's till are refused
the unit; the customer collects it with the code at the branch; stock is zero everywhere, and a
channel watching the SKU sees it happen."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_reservations.domain.pickup_code import is_pickup_code
from tests.integration.reservations.support import World, create_request, shortfall_of

CITY = (51.3397, 12.3731)  # Leipzig
OTHER_CITY = (50.9787, 11.0328)  # Erfurt


def hold_at(branch: str, sku: str, channel: int, selling: str = "") -> inv.HoldRequest:
    return inv.HoldRequest(
        request_id=unique_id(),
        owner=f"order:{unique_id()}",
        channel=channel,  # type: ignore[arg-type]
        lines=[inv.HoldLineRequest(location_id=branch, sku=sku, quantity=1)],
        selling_location_id=selling,
        commit_now=bool(selling),
    )


async def test_the_last_green_sofa_is_reserved_and_collected_at_the_branch(stack: Stack, tap: EventTap) -> None:
    world = World(stack)
    model = unique_id("VELVET-")
    branch = await world.store(point=CITY, city="Leipzig", name="Leipzig branch")
    other_store = await world.store(point=OTHER_CITY, city="Erfurt", name="Erfurt store")
    blue = await world.sku(title="Velvet sofa, blue", colour="blue", model=model)
    green = await world.sku(title="Velvet sofa, green", colour="green", model=model)
    await world.receive(other_store, blue, 3)
    await world.receive(branch, green, 1)

    # The chat agent finds the green variant and where it is near the customer's city.
    chat_inventory = stack.stub("inventory", role="chat_agent")
    found = await chat_inventory.ListSkus(inv.ListSkusRequest(attributes={"model": model, "colour": "green"}))
    assert [sku.sku for sku in found.skus] == [green]
    nearby = await chat_inventory.FindAvailability(
        inv.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=green, quantity=1)],
            channel=common_pb2.CHANNEL_CHAT,
            near=common_pb2.GeoPoint(latitude=CITY[0], longitude=CITY[1]),
            radius_km=30,
            method=common_pb2.FULFILMENT_METHOD_PICKUP,
            complete_only=True,
        )
    )
    assert [(entry.location.location_id, entry.levels[0].available) for entry in nearby.locations] == [(branch, 1)]

    # A channel watches the SKU from now on.
    watch = stack.stub("inventory", role="storefront").WatchStock(
        inv.WatchStockRequest(skus=[green], channel=common_pb2.CHANNEL_WEB)
    )
    snapshot = await asyncio.wait_for(watch.read(), 10)
    assert snapshot.snapshot_complete
    assert [(level.location_id, level.on_hand) for level in snapshot.levels] == [(branch, 1)]

    # The agent reserves it: the customer gets a pickup code and an expiry.
    chat = world.as_role("chat_agent")
    reservation = (
        await chat.CreateReservation(create_request(branch, [(green, 1)], channel=common_pb2.CHANNEL_CHAT))
    ).reservation
    assert reservation.status == pb.RESERVATION_STATUS_ACTIVE
    assert is_pickup_code(reservation.pickup_code)
    assert reservation.expires_at.ToDatetime(tzinfo=UTC) > datetime.now(UTC) + timedelta(days=1)
    await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "reservations.reservation.created"
            and payload.reservation.reservation_id == reservation.reservation_id
        )
    )

    # Meanwhile the web shop and the branch's own till try to sell the same unit: there is none left.
    web_sale = hold_at(branch, green, common_pb2.CHANNEL_WEB)
    till_sale = hold_at(branch, green, common_pb2.CHANNEL_POS, selling=branch)
    for attempt, caller in (
        (web_sale, stack.stub("inventory", role="service")),
        (till_sale, stack.stub("inventory", role="pos", locations=[branch])),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await caller.Hold(attempt)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        shortfall = shortfall_of(refused.value)
        assert [(line.location_id, line.sku, line.requested, line.available) for line in shortfall.lines] == [
            (branch, green, 1, 0)
        ]
    # Another store's till may not sell the branch's stock at all, whatever is left.
    with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
        await stack.stub("inventory", role="pos", locations=[other_store]).Hold(
            hold_at(branch, green, common_pb2.CHANNEL_POS, selling=other_store)
        )
    assert elsewhere.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as second_customer:
        await world.as_role("storefront").CreateReservation(
            create_request(branch, [(green, 1)], channel=common_pb2.CHANNEL_WEB)
        )
    assert shortfall_of(second_customer.value).lines[0].available == 0

    # The branch has it ready; days later the customer shows the code at the till.
    clerk = world.as_role("pos", [branch])
    await clerk.MarkReservationReady(
        pb.MarkReservationReadyRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
    )
    collected = (
        await clerk.CollectReservation(
            pb.CollectReservationRequest(
                request_id=unique_id(), store_id=branch, pickup_code=reservation.pickup_code.lower()
            )
        )
    ).reservation
    assert collected.status == pb.RESERVATION_STATUS_COLLECTED

    # The sale is complete: no green sofa anywhere, and the watching channel saw it go.
    levels = (await world.inventory.GetStock(inv.GetStockRequest(sku=green))).levels
    assert [(level.location_id, level.on_hand, level.held, level.available) for level in levels] == [(branch, 0, 0, 0)]

    async def sold_out() -> None:
        while True:
            message = await watch.read()
            assert message is not grpc.aio.EOF
            if any(level.location_id == branch and level.on_hand == 0 for level in message.levels):
                return

    await asyncio.wait_for(sold_out(), 10)
    watch.cancel()
    await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "reservations.reservation.collected"
            and payload.reservation.reservation_id == reservation.reservation_id
        )
    )
