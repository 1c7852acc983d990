"""The work queue (live), a task's pick list, and what staff do with a task: start fetching,
mark a pickup ready, confirm a pick (short, with the reason), pack, ship."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from omnistock_client import OmnistockClient
from sse_starlette.sse import EventSourceResponse
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock_console.catalogue import find_skus
from omnistock_console.queue import Enricher, Line, Row, active_tasks, live_tasks
from omnistock_console.services import Refused
from omnistock_console.staff import Staff, flash
from omnistock_console.web import Console, field, log, request_id_of, see_other
from omnistock_platform.validation import whole_number

SHORT_REASONS = {
    "not-on-shelf": "not on the shelf",
    "damaged": "damaged",
    "wrong-item": "a different item in its place",
    "other": "other",
}
MAX_NOTE = 200
# A quiet stream still sends a comment this often, so proxies and the browser keep it open.
PING_SECONDS = 15


class ListChanged(Refused):
    """The pick list changed after the page was shown (the order was edited): what the person
    typed was about another list, so it is neither sent nor shown again."""

    def __init__(self) -> None:
        super().__init__(
            "The pick list changed while this page was open (the order was edited): nothing was confirmed. "
            "Check the list below and confirm the pick again.",
            409,
        )


def listed(lines: Iterable[Line] | Iterable[common_pb2.SkuQuantity]) -> str:
    """The pick list a form was made from, as it posts it back: SKU:quantity per line."""
    return ",".join(sorted(f"{line.sku}:{line.quantity}" for line in lines))


@dataclass
class Attempt:
    """A form's last submission, shown again when it was refused."""

    action: str
    words: str
    request_id: str
    values: dict[str, str]


class WorkPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        return [
            Route("/at/{location_id}/queue", self.queue),
            Route("/at/{location_id}/queue/live", self.live),
            Route("/at/{location_id}/tasks/{task_id}", self.task),
            Route("/at/{location_id}/tasks/{task_id}/scan", self.scan, methods=["POST"]),
            Route("/at/{location_id}/tasks/{task_id}/{action}", self.act, methods=["POST"]),
        ]

    async def queue(self, request: Request) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        with self.console.acting_as(staff) as client:
            try:
                rows = await Enricher(client, zones=self.console.zones).rows(
                    await active_tasks(client, staff.location_id)
                )
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        return self.console.render(request, "queue.html", {"rows": rows, "live": False}, staff=staff)

    async def live(self, request: Request) -> Response:
        """The queue as server-sent events: the whole list again after every change."""
        staff = self.console.staff(request, request.path_params["location_id"])
        template = self.console.templates.get_template("_queue.html")

        async def events() -> AsyncIterator[dict[str, Any]]:
            with self.console.acting_as(staff) as client:
                enricher = Enricher(client, zones=self.console.zones)
                try:
                    async for tasks, changed in live_tasks(client, staff.location_id):
                        rows = await enricher.rows(tasks, refresh=changed)
                        yield {"event": "queue", "data": template.render(rows=rows, live=True, staff=staff)}
                except grpc.aio.AioRpcError as error:
                    if error.code() == grpc.StatusCode.CANCELLED:
                        return
                    refused = await self.console.services.refusal(error)
                    log.warning("console_live_queue_ended", location_id=staff.location_id, error=refused.words)
                    yield {"event": "queue", "data": template.render(rows=[], live=False, problem=refused.words)}

        return EventSourceResponse(events(), ping=PING_SECONDS, headers={"cache-control": "no-store"})

    async def task(
        self, request: Request, *, attempt: Attempt | None = None, scanned: str = "", status: int = 200
    ) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        with self.console.acting_as(staff) as client:
            row = await self._row(client, staff, request.path_params["task_id"])
        context = {
            "row": row,
            "attempt": attempt,
            "scanned": scanned,
            "short_reasons": SHORT_REASONS,
            "listed": listed(row.lines),
        }
        return self.console.render(request, "task.html", context, status=status, staff=staff)

    async def _row(self, client: OmnistockClient, staff: Staff, task_id: str) -> Row:
        try:
            task = (await client.call(client.fulfilment.GetTask, fpb.GetTaskRequest(task_id=task_id))).task
        except grpc.aio.AioRpcError as error:
            raise await self.console.services.refusal(error) from error
        if task.location_id != staff.location_id:
            raise Refused(f"Task {task_id} is not at {staff.location_id}.", 404, grpc.StatusCode.NOT_FOUND)
        (row,) = await Enricher(client, zones=self.console.zones).rows([task])
        return row

    async def scan(self, request: Request) -> Response:
        """Is what was scanned on this task? Staff check each item against the pick list."""
        staff = self.console.staff(request, request.path_params["location_id"])
        form = await self.console.form(request)
        with self.console.acting_as(staff) as client:
            row = await self._row(client, staff, request.path_params["task_id"])
            try:
                found = await find_skus(client, field(form, "code"))
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        wanted = {line.sku: line for line in row.lines}
        hits = [wanted[sku.sku] for sku in found.skus if sku.sku in wanted]
        if found.problem:
            words = found.problem
        elif hits:
            words = "✓ " + "; ".join(f"{line.title} ({line.sku}): {line.quantity} on this task" for line in hits)
        else:
            names = ", ".join(f"{sku.title} ({sku.sku})" for sku in found.skus[:3])
            words = f"✗ Not on this task: {names}."
        return await self.task(request, scanned=words)

    async def act(self, request: Request) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        form = await self.console.form(request)
        action, task_id = request.path_params["action"], request.path_params["task_id"]
        request_id = request_id_of(form)
        with self.console.acting_as(staff) as client:
            try:
                done = await self._perform(client, action, task_id, request_id, form)
            except Refused as invalid:
                return await self._refused(request, action, invalid, request_id, form)
            except grpc.aio.AioRpcError as error:
                refused = await self.console.services.refusal_on_the_form(error)
                return await self._refused(request, action, refused, request_id, form)
        self.flash_done(request, done)
        if done.status == fpb.TASK_STATUS_SHIPPED:
            return see_other(f"/at/{staff.location_id}/queue")
        return see_other(f"/at/{staff.location_id}/tasks/{task_id}")

    def flash_done(self, request: Request, task: fpb.Task) -> None:
        words = {
            fpb.TASK_STATUS_PICKING: "Started: fetch the items on the list.",
            fpb.TASK_STATUS_PICKED: "Pick confirmed.",
            fpb.TASK_STATUS_PACKED: "Packed.",
            fpb.TASK_STATUS_SHIPPED: f"Shipped with {task.carrier} ({task.tracking_number}).",
            fpb.TASK_STATUS_READY_FOR_PICKUP: "Ready: the items are at the pickup desk; the customer has been told.",
        }
        flash(request, words.get(task.status, "Done."))

    async def _refused(
        self, request: Request, action: str, refused: Refused, request_id: str, form: FormData
    ) -> Response:
        # A refusal changed nothing: the next try is a new action. When the outcome is unknown,
        # the form keeps its request id, so trying again can not act twice.
        typed = [] if isinstance(refused, ListChanged) else list(form.items())
        attempt = Attempt(
            action,
            refused.words,
            refused.keep(request_id),
            {key: value for key, value in typed if isinstance(value, str)},
        )
        return await self.task(request, attempt=attempt, status=refused.status)

    async def _perform(
        self, client: OmnistockClient, action: str, task_id: str, request_id: str, form: FormData
    ) -> fpb.Task:
        fulfilment = client.fulfilment
        if action == "start":
            request: Any = fpb.StartPickingRequest(request_id=request_id, task_id=task_id)
            return (await client.call(fulfilment.StartPicking, request)).task
        if action == "ready":
            request = fpb.MarkReadyForPickupRequest(request_id=request_id, task_id=task_id)
            return (await client.call(fulfilment.MarkReadyForPickup, request)).task
        if action == "pick":
            return (
                await client.call(fulfilment.ConfirmPick, await self._pick_request(client, task_id, request_id, form))
            ).task
        if action == "pack":
            return (await client.call(fulfilment.Pack, fpb.PackRequest(request_id=request_id, task_id=task_id))).task
        if action == "ship":
            request = fpb.ShipRequest(
                request_id=request_id,
                task_id=task_id,
                carrier=field(form, "carrier"),
                tracking_number=field(form, "tracking_number"),
            )
            return (await client.call(fulfilment.Ship, request)).task
        raise Refused(f"“{action}” is not something a task can do.", 404, grpc.StatusCode.NOT_FOUND)

    async def _pick_request(
        self, client: OmnistockClient, task_id: str, request_id: str, form: FormData
    ) -> fpb.ConfirmPickRequest:
        """What was found of each line; fewer than asked is a short pick, which needs its reason.
        Only of the list the person saw: a line the order's edit added since would otherwise be
        confirmed as found in full (ConfirmPick's default), and a grown one reported short."""
        task = (await client.call(client.fulfilment.GetTask, fpb.GetTaskRequest(task_id=task_id))).task
        if field(form, "listed") != listed(task.lines):
            raise ListChanged()
        picked: list[common_pb2.SkuQuantity] = []
        short = False
        for line in task.lines:
            typed = field(form, f"found-{line.sku}", str(line.quantity))
            found = whole_number(typed, line.quantity)
            if found is None:
                raise Refused(f"Found of {line.sku} must be a whole number from 0 to {line.quantity}.", 422)
            picked.append(common_pb2.SkuQuantity(sku=line.sku, quantity=found))
            short = short or found < line.quantity
        reason = ""
        if short:
            chosen = SHORT_REASONS.get(field(form, "reason"))
            if chosen is None:
                raise Refused("Some units were not found: choose why, so the stock can be corrected.", 422)
            note = field(form, "note")[:MAX_NOTE]
            reason = f"{chosen}: {note}" if note else chosen
        return fpb.ConfirmPickRequest(request_id=request_id, task_id=task_id, picked=picked, short_reason=reason)
