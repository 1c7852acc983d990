"""Pick, pack and ship against the real inventory: what leaves is sold, what is missing is corrected."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_fulfilment.adapters.inventory_client import InventoryClient
from omnistock_fulfilment.adapters.reservations_client import ReservationsClient
from omnistock_fulfilment.domain.task import Task
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_fulfilment.service_layer.work import TaskWork
from omnistock_platform.db import Database
from omnistock_platform.errors import NotFound
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.client import ServiceToken, open_channel
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.resuming import Resumer, resume
from omnistock_platform.settings import Settings
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id

from .support import Events, Shelf, allocation, one_task, order_changed, payload_task, request_id


async def allocated_task(events: Events, db: Database, location: str, lines: dict[str, int], hold_id: str) -> str:
    order = order_changed(allocation(location, lines, hold_id=hold_id))
    await events.order("allocated", order)
    row = await one_task(db, order_id=order.order.order_id)
    return str(row["task_id"])


async def test_pick_pack_ship_sells_exactly_the_held_units(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, tap: EventTap
) -> None:
    location, sku = await shelf.location(), await shelf.sku()
    await shelf.receive(location, sku, 5)
    hold_id = await shelf.hold([(location, sku, 2)])
    task_id = await allocated_task(events, db, location, {sku: 2}, hold_id)

    started = (await fulfilment.StartPicking(fpb.StartPickingRequest(request_id=request_id(), task_id=task_id))).task
    assert started.status == fpb.TASK_STATUS_PICKING
    picked = await fulfilment.ConfirmPick(fpb.ConfirmPickRequest(request_id=request_id(), task_id=task_id))
    assert picked.task.status == fpb.TASK_STATUS_PICKED and list(picked.short) == []
    assert [(line.sku, line.picked) for line in picked.task.lines] == [(sku, 2)]
    await fulfilment.Pack(fpb.PackRequest(request_id=request_id(), task_id=task_id))
    assert await shelf.level(location, sku) == (5, 2)  # nothing sold before it leaves

    ship = fpb.ShipRequest(request_id=request_id(), task_id=task_id, carrier="DHL", tracking_number="JJD000123")
    shipped = (await fulfilment.Ship(ship)).task
    assert (shipped.status, shipped.carrier, shipped.tracking_number) == (fpb.TASK_STATUS_SHIPPED, "DHL", "JJD000123")
    assert await shelf.level(location, sku) == (3, 0)
    assert (await shelf.get_hold(hold_id)).state == ipb.HOLD_STATE_COMMITTED

    # A retry of the same request is answered again without selling twice.
    again = (await fulfilment.Ship(ship)).task
    assert again == shipped
    assert await shelf.level(location, sku) == (3, 0)
    _, payload = await tap.wait_for(
        lambda env, p: env.type == "fulfilment.task.shipped" and payload_task(p).task_id == task_id
    )
    assert payload_task(payload).status == fpb.TASK_STATUS_SHIPPED
    assert len([p for p in tap.of_type("fulfilment.task.shipped") if payload_task(p).task_id == task_id]) == 1


async def test_a_short_pick_gives_back_the_missing_units_and_corrects_the_shelf(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, tap: EventTap
) -> None:
    location, sku, other_sku = await shelf.location(), await shelf.sku(), await shelf.sku()
    await shelf.receive(location, sku, 2)
    await shelf.receive(location, other_sku, 1)
    hold_id = await shelf.hold([(location, sku, 2), (location, other_sku, 1)])
    task_id = await allocated_task(events, db, location, {sku: 2, other_sku: 1}, hold_id)
    await fulfilment.StartPicking(fpb.StartPickingRequest(request_id=request_id(), task_id=task_id))

    # The picker finds one of the two units; the other SKU is left out, so it was found in full.
    confirm = fpb.ConfirmPickRequest(
        request_id=request_id(), task_id=task_id, picked=[common_pb2.SkuQuantity(sku=sku, quantity=1)]
    )
    response = await fulfilment.ConfirmPick(confirm)
    assert [(s.sku, s.quantity) for s in response.short] == [(sku, 1)]
    assert response.task.status == fpb.TASK_STATUS_PICKED
    assert {line.sku: line.picked for line in response.task.lines} == {sku: 1, other_sku: 1}
    assert await shelf.level(location, sku) == (1, 1)  # one unit off the shelf and out of the hold
    assert await shelf.level(location, other_sku) == (1, 1)
    hold_line = next(line for line in (await shelf.get_hold(hold_id)).lines if line.sku == sku)
    assert (hold_line.released, hold_line.open) == (1, 1)

    _, payload = await tap.wait_for(
        lambda env, p: env.type == "fulfilment.task.short_picked" and payload_task(p).task_id == task_id
    )
    assert isinstance(payload, fpb.TaskChanged)
    assert [(s.sku, s.quantity) for s in payload.short] == [(sku, 1)]

    # The retry of the confirmation releases and writes off nothing more.
    assert (await fulfilment.ConfirmPick(confirm)) == response
    assert await shelf.level(location, sku) == (1, 1)

    await fulfilment.Pack(fpb.PackRequest(request_id=request_id(), task_id=task_id))
    await fulfilment.Ship(fpb.ShipRequest(request_id=request_id(), task_id=task_id, carrier="DHL"))
    assert await shelf.level(location, sku) == (0, 0)
    assert await shelf.level(location, other_sku) == (0, 0)
    movements = await shelf.inventory.ListMovements(ipb.ListMovementsRequest(location_id=location, sku=sku))
    kinds = [(m.kind, m.reason, m.on_hand_delta) for m in movements.movements if m.kind == ipb.MOVEMENT_KIND_ADJUSTMENT]
    assert len(kinds) == 1 and kinds[0][2] == -1


async def test_the_reason_of_a_short_pick_is_kept_in_the_ledger(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any
) -> None:
    location, sku = await shelf.location(), await shelf.sku()
    await shelf.receive(location, sku, 3)
    hold_id = await shelf.hold([(location, sku, 3)])
    task_id = await allocated_task(events, db, location, {sku: 3}, hold_id)
    found = [common_pb2.SkuQuantity(sku=sku, quantity=2)]

    # Too long a reason is refused with the field named, and nothing is picked or written off.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.ConfirmPick(
            fpb.ConfirmPickRequest(request_id=request_id(), task_id=task_id, picked=found, short_reason="x" * 201)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["short_reason"]
    assert await shelf.level(location, sku) == (3, 3)

    confirm = fpb.ConfirmPickRequest(request_id=request_id(), task_id=task_id, picked=found, short_reason="damaged")
    assert [(s.sku, s.quantity) for s in (await fulfilment.ConfirmPick(confirm)).short] == [(sku, 1)]
    movements = await shelf.inventory.ListMovements(ipb.ListMovementsRequest(location_id=location, sku=sku))
    (written_off,) = [m for m in movements.movements if m.kind == ipb.MOVEMENT_KIND_ADJUSTMENT]
    assert written_off.on_hand_delta == -1
    assert written_off.reason.endswith(f"short pick on task {task_id}: damaged")


async def test_a_pick_that_finds_nothing_withdraws_the_task(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any
) -> None:
    location, sku = await shelf.location(), await shelf.sku()
    await shelf.receive(location, sku, 1)
    hold_id = await shelf.hold([(location, sku, 1)])
    task_id = await allocated_task(events, db, location, {sku: 1}, hold_id)
    response = await fulfilment.ConfirmPick(
        fpb.ConfirmPickRequest(
            request_id=request_id(), task_id=task_id, picked=[common_pb2.SkuQuantity(sku=sku, quantity=0)]
        )
    )
    assert response.task.status == fpb.TASK_STATUS_WITHDRAWN
    assert await shelf.level(location, sku) == (0, 0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.Pack(fpb.PackRequest(request_id=request_id(), task_id=task_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_shipping_commits_only_this_locations_part_of_a_split_hold(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any
) -> None:
    here, there, sku = await shelf.location(), await shelf.location(), await shelf.sku()
    await shelf.receive(here, sku, 1)
    await shelf.receive(there, sku, 1)
    hold_id = await shelf.hold([(here, sku, 1), (there, sku, 1)])
    task_id = await allocated_task(events, db, here, {sku: 1}, hold_id)
    await fulfilment.ConfirmPick(fpb.ConfirmPickRequest(request_id=request_id(), task_id=task_id))
    await fulfilment.Pack(fpb.PackRequest(request_id=request_id(), task_id=task_id))
    await fulfilment.Ship(fpb.ShipRequest(request_id=request_id(), task_id=task_id))
    assert await shelf.level(here, sku) == (0, 0)
    assert await shelf.level(there, sku) == (1, 1)
    assert (await shelf.get_hold(hold_id)).state == ipb.HOLD_STATE_ACTIVE


async def test_steps_out_of_order_and_bad_picks_are_refused_clearly(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any
) -> None:
    location, sku = await shelf.location(), await shelf.sku()
    await shelf.receive(location, sku, 2)
    hold_id = await shelf.hold([(location, sku, 2)])
    task_id = await allocated_task(events, db, location, {sku: 2}, hold_id)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.Ship(fpb.ShipRequest(request_id=request_id(), task_id=task_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await shelf.level(location, sku) == (2, 2)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.ConfirmPick(
            fpb.ConfirmPickRequest(
                request_id=request_id(),
                task_id=task_id,
                picked=[
                    common_pb2.SkuQuantity(sku=sku, quantity=3),
                    common_pb2.SkuQuantity(sku="SKU-NOT-HERE", quantity=1),
                ],
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["picked[0]"]

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.StartPicking(fpb.StartPickingRequest(request_id="", task_id=""))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert {v.field for v in bad.field_violations} == {"request_id", "task_id"}

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.GetTask(fpb.GetTaskRequest(task_id=unique_id("T-")))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND

    reused = request_id()
    await fulfilment.StartPicking(fpb.StartPickingRequest(request_id=reused, task_id=task_id))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.Pack(fpb.PackRequest(request_id=reused, task_id=task_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_staff_only_see_and_work_the_tasks_of_their_own_locations(
    events: Events, db: Database, stack: Stack
) -> None:
    mine, theirs = unique_id("LOC-"), unique_id("LOC-")
    my_task = await allocated_task(events, db, mine, {"SKU-A": 1}, unique_id("HOLD-"))
    their_task = await allocated_task(events, db, theirs, {"SKU-A": 1}, unique_id("HOLD-"))
    picker = stack.stub("fulfilment", role="warehouse", locations=[mine])

    assert (await picker.GetTask(fpb.GetTaskRequest(task_id=my_task))).task.location_id == mine
    listed = (await picker.ListTasks(fpb.ListTasksRequest())).tasks
    assert {task.location_id for task in listed} == {mine}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await picker.GetTask(fpb.GetTaskRequest(task_id=their_task))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await picker.StartPicking(fpb.StartPickingRequest(request_id=request_id(), task_id=their_task))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await picker.ListTasks(fpb.ListTasksRequest(location_id=theirs))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await one_task(db, task_id=their_task))["status"] == "open"

    chat = stack.stub("fulfilment", role="chat_agent")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await chat.ListTasks(fpb.ListTasksRequest(location_id=mine))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    service = stack.stub("fulfilment", role="service")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.StartPicking(fpb.StartPickingRequest(request_id=request_id(), task_id=my_task))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.stub("fulfilment", token="not-a-token").ListTasks(fpb.ListTasksRequest(location_id=mine))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_tasks_are_listed_by_promise_page_by_page(
    events: Events, db: Database, fulfilment: Any, shelf: Shelf
) -> None:
    location = await shelf.location()  # one inventory has: a list of an unknown one is NOT_FOUND
    base = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    # Announced in an order different from their promises.
    for hours in (5, 1, 3, 2, 4):
        order = order_changed(allocation(location, {"SKU-A": 1}), placed_at=base + timedelta(hours=hours))
        await events.order("allocated", order)
        await one_task(db, order_id=order.order.order_id)

    seen: list[datetime] = []
    token = ""
    while True:
        page = await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=location, page_size=2, page_token=token))
        assert len(page.tasks) <= 2
        seen.extend(task.promise_at.ToDatetime(tzinfo=UTC) for task in page.tasks)
        token = page.next_page_token
        if not token:
            break
    assert seen == [base + timedelta(hours=h + 24) for h in (1, 2, 3, 4, 5)]

    opened = await fulfilment.ListTasks(
        fpb.ListTasksRequest(location_id=location, status=fpb.TASK_STATUS_SHIPPED, kind=fpb.TASK_KIND_PICK)
    )
    assert list(opened.tasks) == []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=location, page_token="garbage"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


class CrashAfterRemoteCall(TaskChanges):
    """Fails the task's own write once, as a crash right after inventory answered would."""

    def __init__(self, settings: Settings, event: str) -> None:
        super().__init__(Outbox(settings, "fulfilment"))
        self.event = event
        self.crashed = False

    async def changed(self, conn: Any, task: Task, event: str, short: Mapping[str, int] | None = None) -> Task:
        if event == self.event and not self.crashed:
            self.crashed = True
            raise ConnectionResetError("process died before its own write")
        return await super().changed(conn, task, event, short)


