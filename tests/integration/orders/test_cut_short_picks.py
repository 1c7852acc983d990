"""A short pick and its order's cancellation: the units the picker found missing are written off
even when the task was withdrawn before the pick was finished (a crash cut the pick short once
inventory had given the missing units back, or the confirmation came just after the withdrawal), or
when the order's hold ended under the pick."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_fulfilment.adapters.inventory_client import InventoryClient as FulfilmentInventory
from omnistock_fulfilment.adapters.reservations_client import ReservationsClient as FulfilmentReservations
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_fulfilment.service_layer.work import TaskWork
from omnistock_platform.db import Database
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.client import service_channel
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.owners import order_owner
from omnistock_platform.resuming import Resumer, resume
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, Crash, Shop, pick_task, ship_request
from tests.integration.orders.test_cut_short import CrashingInventory
from tests.integration.orders.test_races import paused

TIMEOUT = 15.0


def task_work(shop: Shop, db: Database, *, crash_at: str = "") -> TaskWork:
    """Fulfilment's work as a process of its own has it; dying at `crash_at` (before that call to
    inventory) when set."""
    settings = shop.stack.wired_settings()
    inventory = FulfilmentInventory(service_channel(settings, "fulfilment", "inventory"))
    reservations = FulfilmentReservations(service_channel(settings, "fulfilment", "reservations"))
    changes = TaskChanges(Outbox(settings, "fulfilment"))
    remote = CrashingInventory(inventory, crash_at, after=False) if crash_at else inventory
    return TaskWork(db, changes, IdempotencyStore("fulfilment"), remote, reservations)  # type: ignore[arg-type]


async def withdrawn(stack: Stack, task_id: str) -> fpb.Task:
    staff = stack.stub("fulfilment", role="admin")
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        task = (await staff.GetTask(fpb.GetTaskRequest(task_id=task_id))).task
        if task.status == fpb.TASK_STATUS_WITHDRAWN:
            return task
        assert asyncio.get_running_loop().time() < deadline, f"task {task_id} was never withdrawn: {task}"
        await asyncio.sleep(0.05)


async def picking(shop: Shop) -> tuple[str, str, pb.Order, fpb.Task]:
    """Two lamps ordered from a warehouse that counts two; staff start picking them."""
    warehouse, lamp = await shop.location(BERLIN, warehouse=True), await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 2)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 2)]))).order
    (allocation,) = order.allocations
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(staff, warehouse, allocation.allocation_id)
    await staff.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    return warehouse, lamp, order, task


def one_found(task: fpb.Task, sku: str) -> fpb.ConfirmPickRequest:
    return fpb.ConfirmPickRequest(
        request_id=unique_id(),
        task_id=task.task_id,
        picked=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
        short_reason="empty bin",
    )


async def cancel(shop: Shop, order: pb.Order) -> None:
    await shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id))


async def test_a_short_pick_cut_short_before_its_write_off_writes_it_off_after_the_cancellation(
    shop: Shop, db: Database
) -> None:
    """Inventory gave the missing lamp back from the hold, and fulfilment died before writing it off.
    The customer then cancels: the task is withdrawn. The Resumer's ConfirmPick cannot confirm a
    withdrawn task, but the lamp is still not on the shelf: it is written off all the same."""
    warehouse, lamp, order, task = await picking(shop)
    confirm = one_found(task, lamp)
    with shop.stack.acting_as("warehouse", locations=[warehouse]), pytest.raises(Crash):
        await task_work(shop, db, crash_at="write_off").confirm_pick(confirm)
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (2, 1)  # given back from the hold, still counted on the shelf

    await cancel(shop, order)
    await withdrawn(shop.stack, task.task_id)
    work = task_work(shop, db)
    settings = shop.stack.wired_settings(resume_after=timedelta(0))
    changes = {"ConfirmPick": resume(fpb.ConfirmPickRequest, work.confirm_pick)}
    resumer = Resumer("fulfilment", settings, db, work.idempotency, changes)
    assert await resumer.run_once() == 0  # refused: a withdrawn task is not picked
    unfinished = await work.idempotency.unfinished(db, timedelta(0))
    assert confirm.request_id not in {change.request_id for change in unfinished}  # and not tried again

    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (1, 0)  # the lamp nobody found is off the books


async def test_a_short_pick_confirmed_just_after_the_cancellation_writes_off_what_was_missing(
    shop: Shop, db: Database
) -> None:
    warehouse, lamp, order, task = await picking(shop)
    await cancel(shop, order)
    await withdrawn(shop.stack, task.task_id)
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    confirm = one_found(task, lamp)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await staff.ConfirmPick(confirm)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # the order is cancelled: nothing to pick
    assert "written off" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError):
        await staff.ConfirmPick(confirm)  # the handheld's retry writes nothing off twice
    again = fpb.ConfirmPickRequest(
        request_id=unique_id(), task_id=task.task_id, picked=[common_pb2.SkuQuantity(sku=lamp, quantity=0)]
    )
    with pytest.raises(grpc.aio.AioRpcError) as second:
        await staff.ConfirmPick(again)  # another report of the same pick: the first one counted
    assert second.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "request_id" not in (second.value.details() or ""), second.value.details()  # the task's state, not ours
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (1, 0)


async def test_a_short_pick_confirmed_once_the_order_is_cancelled_but_before_fulfilment_heard_writes_it_off(
    shop: Shop, db: Database
) -> None:
    """The customer cancels as the picker reports the lamp missing: orders released the hold, and
    fulfilment has not withdrawn the task yet (its consumer waits for the order's lock here). The pick
    is refused, the hold having ended, and the lamp that is not on the shelf is written off."""
    warehouse, lamp, order, task = await picking(shop)
    withdrawal = f"fulfilment:{order_owner(order.order_id)}"
    async with paused(db, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", withdrawal):
        await cancel(shop, order)
        staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await staff.ConfirmPick(one_found(task, lamp))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "written off" in (refused.value.details() or "")
        level = await shop.level(warehouse, lamp)
        assert (level.on_hand, level.held) == (1, 0)
    await withdrawn(shop.stack, task.task_id)
    with pytest.raises(grpc.aio.AioRpcError):
        await staff.ConfirmPick(one_found(task, lamp))  # reported again once withdrawn: written off once
    assert (await shop.level(warehouse, lamp)).on_hand == 1


async def test_a_pick_confirmed_in_full_after_the_cancellation_writes_nothing_off(shop: Shop, db: Database) -> None:
    warehouse, lamp, order, task = await picking(shop)
    await cancel(shop, order)
    await withdrawn(shop.stack, task.task_id)
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await staff.ConfirmPick(fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (2, 0)


async def test_a_new_report_of_a_short_pick_cut_short_after_its_release_finishes_the_first(
    shop: Shop, db: Database
) -> None:
    """Inventory gave the missing lamp back from the hold and fulfilment died before writing it off.
    The picker, whose handheld saw the failure, reports the pick again as a new report, finding none
    this time. The first report is finished (the lamp it found missing is written off, the task is
    short-picked as it said), and the new one is told the pick is already recorded, not that some
    request id of fulfilment's was used before."""
    warehouse, lamp, _order, task = await picking(shop)
    with shop.stack.acting_as("warehouse", locations=[warehouse]), pytest.raises(Crash):
        await task_work(shop, db, crash_at="write_off").confirm_pick(one_found(task, lamp))

    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    again = fpb.ConfirmPickRequest(
        request_id=unique_id(), task_id=task.task_id, picked=[common_pb2.SkuQuantity(sku=lamp, quantity=0)]
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await staff.ConfirmPick(again)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "request_id" not in (refused.value.details() or ""), refused.value.details()
    picked = (await staff.GetTask(fpb.GetTaskRequest(task_id=task.task_id))).task
    assert picked.status == fpb.TASK_STATUS_PICKED, picked
    assert [(line.sku, line.picked) for line in picked.lines] == [(lamp, 1)]  # as the first report said
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (1, 1)  # one lamp written off, the one found still held
    assert await task_work(shop, db).idempotency.unfinished(db, timedelta(0)) == []


async def test_a_short_pick_cut_short_after_its_release_is_finished_after_an_edit_removed_a_line_it_named(
    shop: Shop, db: Database
) -> None:
    """The picker reports one of two lamps and the mug found; inventory gives the missing lamp back
    and fulfilment dies. The customer then takes the mug off the order. The Resumer finishes the
    report on the task as it now is: the mug it named is no longer there to pick, but the lamp nobody
    found is written off and the task is picked with the one lamp (orders re-routes the other)."""
    warehouse, lamp, mug = await shop.location(BERLIN, warehouse=True), await shop.sku("Lamp"), await shop.sku("Mug")
    await shop.receive(warehouse, lamp, 2)
    await shop.receive(warehouse, mug, 1)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 2), (mug, 1)]))).order
    (allocation,) = order.allocations
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(staff, warehouse, allocation.allocation_id)
    report = fpb.ConfirmPickRequest(
        request_id=unique_id(),
        task_id=task.task_id,
        picked=[common_pb2.SkuQuantity(sku=lamp, quantity=1), common_pb2.SkuQuantity(sku=mug, quantity=1)],
    )
    with shop.stack.acting_as("warehouse", locations=[warehouse]), pytest.raises(Crash):
        await task_work(shop, db, crash_at="write_off").confirm_pick(report)

    removal = pb.EditOrderRequest(
        request_id=unique_id(), order_id=order.order_id, lines=[pb.OrderLineEdit(sku=mug, quantity=0)], reason="no mug"
    )
    await shop.orders.EditOrder(removal)
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while mug in {line.sku for line in (await staff.GetTask(fpb.GetTaskRequest(task_id=task.task_id))).task.lines}:
        assert asyncio.get_running_loop().time() < deadline, "the task never lost the mug"
        await asyncio.sleep(0.05)

    work = task_work(shop, db)
    settings = shop.stack.wired_settings(resume_after=timedelta(0))
    changes = {"ConfirmPick": resume(fpb.ConfirmPickRequest, work.confirm_pick)}
    await Resumer("fulfilment", settings, db, work.idempotency, changes).run_once()
    unfinished = await work.idempotency.unfinished(db, timedelta(0))
    assert report.request_id not in {change.request_id for change in unfinished}  # finished, not refused

    picked = (await staff.GetTask(fpb.GetTaskRequest(task_id=task.task_id))).task
    assert picked.status == fpb.TASK_STATUS_PICKED, picked
    assert [(line.sku, line.picked) for line in picked.lines] == [(lamp, 1)]
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (1, 1)  # the lamp nobody found is off the books


