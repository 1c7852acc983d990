"""Journey 2, the reservation nobody collected: it expires by itself, the unit comes back, the
channel is told, and the next customer gets it."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack
from tests.integration.reservations.support import World, create_request, shortfall_of


async def test_an_uncollected_reservation_expires_and_the_next_customer_reserves_the_unit(
    stack: Stack, tap: EventTap
) -> None:
    world = World(stack)
    store, sku = await world.store(), await world.sku(title="Armchair", colour="mustard")
    await world.receive(store, sku, 1)
    app = world.as_role("app")
    first = (
        await app.CreateReservation(
            create_request(store, [(sku, 1)], channel=common_pb2.CHANNEL_APP, hold_for=timedelta(seconds=1))
        )
    ).reservation
    assert first.status == pb.RESERVATION_STATUS_ACTIVE
    with pytest.raises(grpc.aio.AioRpcError) as meanwhile:
        await app.CreateReservation(create_request(store, [(sku, 1)], channel=common_pb2.CHANNEL_APP))
    assert shortfall_of(meanwhile.value).lines[0].available == 0

    # Nobody comes. Inventory's sweeper expires the hold; reservations follows and tells the channel.
    _, told = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "reservations.reservation.expired"
            and payload.reservation.reservation_id == first.reservation_id
        ),
        timeout=20,
    )
    assert told.reservation.status == pb.RESERVATION_STATUS_EXPIRED
    assert told.reservation.channel == common_pb2.CHANNEL_APP
    assert told.reservation.customer.customer_id == first.customer.customer_id
    await tap.wait_for(
        lambda envelope, payload: envelope.type == "inventory.hold.expired" and payload.hold.hold_id == first.hold_id
    )

    expired = await world.get(first.reservation_id)
    assert expired.status == pb.RESERVATION_STATUS_EXPIRED
    assert expired.HasField("closed_at")
    assert (await world.hold(first.hold_id)).state == inv.HOLD_STATE_EXPIRED
    level = await world.level(store, sku)
    assert (level.on_hand, level.held, level.available) == (1, 0, 1)
    with pytest.raises(grpc.aio.AioRpcError) as too_late:
        await world.as_role("pos", [store]).CollectReservation(
            pb.CollectReservationRequest(
                request_id="late-" + first.reservation_id, store_id=store, pickup_code=first.pickup_code
            )
        )
    assert too_late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in (too_late.value.details() or "")

    second = (
        await app.CreateReservation(create_request(store, [(sku, 1)], channel=common_pb2.CHANNEL_APP))
    ).reservation
    assert second.status == pb.RESERVATION_STATUS_ACTIVE
    assert (await world.level(store, sku)).held == 1
    # Exactly one expiry was announced for the first reservation.
    assert [
        payload.reservation.reservation_id
        for payload in tap.of_type("reservations.reservation.expired")
        if payload.reservation.reservation_id == first.reservation_id
    ] == [first.reservation_id]
