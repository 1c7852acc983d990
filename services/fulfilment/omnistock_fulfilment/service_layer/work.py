"""What staff do with tasks: list them, pick, pack, ship, prepare pickups and hand them over.

Each change is idempotent by the caller's request id and runs in one transaction that holds the
task's row lock. Where inventory or reservations must act too, that call is made first, under a
request id derived from the task and the action, and the task changes only after it succeeded: a
crash in between rolls the task back, and the caller's retry repeats the remote call, which the
other service answers from its own idempotency store instead of acting twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import asyncpg
from google.protobuf.message import Message

from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock_fulfilment.adapters import repository
from omnistock_fulfilment.adapters.inventory_client import InventoryClient
from omnistock_fulfilment.adapters.messages import (
    KIND_FROM_PROTO,
    STATUS_FROM_PROTO,
    sku_quantities,
    task_message,
)
from omnistock_fulfilment.adapters.repository import Cursor
from omnistock_fulfilment.adapters.reservations_client import ReservationsClient
from omnistock_fulfilment.domain.order_holds import require_not_held
from omnistock_fulfilment.domain.task import (
    Action,
    InvalidPick,
    Task,
    TaskStatus,
    TransitionNotAllowed,
    confirm_pick,
    missing_after_withdrawal,
)
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_platform.auth import current_principal, require_location
from omnistock_platform.db import Database
from omnistock_platform.errors import (
    Aborted,
    FailedPrecondition,
    IdempotencyMismatch,
    InvalidArgument,
    NotFound,
    OmnistockError,
    PreconditionViolation,
    Reason,
)
from omnistock_platform.idempotency import TRANSIENT, Begun, IdempotencyStore, ResponseT, acting_for
from omnistock_platform.logging import get_logger
from omnistock_platform.paging import page_of, page_position, page_token
from omnistock_platform.validation import Validator

log = get_logger(__name__)

# What an action does beyond the status change: remote calls, then the task as it is to be saved,
# the event to announce, and the units found missing (for a short pick). Given whether the change
# was begun before and is being finished (a retry or the Resumer, after a crash).
Perform = Callable[[Task, bool], Awaitable[tuple[Task, str, Mapping[str, int]]]]
# Why a short pick found less: it goes into the write-off's note in inventory's ledger.
MAX_SHORT_REASON = 200


class EarlierReportUnfinished(Aborted):
    """A short pick's units were given back by another report of the same pick, which a crash cut
    short before the task was written (inventory keeps the release's request id for that report's
    quantities). Nothing was done; transient, so that this report stays begun until it is retried."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"another report of the pick of task {task_id} is being finished: try again", 1.0)


def derived_request_id(task_id: str, action: str, *parts: str) -> str:
    """The request id of a call made for a task's action: the same on every retry of that action."""
    suffix = f":{hashlib.sha256('/'.join(parts).encode()).hexdigest()[:16]}" if parts else ""
    return f"fulfilment:{task_id}:{action}{suffix}"


def order_changed(task: Task) -> FailedPrecondition:
    """Inventory no longer holds what the task lists: its order was edited a moment ago and the
    task's new lines are on their way (order.edited). Nothing was done; the list is refreshed."""
    return FailedPrecondition(
        f"the order of task {task.task_id} was just changed: reload the task and try again",
        [PreconditionViolation("TASK_LINES_CHANGED", task.task_id, "the order was edited")],
    )


def fitted(task: Task, found: Mapping[str, int]) -> dict[str, int]:
    """A pick report as it fits the task's lines now: a SKU the order no longer has here was found
    and is not picked; no more is picked of a line than it still asks for."""
    wanted = {line.sku: line.quantity for line in task.lines}
    return {sku: min(units, wanted[sku]) for sku, units in found.items() if sku in wanted}


def written_off_note(written: Mapping[str, int]) -> str:
    """What a refused pick tells staff of the units it wrote off; "" when none."""
    units = ", ".join(f"{sku}\u00d7{missing}" for sku, missing in sorted(written.items()))
    return f"the units found missing were written off: {units}" if units else ""


