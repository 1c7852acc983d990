"""A reservation's events handled late: a retry waits while the events behind it go ahead, and copies
of the service share the events, so fulfilment can hear a reservation as made after hearing it
shortened (units promised in transit did not arrive). Its task asks for what the newest event says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnistock.common.v1 import common_pb2
from omnistock.reservations.v1 import reservations_pb2
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import Stack, unique_id

from .support import RESERVATIONS_CONSUMER, Events, one_task, reservation_changed

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def running(stack: Stack) -> Stack:
    """Fulfilment and inventory run for every test here (the events are published by the test)."""
    return stack


def as_of(
    made: reservations_pb2.ReservationChanged, version: int, lines: dict[str, int]
) -> reservations_pb2.ReservationChanged:
    """The reservation as its `version`-th change left it (updated_at orders them), keeping `lines`."""
    changed = reservations_pb2.ReservationChanged()
    changed.CopyFrom(made)
    del changed.reservation.lines[:]
    changed.reservation.lines.extend(common_pb2.SkuQuantity(sku=sku, quantity=units) for sku, units in lines.items())
    changed.reservation.updated_at.FromDatetime(T0 + timedelta(minutes=version))
    return changed


def quantities(task: dict[str, object]) -> list[tuple[str, int]]:
    return [(line["sku"], line["quantity"]) for line in task["lines"]]  # type: ignore[attr-defined,index]


async def test_a_reservation_heard_as_made_after_it_was_shortened_is_prepared_as_shortened(
    events: Events, db: Database
) -> None:
    made = reservation_changed(unique_id("STORE-"), {"SKU-A": 3, "SKU-B": 1})
    reservation_id = made.reservation.reservation_id
    await events.reservation("shorted", as_of(made, 2, {"SKU-A": 1, "SKU-B": 1}))
    late = await events.reservation("created", as_of(made, 1, {"SKU-A": 3, "SKU-B": 1}))
    await events.handled(RESERVATIONS_CONSUMER, late)

    task = await one_task(db, reservation_id=reservation_id)
    assert quantities(task) == [("SKU-A", 1), ("SKU-B", 1)]  # not the units that never arrived


async def test_a_shortening_heard_after_a_later_one_leaves_the_task_as_the_later_says(
    events: Events, db: Database
) -> None:
    made = reservation_changed(unique_id("STORE-"), {"SKU-A": 4})
    reservation_id = made.reservation.reservation_id
    await events.reservation("created", as_of(made, 1, {"SKU-A": 4}))
    await one_task(db, reservation_id=reservation_id)
    await events.reservation("shorted", as_of(made, 3, {"SKU-A": 1}))
    late = await events.reservation("shorted", as_of(made, 2, {"SKU-A": 3}))
    await events.handled(RESERVATIONS_CONSUMER, late)

    task = await one_task(db, reservation_id=reservation_id)
    assert quantities(task) == [("SKU-A", 1)]


async def test_events_without_a_version_are_prepared_as_they_say(events: Events, db: Database) -> None:
    """An older reservations service sends no updated_at: its events are read as they come."""
    made = reservation_changed(unique_id("STORE-"), {"SKU-A": 4})
    reservation_id = made.reservation.reservation_id
    await events.reservation("created", made)
    await one_task(db, reservation_id=reservation_id)
    shorted = reservations_pb2.ReservationChanged()
    shorted.CopyFrom(made)
    shorted.reservation.lines[0].quantity = 2
    done = await events.reservation("shorted", shorted)
    await events.handled(RESERVATIONS_CONSUMER, done)

    task = await one_task(db, reservation_id=reservation_id)
    assert quantities(task) == [("SKU-A", 2)]
