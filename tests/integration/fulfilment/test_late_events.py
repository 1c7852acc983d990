"""An order's events handled late: a retry waits while the events behind it go ahead, and copies of
the service share the events, so fulfilment can hear an older state of an order after a newer one.
Tasks are made and changed as the newest state says, and an edit heard after the units it added were
given back by a later change asks inventory for nothing it no longer has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2
from omnistock_fulfilment.adapters.inventory_client import InventoryClient
from omnistock_fulfilment.entrypoints.handlers import EventHandlers
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_fulfilment.service_layer.intake import TaskIntake
from omnistock_platform.db import Database
from omnistock_platform.errors import Unavailable
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.client import service_channel
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import Crash
from tests.integration.orders.test_cut_short import CrashingInventory

from .support import ORDERS_CONSUMER, Events, Shelf, allocation, one_task, payload_task, request_id, tasks_of

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def state(
    order_id: str,
    version: int,
    *allocations: orders_pb2.Allocation,
    previous: orders_pb2.OrderChanged | None = None,
    new: tuple[orders_pb2.Allocation, ...] = (),
) -> orders_pb2.OrderChanged:
    """The order as its `version`-th change left it (updated_at orders them), with `previous`'s order
    as it was before (an edit's event says both)."""
    order = orders_pb2.Order(order_id=order_id, method=common_pb2.FULFILMENT_METHOD_SHIP)
    order.created_at.FromDatetime(T0)
    order.updated_at.FromDatetime(T0 + timedelta(minutes=version))
    order.allocations.extend(allocations)
    event = orders_pb2.OrderChanged(order=order, new_allocations=new)
    if previous is not None:
        event.previous.CopyFrom(previous.order)
    return event


def resized(held: orders_pb2.Allocation, lines: dict[str, int]) -> orders_pb2.Allocation:
    changed = orders_pb2.Allocation()
    changed.CopyFrom(held)
    del changed.lines[:]
    for sku, quantity in lines.items():
        changed.lines.add(sku=sku, quantity=quantity)
    return changed


def cancelled(held: orders_pb2.Allocation) -> orders_pb2.Allocation:
    changed = orders_pb2.Allocation()
    changed.CopyFrom(held)
    changed.status = orders_pb2.ALLOCATION_STATUS_CANCELLED
    return changed


@pytest.fixture(autouse=True)
def running(stack: Stack) -> Stack:
    """Fulfilment and inventory run for every test here (the events are published by the test)."""
    return stack


def dead_lettered(tap: EventTap, event_id: str) -> list[str]:
    return [
        subject
        for subject, (envelope, _) in zip(tap.subjects, tap.events, strict=True)
        if ".deadletter." in subject and envelope.event_id == event_id
    ]


async def test_an_edit_heard_after_a_newer_one_leaves_the_task_as_the_newer_says(events: Events, db: Database) -> None:
    order_id, location = unique_id("ORD-"), unique_id("LOC-")
    placed = allocation(location, {"SKU-A": 2})
    await events.order("allocated", state(order_id, 1, placed, new=(placed,)))
    task = await one_task(db, order_id=order_id)

    grown = state(order_id, 2, resized(placed, {"SKU-A": 4}), previous=state(order_id, 1, placed))
    shrunk = state(order_id, 3, resized(placed, {"SKU-A": 1}), previous=grown)
    await events.order("edited", shrunk)
    late = await events.order("edited", grown)  # its first try failed, and the next edit went ahead
    await events.handled(ORDERS_CONSUMER, late)

    (row,) = await tasks_of(db, task_id=task["task_id"])
    assert [(line["sku"], line["quantity"]) for line in row["lines"]] == [("SKU-A", 1)]


async def test_an_allocation_heard_after_the_edit_that_emptied_it_makes_no_task(events: Events, db: Database) -> None:
    order_id, location = unique_id("ORD-"), unique_id("LOC-")
    placed = allocation(location, {"SKU-A": 2})
    allocated = state(order_id, 1, placed, new=(placed,))
    emptied = await events.order("edited", state(order_id, 2, cancelled(placed), previous=allocated))
    late = await events.order("allocated", allocated)
    await events.handled(ORDERS_CONSUMER, late)
    assert emptied.seq < late.seq
    assert await tasks_of(db, order_id=order_id) == []  # nothing is held for it: nothing to fetch


async def test_an_allocation_heard_after_its_edit_is_fetched_as_edited(events: Events, db: Database) -> None:
    order_id, location = unique_id("ORD-"), unique_id("LOC-")
    placed = allocation(location, {"SKU-A": 2})
    allocated = state(order_id, 1, placed, new=(placed,))
    await events.order("edited", state(order_id, 2, resized(placed, {"SKU-A": 3, "SKU-B": 1}), previous=allocated))
    await events.order("allocated", allocated)

    row = await one_task(db, order_id=order_id)
    assert [(line["sku"], line["quantity"]) for line in row["lines"]] == [("SKU-A", 3), ("SKU-B", 1)]


async def picked_task(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, held: int
) -> tuple[str, str, str, str, orders_pb2.Allocation]:
    """A task of one unit whose pick is confirmed, on a hold of `held` units (more than one: an edit
    grew the hold after the pick, as orders does when it has not heard of the pick yet)."""
    location, sku = await shelf.location(), await shelf.sku()
    await shelf.receive(location, sku, 6)
    hold_id = await shelf.hold([(location, sku, held)])
    order_id = unique_id("ORD-")
    placed = allocation(location, {sku: 1}, hold_id=hold_id)
    await events.order("allocated", state(order_id, 1, placed, new=(placed,)))
    task_id = str((await one_task(db, order_id=order_id))["task_id"])
    await fulfilment.ConfirmPick(fpb.ConfirmPickRequest(request_id=request_id(), task_id=task_id))
    return location, sku, hold_id, order_id, placed


def grown_after_pick(order_id: str, placed: orders_pb2.Allocation, sku: str) -> orders_pb2.OrderChanged:
    """The edit that grew the picked task's one unit to five (its event: the order's second change)."""
    return state(order_id, 2, resized(placed, {sku: 5}), previous=state(order_id, 1, placed))


async def test_units_an_edit_added_after_the_pick_are_given_back_and_announced_short(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, tap: EventTap
) -> None:
    location, sku, hold_id, order_id, placed = await picked_task(events, db, shelf, fulfilment, held=5)
    grown = grown_after_pick(order_id, placed, sku)
    handled = await events.order("edited", grown)
    await events.handled(ORDERS_CONSUMER, handled)

    _, payload = await tap.wait_for(
        lambda env, p: env.type == "fulfilment.task.short_picked" and payload_task(p).order_id == order_id
    )
    assert [(line.sku, line.quantity) for line in payload.short] == [(sku, 4)]
    assert [(line.sku, line.quantity, line.picked) for line in payload_task(payload).lines] == [(sku, 5, 1)]
    (line,) = (await shelf.get_hold(hold_id)).lines
    assert (line.open, line.released) == (1, 4)  # the picked unit stays held for the parcel
    assert await shelf.level(location, sku) == (6, 1)


async def test_an_edit_after_the_pick_heard_once_a_later_edit_gave_the_units_back_asks_for_nothing(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, tap: EventTap
) -> None:
    # Orders grew the hold to 5 and a later edit shrank it back to 1 before fulfilment heard the first.
    location, sku, hold_id, order_id, placed = await picked_task(events, db, shelf, fulfilment, held=1)
    grown = grown_after_pick(order_id, placed, sku)
    first = await events.order("edited", grown)
    await events.handled(ORDERS_CONSUMER, first)
    shrunk = await events.order("edited", state(order_id, 3, placed, previous=grown))
    await events.handled(ORDERS_CONSUMER, shrunk)

    assert dead_lettered(tap, first.envelope.event_id) == []
    (row,) = await tasks_of(db, order_id=order_id)
    assert (row["status"], [(line["sku"], line["quantity"], line["picked"]) for line in row["lines"]]) == (
        "picked",
        [(sku, 1, 1)],
    )
    assert [p for p in tap.of_type("fulfilment.task.short_picked") if payload_task(p).order_id == order_id] == []
    (line,) = (await shelf.get_hold(hold_id)).lines
    assert (line.open, line.released) == (1, 0)
    assert await shelf.level(location, sku) == (6, 1)


async def test_an_edit_after_the_pick_heard_once_the_order_was_cancelled_is_handled(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, tap: EventTap
) -> None:
    location, sku, hold_id, order_id, placed = await picked_task(events, db, shelf, fulfilment, held=5)
    # The cancellation gave everything back before the edit was heard.
    await shelf.inventory.ReleaseHold(ipb.ReleaseHoldRequest(request_id=request_id(), hold_id=hold_id))
    grown = grown_after_pick(order_id, placed, sku)
    late = await events.order("edited", grown)
    await events.handled(ORDERS_CONSUMER, late)

    assert dead_lettered(tap, late.envelope.event_id) == []
    assert [p for p in tap.of_type("fulfilment.task.short_picked") if payload_task(p).order_id == order_id] == []
    assert await shelf.level(location, sku) == (6, 0)


async def test_a_cancellation_keeps_the_task_of_an_allocation_that_left(events: Events, db: Database) -> None:
    # Inventory sold the parcel of `shipped` and fulfilment crashed before it recorded the shipment;
    # the customer then cancelled the rest. The shipment is still to be finished here.
    order_id, location, other = unique_id("ORD-"), unique_id("LOC-"), unique_id("LOC-")
    shipped, rest = allocation(location, {"SKU-A": 1}), allocation(other, {"SKU-B": 1})
    await events.order("allocated", state(order_id, 1, shipped, rest, new=(shipped, rest)))
    await one_task(db, allocation_id=shipped.allocation_id)
    await one_task(db, allocation_id=rest.allocation_id)

    left = orders_pb2.Allocation()
    left.CopyFrom(shipped)
    left.status = orders_pb2.ALLOCATION_STATUS_SHIPPED
    handled = await events.order("cancelled", state(order_id, 2, left, cancelled(rest)))
    await events.handled(ORDERS_CONSUMER, handled)

    (kept,) = await tasks_of(db, allocation_id=shipped.allocation_id)
    (withdrawn,) = await tasks_of(db, allocation_id=rest.allocation_id)
    assert (kept["status"], withdrawn["status"]) == ("open", "withdrawn")


async def test_an_allocation_heard_after_its_repromise_is_due_at_the_newer_promise(
    events: Events, db: Database
) -> None:
    """The order was re-promised (a re-route, a release) before fulfilment heard it allocated: the
    task is due when the customer is told now, not at the promise the older event carried."""
    order_id, location = unique_id("ORD-"), unique_id("LOC-")
    placed = allocation(location, {"SKU-A": 1})
    allocated = state(order_id, 1, placed, new=(placed,))
    moved = state(order_id, 2, placed)
    first, later = T0 + timedelta(days=1), T0 + timedelta(days=3)
    for event, at in ((allocated, first), (moved, later)):
        event.order.method = common_pb2.FULFILMENT_METHOD_PICKUP
        event.order.promise.at.FromDatetime(at)
    await events.order("repromised", moved)
    late = await events.order("allocated", allocated)
    await events.handled(ORDERS_CONSUMER, late)

    row = await one_task(db, order_id=order_id)
    assert row["promise_at"] == later


def fulfilment_intake(stack: Stack, db: Database, crash_at: str, *, after: bool) -> EventHandlers:
    """Fulfilment's event handling as a process of its own has it (inventory as the service calls
    it), dying at `crash_at`: right after inventory acted (`after`), or before it was asked."""
    settings = stack.wired_settings()
    inventory = InventoryClient(service_channel(settings, "fulfilment", "inventory"))
    crashing = CrashingInventory(inventory, crash_at, after=after)
    return EventHandlers(TaskIntake(TaskChanges(Outbox(settings, "fulfilment")), crashing, db))  # type: ignore[arg-type]


async def handled_once_cut_short(
    events: Events, db: Database, stack: Stack, payload: orders_pb2.OrderChanged, *, after: bool
) -> None:
    """An order.edited handled by a process that dies as inventory gives the units back (its
    transaction rolled back), then delivered again to the service."""
    envelope = new_envelope("orders.order.edited", payload, source="orders", request_id=unique_id())
    handlers = fulfilment_intake(stack, db, "release", after=after)
    with pytest.raises(Crash):
        async with db.transaction() as conn:
            await handlers.on_order(conn, envelope, payload)
    again = await events.publish(events.settings.subject("orders", "order", "edited"), envelope)
    await events.handled(ORDERS_CONSUMER, again)


@pytest.mark.parametrize("inventory_acted", [True, False], ids=["after-release", "before-release"])
async def test_units_an_edit_added_after_the_pick_are_announced_short_when_a_crash_cut_the_edit_short(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, tap: EventTap, stack: Stack, inventory_acted: bool
) -> None:
    location, sku, hold_id, order_id, placed = await picked_task(events, db, shelf, fulfilment, held=5)
    await handled_once_cut_short(events, db, stack, grown_after_pick(order_id, placed, sku), after=inventory_acted)

    _, payload = await tap.wait_for(
        lambda env, p: env.type == "fulfilment.task.short_picked" and payload_task(p).order_id == order_id
    )
    assert [(line.sku, line.quantity) for line in payload.short] == [(sku, 4)]
    assert [(line.sku, line.quantity, line.picked) for line in payload_task(payload).lines] == [(sku, 5, 1)]
    (line,) = (await shelf.get_hold(hold_id)).lines
    assert (line.open, line.released) == (1, 4)  # given back once
    assert await shelf.level(location, sku) == (6, 1)
    assert await db.fetchval("SELECT count(*) FROM fulfilment.edit_give_backs") == 0


async def test_an_edit_after_the_pick_cut_short_before_inventory_gave_back_announces_nothing_a_later_edit_gave_back(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, tap: EventTap, stack: Stack
) -> None:
    """The edit's first handling died before inventory gave the units back, and a later edit gave
    them back in the meantime (orders shrank the hold back to the picked unit) before fulfilment
    heard of it: the edit handled again gives nothing back and announces nothing short."""
    location, sku, hold_id, order_id, placed = await picked_task(events, db, shelf, fulfilment, held=2)
    grown = state(order_id, 2, resized(placed, {sku: 2}), previous=state(order_id, 1, placed))
    envelope = new_envelope("orders.order.edited", grown, source="orders", request_id=unique_id())
    with pytest.raises(Crash):
        async with db.transaction() as conn:
            await fulfilment_intake(stack, db, "release", after=False).on_order(conn, envelope, grown)
    shrunk = ipb.HoldLineChange(location_id=location, sku=sku, open=1, expected_open=2)
    await shelf.inventory.AdjustHold(
        ipb.AdjustHoldRequest(
            request_id=request_id(), adjustments=[ipb.HoldAdjustment(hold_id=hold_id, lines=[shrunk])], reason="edited"
        )
    )
    again = await events.publish(events.settings.subject("orders", "order", "edited"), envelope)
    await events.handled(ORDERS_CONSUMER, again)

    assert dead_lettered(tap, envelope.event_id) == []
    assert [p for p in tap.of_type("fulfilment.task.short_picked") if payload_task(p).order_id == order_id] == []
    (line,) = (await shelf.get_hold(hold_id)).lines
    assert line.open == 1  # the picked unit stays held for the parcel
    assert await shelf.level(location, sku) == (6, 1)


class ReleaseOnItsWay:
    """Inventory as fulfilment calls it, with a give-back's release still on its way: the first
    release sent is held back (its sender gave up waiting) and lands once the next try has read
    inventory's record of the request id, before that try reads the hold."""

    def __init__(self, inventory: InventoryClient) -> None:
        self._inventory = inventory
        self.sent: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.landed = False

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._inventory, name)
        if name == "release" and self.sent is None:

            async def held_back(*args: Any, **kwargs: Any) -> None:
                self.sent = (args, kwargs)
                raise Unavailable("inventory did not answer: DEADLINE_EXCEEDED")

            return held_back
        if name == "released_under" and self.sent is not None and not self.landed:

            async def then_lands(*args: Any, **kwargs: Any) -> Any:
                answer = await call(*args, **kwargs)
                assert self.sent is not None
                self.landed = True
                await self._inventory.release(*self.sent[0], **self.sent[1])
                return answer

            return then_lands
        return call