async def test_a_crash_between_the_commit_and_the_tasks_write_is_repaired_by_the_retry_without_selling_twice(
    events: Events, db: Database, shelf: Shelf, fulfilment: Any, stack: Stack
) -> None:
    location, sku = await shelf.location(), await shelf.sku()
    await shelf.receive(location, sku, 3)
    hold_id = await shelf.hold([(location, sku, 2)])
    task_id = await allocated_task(events, db, location, {sku: 2}, hold_id)
    await fulfilment.ConfirmPick(fpb.ConfirmPickRequest(request_id=request_id(), task_id=task_id))
    await fulfilment.Pack(fpb.PackRequest(request_id=request_id(), task_id=task_id))

    settings = stack.wired_settings()
    channel = open_channel(settings, "inventory", ServiceToken(settings, "fulfilment"))
    changes = CrashAfterRemoteCall(settings, "task.shipped")
    work = TaskWork(db, changes, IdempotencyStore("fulfilment"), InventoryClient(channel), ReservationsClient(channel))
    ship = fpb.ShipRequest(request_id=request_id(), task_id=task_id, carrier="UPS")
    with pytest.raises(ConnectionResetError):
        await work.ship(ship)
    assert await shelf.level(location, sku) == (1, 0)  # inventory sold the units...
    assert (await one_task(db, task_id=task_id))["status"] == "packed"  # ...but the task never heard

    assert (await work.ship(ship)).task.status == fpb.TASK_STATUS_SHIPPED
    assert await shelf.level(location, sku) == (1, 0)
    await channel.close()


