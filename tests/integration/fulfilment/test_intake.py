"""Tasks appear from orders' and reservations' events, once, whatever the bus does with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock_platform.db import Database
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import unique_id

from .support import (
    ORDERS_CONSUMER,
    RESERVATIONS_CONSUMER,
    Events,
    allocation,
    created_events,
    eventually,
    one_task,
    order_changed,
    reservation_changed,
    tasks_of,
)


async def test_an_allocation_becomes_a_pick_task_at_its_location(events: Events, fulfilment: Any, db: Database) -> None:
    location, other = unique_id("LOC-"), unique_id("LOC-")
    placed = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    here, there = allocation(location, {"SKU-A": 2, "SKU-B": 1}), allocation(other, {"SKU-C": 1})
    order = order_changed(here, there, placed_at=placed)
    await events.order("allocated", order)

    row = await one_task(db, allocation_id=here.allocation_id)
    task = (await fulfilment.GetTask(fpb.GetTaskRequest(task_id=row["task_id"]))).task
    assert task.kind == fpb.TASK_KIND_PICK
    assert task.status == fpb.TASK_STATUS_OPEN
    assert (task.location_id, task.order_id, task.hold_id) == (location, order.order.order_id, here.hold_id)
    assert [(line.sku, line.quantity, line.picked) for line in task.lines] == [("SKU-A", 2, 0), ("SKU-B", 1, 0)]
    assert task.method == common_pb2.FULFILMENT_METHOD_SHIP
    assert task.promise_at.ToDatetime(tzinfo=UTC) == placed + timedelta(hours=24)
    listed = (await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=other))).tasks
    assert [t.allocation_id for t in listed] == [there.allocation_id]


async def test_the_same_event_delivered_twice_makes_one_task(events: Events, db: Database) -> None:
    location = unique_id("LOC-")
    alloc = allocation(location, {"SKU-A": 1})
    first = await events.order("allocated", order_changed(alloc))
    # The same envelope again under a new Nats-Msg-Id: JetStream stores it a second time.
    again = await events.publish(
        events.settings.subject("orders", "order", "allocated"), first.envelope, msg_id=unique_id()
    )
    assert again.seq > first.seq
    await events.handled(ORDERS_CONSUMER, again)

    (row,) = await tasks_of(db, allocation_id=alloc.allocation_id)
    assert await created_events(db, row["task_id"]) == 1


async def test_an_allocation_announced_again_in_a_new_event_makes_no_second_task(events: Events, db: Database) -> None:
    location = unique_id("LOC-")
    alloc = allocation(location, {"SKU-A": 1})
    order = order_changed(alloc)
    await events.order("allocated", order)
    # A different event (new event id) naming the same allocation, as a re-route might.
    again = await events.order("rerouted", order)
    await events.handled(ORDERS_CONSUMER, again)

    (row,) = await tasks_of(db, allocation_id=alloc.allocation_id)
    assert await created_events(db, row["task_id"]) == 1


async def test_a_reroute_adds_tasks_for_the_new_allocations_only(events: Events, db: Database) -> None:
    first_location, second_location = unique_id("LOC-"), unique_id("LOC-")
    original = allocation(first_location, {"SKU-A": 2})
    order_id = unique_id("ORD-")
    await events.order("allocated", order_changed(original, order_id=order_id))
    replacement = allocation(second_location, {"SKU-A": 1})
    rerouted = await events.order("rerouted", order_changed(replacement, order_id=order_id))
    await events.handled(ORDERS_CONSUMER, rerouted)

    rows = await tasks_of(db, order_id=order_id)
    assert sorted((row["location_id"], row["allocation_id"]) for row in rows) == sorted(
        [(first_location, original.allocation_id), (second_location, replacement.allocation_id)]
    )


async def test_a_cancelled_order_withdraws_its_open_tasks(events: Events, db: Database, tap: EventTap) -> None:
    order = order_changed(allocation(unique_id("LOC-"), {"SKU-A": 1}), allocation(unique_id("LOC-"), {"SKU-B": 1}))
    order_id = order.order.order_id
    await events.order("allocated", order)
    await eventually_tasks(db, order_id, 2)
    cancelled = await events.order("cancelled", order_changed(order_id=order_id))
    await events.handled(ORDERS_CONSUMER, cancelled)

    rows = await tasks_of(db, order_id=order_id)
    assert {row["status"] for row in rows} == {"withdrawn"}
    withdrawn = await tap.wait_for(
        lambda env, payload: env.type == "fulfilment.task.withdrawn" and payload.task.order_id == order_id  # type: ignore[attr-defined]
    )
    assert withdrawn[1].task.status == fpb.TASK_STATUS_WITHDRAWN  # type: ignore[attr-defined]


async def test_a_cancellation_that_overtakes_the_allocation_wins(events: Events, db: Database) -> None:
    order = order_changed(allocation(unique_id("LOC-"), {"SKU-A": 1}))
    cancelled_first = order_changed(order_id=order.order.order_id)
    await events.order("cancelled", cancelled_first)
    late = await events.order("allocated", order)
    await events.handled(ORDERS_CONSUMER, late)

    assert await tasks_of(db, order_id=order.order.order_id) == []


async def test_a_carry_out_sale_needs_no_task(events: Events, db: Database) -> None:
    order = order_changed(allocation(unique_id("LOC-"), {"SKU-A": 1}), method=common_pb2.FULFILMENT_METHOD_CARRY_OUT)
    published = await events.order("allocated", order)
    await events.handled(ORDERS_CONSUMER, published)
    assert await tasks_of(db, order_id=order.order.order_id) == []


async def test_a_reservation_becomes_a_preparation_task_at_its_store(
    events: Events, fulfilment: Any, db: Database
) -> None:
    store = unique_id("LOC-")
    created = datetime.now(UTC).replace(microsecond=0)
    reservation = reservation_changed(store, {"SKU-SOFA-GREEN": 1}, created_at=created, expires_in=timedelta(hours=2))
    await events.reservation("created", reservation)

    row = await one_task(db, reservation_id=reservation.reservation.reservation_id)
    assert row["pickup_code"] == reservation.reservation.pickup_code
    task = (await fulfilment.GetTask(fpb.GetTaskRequest(task_id=row["task_id"]))).task
    assert task.kind == fpb.TASK_KIND_PICKUP_PREPARATION
    assert (task.location_id, task.hold_id) == (store, reservation.reservation.hold_id)
    assert [(line.sku, line.quantity) for line in task.lines] == [("SKU-SOFA-GREEN", 1)]
    # Due when the items should be at the desk, and never after the reservation runs out.
    assert task.promise_at.ToDatetime(tzinfo=UTC) == created + timedelta(hours=2)


async def test_a_closed_reservation_withdraws_its_preparation(events: Events, db: Database) -> None:
    for event in ("cancelled", "expired", "converted"):
        reservation = reservation_changed(unique_id("LOC-"), {"SKU-A": 1})
        await events.reservation("created", reservation)
        await one_task(db, reservation_id=reservation.reservation.reservation_id)
        closed = await events.reservation(event, reservation)
        await events.handled(RESERVATIONS_CONSUMER, closed)
        (row,) = await tasks_of(db, reservation_id=reservation.reservation.reservation_id)
        assert (row["status"], row["withdrawn_reason"]) == ("withdrawn", f"reservation {event}"), event


async def test_an_expiry_that_overtakes_the_creation_leaves_no_task(events: Events, db: Database) -> None:
    reservation = reservation_changed(unique_id("LOC-"), {"SKU-A": 1})
    await events.reservation("expired", reservation)
    late = await events.reservation("created", reservation)
    await events.handled(RESERVATIONS_CONSUMER, late)
    assert await tasks_of(db, reservation_id=reservation.reservation.reservation_id) == []


async def test_a_reservation_collected_at_the_till_completes_its_preparation(events: Events, db: Database) -> None:
    reservation = reservation_changed(unique_id("LOC-"), {"SKU-A": 1})
    await events.reservation("created", reservation)
    await one_task(db, reservation_id=reservation.reservation.reservation_id)
    collected = await events.reservation("collected", reservation)
    await events.handled(RESERVATIONS_CONSUMER, collected)
    (row,) = await tasks_of(db, reservation_id=reservation.reservation.reservation_id)
    assert row["status"] == "handed_over"


async def test_an_event_that_can_never_be_handled_is_dead_lettered_and_the_next_one_still_is(
    events: Events, db: Database
) -> None:
    broken = order_changed(allocation("", {"SKU-A": 1}))  # no location: there is nowhere to work
    await events.order("allocated", broken)
    fine = order_changed(allocation(unique_id("LOC-"), {"SKU-A": 1}))
    published = await events.order("allocated", fine)
    await events.handled(ORDERS_CONSUMER, published)
    assert await tasks_of(db, order_id=broken.order.order_id) == []
    assert len(await tasks_of(db, order_id=fine.order.order_id)) == 1


async def eventually_tasks(db: Database, order_id: str, count: int) -> None:
    async def enough() -> bool:
        return len(await tasks_of(db, order_id=order_id)) == count

    await eventually(enough, what=f"{count} tasks of {order_id}")


def _promised(order_or_reservation: Any, at: datetime, wording: str) -> None:
    order_or_reservation.promise.at.FromDatetime(at)
    order_or_reservation.promise.wording = wording


async def test_a_pick_task_is_due_when_the_customer_was_promised_and_moves_with_the_promise(
    events: Events, fulfilment: Any, db: Database, tap: EventTap
) -> None:
    placed = datetime(2026, 12, 7, 10, 46, tzinfo=UTC)
    ready = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    here = allocation(unique_id("LOC-"), {"SKU-A": 1})
    order = order_changed(here, placed_at=placed, method=common_pb2.FULFILMENT_METHOD_PICKUP)
    _promised(order.order, ready, "ready for pickup Tuesday 8 Dec from 14:00")
    await events.order("allocated", order)

    row = await one_task(db, allocation_id=here.allocation_id)
    task = (await fulfilment.GetTask(fpb.GetTaskRequest(task_id=row["task_id"]))).task
    # Not "placed + 2 hours": when the customer was told to come.
    assert task.promise_at.ToDatetime(tzinfo=UTC) == ready

    later = datetime(2026, 12, 11, 10, 0, tzinfo=UTC)
    moved = order_changed(order_id=order.order.order_id, placed_at=placed, method=common_pb2.FULFILMENT_METHOD_PICKUP)
    moved.order.allocations.append(here)
    _promised(moved.order, later, "ready for pickup Friday 11 Dec from 10:00")
    repromised = await events.order("repromised", moved)
    await events.handled(ORDERS_CONSUMER, repromised)
    task = (await fulfilment.GetTask(fpb.GetTaskRequest(task_id=row["task_id"]))).task
    assert task.promise_at.ToDatetime(tzinfo=UTC) == later
    _, changed = await tap.wait_for(
        lambda env, payload: env.type == "fulfilment.task.repromised" and payload.task.task_id == row["task_id"]  # type: ignore[attr-defined]
    )
    assert changed.task.promise_at.ToDatetime(tzinfo=UTC) == later  # type: ignore[attr-defined]


async def test_a_parcel_is_due_to_leave_before_its_delivery_day(events: Events, db: Database) -> None:
    """A delivery promise says the day it arrives, not when it leaves: the ship task keeps its
    dispatch time (a day after the order), and moves only to an earlier promised day."""
    placed = datetime(2026, 12, 7, 10, 46, tzinfo=UTC)
    here = allocation(unique_id("LOC-"), {"SKU-A": 1})
    order = order_changed(here, placed_at=placed)
    _promised(order.order, datetime(2026, 12, 9, tzinfo=UTC), "delivered Wednesday 9 Dec")
    await events.order("allocated", order)
    row = await one_task(db, allocation_id=here.allocation_id)
    assert row["promise_at"] == placed + timedelta(hours=24)

    later = order_changed(order_id=order.order.order_id, placed_at=placed)
    later.order.allocations.append(here)
    _promised(later.order, datetime(2026, 12, 11, tzinfo=UTC), "delivered Friday 11 Dec")
    handled = await events.order("repromised", later)
    await events.handled(ORDERS_CONSUMER, handled)
    (row,) = await tasks_of(db, allocation_id=here.allocation_id)
    assert row["promise_at"] == placed + timedelta(hours=24)  # still leaves tomorrow


async def test_an_order_promised_nothing_keeps_the_fixed_lead_time(events: Events, db: Database) -> None:
    placed = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    here = allocation(unique_id("LOC-"), {"SKU-A": 1})
    order = order_changed(here, placed_at=placed, method=common_pb2.FULFILMENT_METHOD_PICKUP)
    await events.order("allocated", order)
    row = await one_task(db, allocation_id=here.allocation_id)
    assert row["promise_at"] == placed + timedelta(hours=2)


async def test_a_preparation_is_due_when_the_customer_was_told_and_moves_with_the_promise(
    events: Events, db: Database
) -> None:
    created = datetime.now(UTC).replace(microsecond=0)
    ready = created + timedelta(hours=20)
    reservation = reservation_changed(unique_id("LOC-"), {"SKU-A": 1}, created_at=created)
    _promised(reservation.reservation, ready, "ready for pickup at Mitte tomorrow from 10:00")
    await events.reservation("created", reservation)
    row = await one_task(db, reservation_id=reservation.reservation.reservation_id)
    assert row["promise_at"] == ready  # not "created + 4 hours"

    # Units on their way came a day late: the customer was told a new time.
    _promised(reservation.reservation, ready + timedelta(days=1), "ready for pickup at Mitte on Wednesday from 10:00")
    repromised = await events.reservation("repromised", reservation)
    await events.handled(RESERVATIONS_CONSUMER, repromised)
    (row,) = await tasks_of(db, reservation_id=reservation.reservation.reservation_id)
    assert row["promise_at"] == ready + timedelta(days=1)

    # Never due after the reservation runs out.
    _promised(reservation.reservation, created + timedelta(days=5), "ready for pickup at Mitte on Saturday from 10:00")
    repromised = await events.reservation("repromised", reservation)
    await events.handled(RESERVATIONS_CONSUMER, repromised)
    (row,) = await tasks_of(db, reservation_id=reservation.reservation.reservation_id)
    assert row["promise_at"] == reservation.reservation.expires_at.ToDatetime(tzinfo=UTC)