async def test_units_given_back_by_a_release_still_on_its_way_when_the_edit_is_handled_again_are_announced_short(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, tap: EventTap, stack: Stack
) -> None:
    """The edit's first handling asked inventory to give the units back and stopped waiting (the
    event is delivered again); its release arrives while the second handling looks for it. The
    units it gave back are announced short, once."""
    location, sku, hold_id, order_id, placed = await picked_task(events, db, shelf, fulfilment, held=5)
    grown = grown_after_pick(order_id, placed, sku)
    envelope = new_envelope("orders.order.edited", grown, source="orders", request_id=unique_id())
    settings = stack.wired_settings()
    inventory = ReleaseOnItsWay(InventoryClient(service_channel(settings, "fulfilment", "inventory")))
    handlers = EventHandlers(TaskIntake(TaskChanges(Outbox(settings, "fulfilment")), inventory, db))  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        async with db.transaction() as conn:
            await handlers.on_order(conn, envelope, grown)
    async with db.transaction() as conn:
        await handlers.on_order(conn, envelope, grown)

    assert inventory.landed
    _, payload = await tap.wait_for(
        lambda env, p: env.type == "fulfilment.task.short_picked" and payload_task(p).order_id == order_id
    )
    assert [(line.sku, line.quantity) for line in payload.short] == [(sku, 4)]
    (line,) = (await shelf.get_hold(hold_id)).lines
    assert (line.open, line.released) == (1, 4)  # given back once
    assert await shelf.level(location, sku) == (6, 1)