async def test_a_shipment_cut_short_whose_caller_never_returns_is_finished_by_the_service(
    events: Events, db: Database, shelf: Shelf, stack: Stack
) -> None:
    """The handheld lost its network for good after inventory sold the units: the service's
    resumer finishes the shipment from the stored request, and a late retry gets that answer."""
    location, sku = await shelf.location(), await shelf.sku()
    await shelf.receive(location, sku, 3)
    hold_id = await shelf.hold([(location, sku, 2)])
    task_id = await allocated_task(events, db, location, {sku: 2}, hold_id)
    settings = stack.wired_settings(resume_after=timedelta(0))
    channel = open_channel(settings, "inventory", ServiceToken(settings, "fulfilment"))
    store = IdempotencyStore("fulfilment")
    work = TaskWork(
        db, CrashAfterRemoteCall(settings, "task.shipped"), store, InventoryClient(channel), ReservationsClient(channel)
    )
    await work.confirm_pick(fpb.ConfirmPickRequest(request_id=request_id(), task_id=task_id))
    await work.pack(fpb.PackRequest(request_id=request_id(), task_id=task_id))
    ship = fpb.ShipRequest(request_id=request_id(), task_id=task_id, carrier="UPS", tracking_number="1Z999")
    with pytest.raises(ConnectionResetError):
        await work.ship(ship)
    assert (await one_task(db, task_id=task_id))["status"] == "packed"

    resumer = Resumer("fulfilment", settings, db, store, {"Ship": resume(fpb.ShipRequest, work.ship)})
    assert await resumer.run_once() >= 1
    task = await one_task(db, task_id=task_id)
    assert (task["status"], task["carrier"]) == ("shipped", "UPS")
    assert await shelf.level(location, sku) == (1, 0)  # sold once
    assert [change.request_id for change in await store.unfinished(db, timedelta(0))] == []
    assert (await work.ship(ship)).task.status == fpb.TASK_STATUS_SHIPPED
    await channel.close()