async def test_a_write_off_after_the_cancellation_shortens_the_hold_that_took_the_units_meanwhile(
    shop: Shop, db: Database
) -> None:
    """Cut short before its write-off, the pick's order is cancelled and another customer orders both
    lamps the warehouse still counts. One of them is not on the shelf: when the Resumer writes it
    off, the other order's hold gives it back (it cannot hold a lamp that is not there), and that
    order learns it and looks elsewhere, instead of the write-off being refused and forgotten."""
    warehouse, lamp, order, task = await picking(shop)
    confirm = one_found(task, lamp)
    with shop.stack.acting_as("warehouse", locations=[warehouse]), pytest.raises(Crash):
        await task_work(shop, db, crash_at="write_off").confirm_pick(confirm)
    await cancel(shop, order)
    await withdrawn(shop.stack, task.task_id)
    other = (await shop.orders.CreateOrder(ship_request([(lamp, 2)]))).order
    assert (await shop.level(warehouse, lamp)).held == 2

    work = task_work(shop, db)
    settings = shop.stack.wired_settings(resume_after=timedelta(0))
    changes = {"ConfirmPick": resume(fpb.ConfirmPickRequest, work.confirm_pick)}
    await Resumer("fulfilment", settings, db, work.idempotency, changes).run_once()  # not picked: withdrawn

    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (1, 1)  # the lamp nobody found is off the books, and off the hold
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        told = await shop.order(other.order_id)
        here = sum(line.quantity for a in told.allocations if a.location_id == warehouse for line in a.lines)
        if here == 1:
            break
        assert asyncio.get_running_loop().time() < deadline, f"the other order never learnt of the missing lamp: {told}"
        await asyncio.sleep(0.05)
