"""A reservation's events carry its updated_at, later for each change, so a consumer that handles
them out of order (a retry waits while later events go ahead) can tell the newest."""

from __future__ import annotations

from datetime import timedelta

from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import unique_id
from tests.integration.reservations.support import World


def changes_of(tap: EventTap, reservation_id: str) -> list[tuple[str, pb.Reservation]]:
    return [
        (envelope.type, payload.reservation)
        for envelope, payload in tap.events
        if envelope.type.startswith("reservations.reservation.")
        and payload.reservation.reservation_id == reservation_id
    ]


async def test_each_event_of_a_reservation_carries_a_later_updated_at(world: World, tap: EventTap) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)], hold_for=timedelta(hours=1))
    await world.extend(reservation.reservation_id, timedelta(minutes=10))
    await world.extend(reservation.reservation_id, timedelta(minutes=10))
    await world.reservations.CancelReservation(
        pb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
    )
    await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "reservations.reservation.cancelled"
            and payload.reservation.reservation_id == reservation.reservation_id
        )
    )

    changes = changes_of(tap, reservation.reservation_id)
    assert [event for event, _ in changes] == [
        "reservations.reservation.created",
        "reservations.reservation.extended",
        "reservations.reservation.extended",
        "reservations.reservation.cancelled",
    ]
    versions = [changed.updated_at.ToDatetime() for _, changed in changes]
    assert all(changed.HasField("updated_at") for _, changed in changes)
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert (await world.get(reservation.reservation_id)).updated_at == changes[-1][1].updated_at