def encode_page_token(task: Task) -> str:
    assert task.created_at is not None
    return page_token(task.promise_at, task.created_at, last_id=task.task_id)


def decode_page_token(token: str) -> Cursor:
    (promise_at, created_at), task_id = page_position(token, moments=2)
    return promise_at, created_at, task_id


class TaskWork:
    def __init__(
        self,
        db: Database,
        changes: TaskChanges,
        idempotency: IdempotencyStore,
        inventory: InventoryClient,
        reservations: ReservationsClient,
    ) -> None:
        self.db = db
        self.changes = changes
        self.idempotency = idempotency
        self.inventory = inventory
        self.reservations = reservations

    # Reading.

    async def list_tasks(self, request: fulfilment_pb2.ListTasksRequest) -> fulfilment_pb2.ListTasksResponse:
        check = Validator()
        check.identifier("location_id", request.location_id, required=False)
        if request.status:
            check.enum("status", request.status, STATUS_FROM_PROTO)
        if request.kind:
            check.enum("kind", request.kind, KIND_FROM_PROTO)
        page_size = check.page_size("page_size", request.page_size)
        check.raise_if_invalid()
        after = decode_page_token(request.page_token) if request.page_token else None
        principal = current_principal()
        location_ids: frozenset[str] | None = None
        if request.location_id:
            require_location(request.location_id)
            location_ids = frozenset({request.location_id})
        elif principal.location_scoped:
            location_ids = principal.locations
        statuses = {STATUS_FROM_PROTO[request.status]} if request.status else set(TaskStatus)
        async with self.db.connection() as conn:
            tasks = await repository.page(
                conn,
                location_ids=location_ids,
                statuses=statuses,
                kind=KIND_FROM_PROTO[request.kind] if request.kind else None,
                after=after,
                limit=page_size + 1,
            )
        # Nothing to show: a location with no work, or one that does not exist (a mistyped id must
        # not read as "no work there"). Asked only then, so listing needs inventory no more.
        empty = not tasks and request.location_id and not request.page_token
        if empty and not await self.inventory.knows_location(request.location_id):
            raise NotFound("location", request.location_id, field="location_id")
        tasks, following = page_of(tasks, page_size, encode_page_token)
        return fulfilment_pb2.ListTasksResponse(tasks=[task_message(task) for task in tasks], next_page_token=following)

    async def get_task(self, request: fulfilment_pb2.GetTaskRequest) -> fulfilment_pb2.GetTaskResponse:
        check = Validator()
        check.identifier("task_id", request.task_id)
        check.raise_if_invalid()
        async with self.db.connection() as conn:
            task = await repository.get(conn, request.task_id)
        if task is None:
            raise NotFound("task", request.task_id, field="task_id")
        require_location(task.location_id, "task")
        return fulfilment_pb2.GetTaskResponse(task=task_message(task))

    # Picking, packing, shipping.

    async def start_picking(self, request: fulfilment_pb2.StartPickingRequest) -> fulfilment_pb2.StartPickingResponse:
        async def perform(task: Task, resumed: bool) -> tuple[Task, str, Mapping[str, int]]:
            return task.apply(Action.START_PICKING), "task.picking_started", {}

        return await self._act("StartPicking", request, request.task_id, fulfilment_pb2.StartPickingResponse, perform)

    async def confirm_pick(self, request: fulfilment_pb2.ConfirmPickRequest) -> fulfilment_pb2.ConfirmPickResponse:
        try:
            return await self._confirm_pick(request)
        except EarlierReportUnfinished:
            # Another report of this pick gave units back and was cut short before it was written: it
            # is finished first (as the Resumer would), then this report is taken on the task as it is.
            await self._finish_earlier_picks(request)
        try:
            return await self._confirm_pick(request)
        except EarlierReportUnfinished:
            # Refused for good: not left begun for the Resumer to refuse again.
            await self.idempotency.forget(self.db, request.request_id)
            raise FailedPrecondition(
                f"the pick of task {request.task_id} was reported before with other quantities, and"
                " inventory gave that report's missing units back: it cannot be reported differently now",
                [PreconditionViolation("PICK_REPORTED", request.task_id, "reported before with other quantities")],
                reason=Reason.INVALID_STATE,
            ) from None

    async def _finish_earlier_picks(self, request: fulfilment_pb2.ConfirmPickRequest) -> None:
        """Finish, on behalf of whoever sent them, the reports of the same pick that began and were
        never answered. One refused now is forgotten (see `IdempotencyStore.resumable`)."""
        for change in await self.idempotency.unfinished(self.db, timedelta(0), method="ConfirmPick"):
            earlier = fulfilment_pb2.ConfirmPickRequest.FromString(change.request)
            if change.request_id == request.request_id or earlier.task_id != request.task_id:
                continue
            owner = acting_for.set(change.caller)
            try:
                await self._confirm_pick(earlier)
            except EarlierReportUnfinished as error:
                # Its quantities no longer fit the task (the order was edited since): the Resumer refuses it.
                log.warning("pick.earlier_report_unfinished", request_id=change.request_id, error=str(error))
            except TRANSIENT:
                raise
            except OmnistockError as error:
                log.warning("pick.earlier_report_refused", request_id=change.request_id, error=str(error))
            finally:
                acting_for.reset(owner)

    async def _confirm_pick(self, request: fulfilment_pb2.ConfirmPickRequest) -> fulfilment_pb2.ConfirmPickResponse:
        check = Validator()
        found: dict[str, int] = {}
        for index, line in enumerate(request.picked):
            check.identifier(f"picked[{index}].sku", line.sku)
            check.non_negative(f"picked[{index}].quantity", line.quantity)
            if line.sku in found:
                check.fail(f"picked[{index}].sku", "is listed twice")
            found[line.sku] = line.quantity
        check.text("short_reason", request.short_reason, max_length=MAX_SHORT_REASON)
        why = f": {request.short_reason.strip()}" if request.short_reason.strip() else ""

        async def write_off(task: Task, short: Mapping[str, int], *, once: bool = False) -> dict[str, int]:
            # Missing since the picker reported it (when this report began): a count scanned since,
            # while a crash held the write-off back, has missed those units already.
            seen = await self.idempotency.began_at(self.db, request.request_id)
            return await self._write_off(task, short, why, once=once, observed_at=seen)

        async def perform(task: Task, resumed: bool) -> tuple[Task, str, Mapping[str, int]]:
            # A report begun before its order was edited is finished on the lines as they are now:
            # inventory may already have given its missing units back, which only the report knows.
            report = fitted(task, found) if resumed else found
            try:
                gone = missing_after_withdrawal(task, report)
                if gone:
                    # Withdrawn while staff picked it (a crash may have cut this very pick short once
                    # the missing units left the hold): not picked, but what is missing is written off.
                    note = written_off_note(await write_off(task, gone, once=True))
                    raise TransitionNotAllowed(task.kind, task.status, Action.CONFIRM_PICK, note)
                picked, result = confirm_pick(task, report)
            except InvalidPick as error:
                index = next(i for i, line in enumerate(request.picked) if line.sku == error.sku)
                raise InvalidArgument.of(f"picked[{index}]", f"{error.sku} {error.reason}") from error
            if not result.short:
                return picked, "task.picked", {}
            # Units first leave the hold, then the shelf count, so held never exceeds on hand. One
            # request id per task, not per report and amounts (as an edit's give-back, intake._give_back):
            # a pick is confirmed once, and a different report of it meets this one's release and is
            # judged once this one is finished, instead of giving back its own missing units on top.
            try:
                await self.inventory.release(
                    derived_request_id(task.task_id, "short-release"),
                    task.hold_id,
                    task.location_id,
                    result.short,
                    reason=f"short pick on task {task.task_id}",
                )
            except InvalidArgument as error:
                raise order_changed(task) from error
            except IdempotencyMismatch:
                # The release's request id is the task's: another report of this pick used it.
                raise EarlierReportUnfinished(task.task_id) from None
            except FailedPrecondition:
                if await self.inventory.open_at(task.hold_id, task.location_id):
                    raise
                # The hold ended under the pick (the order cancelled a moment ago, its task not yet
                # withdrawn here): nothing is held to give back, and the units are missing all the same.
                note = written_off_note(await write_off(task, result.short, once=True))
                raise FailedPrecondition(
                    f"the hold of task {task.task_id} has ended (its order was cancelled or changed):"
                    f" the pick is not confirmed{'; ' + note if note else ''}",
                    [PreconditionViolation("HOLD_STATE", task.hold_id, "the hold has ended")],
                    reason=Reason.INVALID_STATE,
                ) from None
            await write_off(task, result.short)
            return picked, "task.short_picked", result.short

        def respond(task: fulfilment_pb2.Task, short: Mapping[str, int]) -> fulfilment_pb2.ConfirmPickResponse:
            return fulfilment_pb2.ConfirmPickResponse(task=task, short=sku_quantities(dict(short)))

        return await self._act(
            "ConfirmPick",
            request,
            request.task_id,
            fulfilment_pb2.ConfirmPickResponse,
            perform,
            respond,
            check,
            remote=True,
        )

    async def _write_off(
        self,
        task: Task,
        short: Mapping[str, int],
        why: str,
        *,
        once: bool = False,
        observed_at: datetime | None = None,
    ) -> dict[str, int]:
        """The units a pick found missing leave the shelf count, once per task and SKU (the request id
        is derived from them); returns those written off by this call or the one before it. `once`:
        a SKU written off already by a different report of the task is left as it is."""
        sets = {line.sku for line in task.lines if line.components}
        written = {}
        for sku, missing in sorted(short.items()):
            if sku in sets:
                # A set short: its components went back to available with its line, but which of
                # them is not on the shelf only a count of them can tell (a bundle has no stock).
                continue
            try:
                await self.inventory.write_off(
                    derived_request_id(task.task_id, "short-write-off", sku),
                    task.location_id,
                    sku,
                    missing,
                    note=f"short pick on task {task.task_id}{why}",
                    observed_at=observed_at,
                )
            except IdempotencyMismatch:
                if not once:
                    raise
                continue
            written[sku] = missing
        return written

    async def pack(self, request: fulfilment_pb2.PackRequest) -> fulfilment_pb2.PackResponse:
        async def perform(task: Task, resumed: bool) -> tuple[Task, str, Mapping[str, int]]:
            return task.apply(Action.PACK), "task.packed", {}

        return await self._act("Pack", request, request.task_id, fulfilment_pb2.PackResponse, perform)

    async def ship(self, request: fulfilment_pb2.ShipRequest) -> fulfilment_pb2.ShipResponse:
        check = Validator()
        check.text("carrier", request.carrier)
        check.text("tracking_number", request.tracking_number)

        async def perform(task: Task, resumed: bool) -> tuple[Task, str, Mapping[str, int]]:
            shipped = task.apply(Action.SHIP, carrier=request.carrier, tracking_number=request.tracking_number)
            # Only what was picked leaves, and only this location's part of the order's hold.
            try:
                await self.inventory.commit(
                    derived_request_id(task.task_id, "ship-commit"),
                    task.hold_id,
                    task.location_id,
                    task.picked_lines(),
                    document_ref=f"fulfilment-task:{task.task_id}",
                )
            except InvalidArgument as error:
                raise order_changed(task) from error
            return shipped, "task.shipped", {}

        return await self._act(
            "Ship", request, request.task_id, fulfilment_pb2.ShipResponse, perform, check=check, remote=True
        )

    # Pickups.

    async def mark_ready_for_pickup(
        self, request: fulfilment_pb2.MarkReadyForPickupRequest
    ) -> fulfilment_pb2.MarkReadyForPickupResponse:
        async def perform(task: Task, resumed: bool) -> tuple[Task, str, Mapping[str, int]]:
            ready = task.apply(Action.MARK_READY)
            await self.reservations.mark_ready(derived_request_id(task.task_id, "ready"), task.reservation_id)
            return ready, "task.ready_for_pickup", {}

        return await self._act(
            "MarkReadyForPickup",
            request,
            request.task_id,
            fulfilment_pb2.MarkReadyForPickupResponse,
            perform,
            remote=True,
        )

    async def hand_over(self, request: fulfilment_pb2.HandOverRequest) -> fulfilment_pb2.HandOverResponse:
        check = Validator()
        check.text("request_id", request.request_id, required=True, max_length=128)
        check.identifier("location_id", request.location_id)
        check.text("pickup_code", request.pickup_code, required=True, max_length=32)
        check.raise_if_invalid()
        require_location(request.location_id)
        code = request.pickup_code.strip()

        async def hand_over(begun: Begun) -> fulfilment_pb2.HandOverResponse:
            async def work(conn: asyncpg.Connection) -> fulfilment_pb2.HandOverResponse:
                task = await repository.for_pickup_code(conn, request.location_id, code)
                if task is None and begun.resumed:
                    # This request had the reservation collected before a crash cut it short, and the
                    # reservation's event has since closed the task: the retry gets the first answer.
                    done = await repository.for_pickup_code(conn, request.location_id, code, active=False)
                    if done is not None and done.status is TaskStatus.HANDED_OVER:
                        return fulfilment_pb2.HandOverResponse(task=task_message(done))
                if task is None:
                    raise NotFound(
                        "pickup code",
                        code,
                        field="pickup_code",
                        message=f"pickup code {code!r} not found at {request.location_id}",
                    )
                handed = task.apply(Action.HAND_OVER)
                # Collecting commits the reservation's hold: the sale is complete.
                await self.reservations.collect(
                    derived_request_id(task.task_id, "collect"), task.location_id, task.pickup_code
                )
                saved = await self.changes.changed(conn, handed, "task.handed_over")
                return fulfilment_pb2.HandOverResponse(task=task_message(saved))

            return await self.idempotency.run(
                self.db, "HandOver", request.request_id, request, fulfilment_pb2.HandOverResponse, work
            )

        return await self.idempotency.resumable(
            self.db, "HandOver", request.request_id, request, fulfilment_pb2.HandOverResponse, hand_over
        )

    # The one shape of every change of one task.

    async def _act(
        self,
        method: str,
        request: Message,
        task_id: str,
        response_type: type[ResponseT],
        perform: Perform,
        respond: Callable[[fulfilment_pb2.Task, Mapping[str, int]], ResponseT] | None = None,
        check: Validator | None = None,
        *,
        remote: bool = False,
    ) -> ResponseT:
        request_id = str(getattr(request, "request_id", ""))
        check = check or Validator()
        check.text("request_id", request_id, required=True, max_length=128)
        check.identifier("task_id", task_id)
        check.raise_if_invalid()
        resumed = False

        async def work(conn: asyncpg.Connection) -> ResponseT:
            task = await repository.get(conn, task_id, for_update=True)
            if task is None:
                raise NotFound("task", task_id, field="task_id")
            require_location(task.location_id, "task")
            if resumed and task.hold_reason:
                # Begun before the order was put on hold, and cut short: inventory may have acted (the
                # parcel sold, the short units given back). Finished once the hold is released, by a
                # retry or the Resumer, not refused and forgotten with the task left behind.
                raise Aborted(
                    f"task {task_id} waits for its order's hold to be released; this change is finished then",
                    60.0,
                )
            require_not_held(task)
            changed, event, short = await perform(task, resumed)
            saved = await self.changes.changed(conn, changed, event, short)
            if respond is None:
                # Every response of a task change without its own `respond` is {task}.
                return response_type(task=task_message(saved))  # type: ignore[call-arg]
            return respond(task_message(saved), short)

        async def change(begun: Begun | None = None) -> ResponseT:
            nonlocal resumed
            resumed = begun is not None and begun.resumed
            return await self.idempotency.run(self.db, method, request_id, request, response_type, work)

        if not remote:
            return await change()
        # Inventory or reservations acts first: begun, so that the service finishes it itself
        # should a crash cut it short and its caller never come back (omnistock_platform.resuming).
        return await self.idempotency.resumable(self.db, method, request_id, request, response_type, change)
