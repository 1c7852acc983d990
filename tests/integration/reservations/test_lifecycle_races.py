"""Changes of one reservation racing each other: whatever order they reach inventory and the
reservation in, the hold keeps the units at least as long as any caller was told."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from omnistock.reservations.v1 import reservations_pb2 as pb
from tests.integration.reservations.support import World

EXTENDERS = 8
ROUNDS = 3


async def test_extensions_racing_each_other_leave_the_hold_running_as_long_as_the_reservation_says(
    world: World,
) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, ROUNDS)
    for _ in range(ROUNDS):
        reservation = await world.reserve(store, [(sku, 1)])
        answers = await asyncio.gather(
            *(
                world.extend(reservation.reservation_id, timedelta(minutes=minutes))
                for minutes in range(1, EXTENDERS + 1)
            )
        )

        told = max(answer.expires_at.ToDatetime() for answer in answers)
        current = await world.get(reservation.reservation_id)
        hold = await world.hold(reservation.hold_id)
        assert current.status == pb.RESERVATION_STATUS_ACTIVE
        # No caller was told a time the hold does not keep the unit to, and the reservation says
        # what the hold does.
        assert hold.expires_at.ToDatetime() >= told
        assert current.expires_at == hold.expires_at
        assert current.expires_at.ToDatetime() >= reservation.expires_at.ToDatetime() + timedelta(minutes=EXTENDERS)
