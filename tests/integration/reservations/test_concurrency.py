"""Many channels at once for the last units of a SKU at one store: exactly as many win as there are."""

from __future__ import annotations

import asyncio

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import unique_id
from tests.integration.reservations.support import NEARBY, World, create_request, shortfall_of

CALLERS = 100
UNITS = 7


async def test_a_hundred_callers_for_the_last_units(world: World, db: Database) -> None:
    store, nearby, sku = await world.store(), await world.store(point=NEARBY), await world.sku()
    await world.receive(store, sku, UNITS)
    await world.receive(nearby, sku, 4)
    channels = [common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_APP, common_pb2.CHANNEL_CHAT]
    callers = {
        "storefront": world.as_role("storefront"),
        "app": world.as_role("app"),
        "chat_agent": world.as_role("chat_agent"),
    }
    stubs = list(callers.values())

    async def reserve(index: int) -> pb.Reservation | grpc.aio.AioRpcError:
        request = create_request(store, [(sku, 1)], channel=channels[index % 3], customer_id=unique_id("CUST-"))
        try:
            return (await stubs[index % 3].CreateReservation(request)).reservation
        except grpc.aio.AioRpcError as error:
            return error

    outcomes = await asyncio.gather(*(reserve(index) for index in range(CALLERS)))

    won = [outcome for outcome in outcomes if isinstance(outcome, pb.Reservation)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)]
    assert len(won) == UNITS
    assert all(reservation.status == pb.RESERVATION_STATUS_ACTIVE for reservation in won)
    assert len({reservation.pickup_code for reservation in won}) == UNITS
    assert len(lost) == CALLERS - UNITS
    for error in lost:
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
        shortfall = shortfall_of(error)
        assert [(line.location_id, line.sku, line.requested, line.available) for line in shortfall.lines] == [
            (store, sku, 1, 0)
        ]
        assert [alternative.location_id for alternative in shortfall.alternatives] == [nearby]

    level = await world.level(store, sku)
    assert (level.on_hand, level.held, level.available) == (UNITS, UNITS, 0)
    counts = dict(
        await db.fetch(
            "SELECT status, count(*) FROM reservations.reservations WHERE store_id = $1 GROUP BY status", store
        )
    )
    assert counts == {"active": UNITS, "failed": CALLERS - UNITS}
    holds = {reservation.hold_id: (await world.hold(reservation.hold_id)).owner for reservation in won}
    assert holds == {reservation.hold_id: f"reservation:{reservation.reservation_id}" for reservation in won}