async def test_a_refused_change_leaves_nothing_for_the_resumer(events: Events, db: Database, stack: Stack) -> None:
    store = IdempotencyStore("fulfilment")
    settings = stack.wired_settings(resume_after=timedelta(0))
    channel = open_channel(settings, "inventory", ServiceToken(settings, "fulfilment"))
    work = TaskWork(
        db,
        TaskChanges(Outbox(settings, "fulfilment")),
        store,
        InventoryClient(channel),
        ReservationsClient(channel),
    )
    ship = fpb.ShipRequest(request_id=request_id(), task_id=unique_id("TASK-"), carrier="UPS")
    with pytest.raises(NotFound):
        await work.ship(ship)
    assert ship.request_id not in [change.request_id for change in await store.unfinished(db, timedelta(0))]
    await channel.close()


async def test_tasks_at_an_unknown_location_are_not_found_and_at_an_idle_one_none(
    fulfilment: Any, shelf: Shelf, stack: Stack
) -> None:
    """A mistyped location must not read as "no work there"."""
    idle, nowhere = await shelf.location(), unique_id("NOWHERE-")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=nowhere))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    (resource,) = details_of(refused.value, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name, resource.description) == (
        "location",
        nowhere,
        "location_id",
    )
    assert list((await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=idle))).tasks) == []
    picker = stack.stub("fulfilment", role="warehouse", locations=[idle])
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await picker.ListTasks(fpb.ListTasksRequest(location_id=nowhere))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
