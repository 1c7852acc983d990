"""The work of store and warehouse staff from a terminal: the task list (live with --watch),
picking (short picks included), packing, shipping, pickup preparation and hand-over.

Staff act as role warehouse at the task's location by default. Given only a task id, the
command first reads the task to learn where it is, so `omnistock ready TASK` just works;
--role/--location/--token choose the caller instead."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from omnistock_client import OmnistockClient, new_request_id
from omnistock_client.lookups import all_pages
from rich.console import Group
from rich.live import Live
from rich.table import Table

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as pb
from omnistock_cli.commands import (
    PosRoleOption,
    RequestIdOption,
    WarehouseRoleOption,
    caller,
    data,
    duration,
    label,
    sku_quantities,
    when,
)
from omnistock_cli.context import (
    ADMIN,
    Caller,
    JsonOption,
    LocationOption,
    TokenOption,
    call_services,
    fail,
    load_settings,
    run_async,
)
from omnistock_cli.output import console, emit, err_console, table
from omnistock_platform.auth import Role

T = TypeVar("T")
STATUSES = {
    label(value, pb.TaskStatus, "TASK_STATUS_").replace(" ", "-"): value for value in pb.TaskStatus.values() if value
}
KINDS = {"pick": pb.TASK_KIND_PICK, "pickup": pb.TASK_KIND_PICKUP_PREPARATION}
FINISHED = (pb.TASK_STATUS_SHIPPED, pb.TASK_STATUS_HANDED_OVER, pb.TASK_STATUS_WITHDRAWN)
WAIT_INTERVAL = 0.25
TASK_COLUMNS = ["task", "kind", "status", "items", "for", "promised", "updated"]


def kind_text(kind: int) -> str:
    return "pickup preparation" if kind == pb.TASK_KIND_PICKUP_PREPARATION else label(kind, pb.TaskKind, "TASK_KIND_")


def status_text(status: int) -> str:
    text = label(status, pb.TaskStatus, "TASK_STATUS_")
    if status in FINISHED:
        return f"[dim]{text}[/]"
    return f"[bold green]{text}[/]" if status == pb.TASK_STATUS_READY_FOR_PICKUP else f"[yellow]{text}[/]"


def hold_text(task: pb.Task) -> str:
    """(on hold: payment pending) for a task whose order waits; "" otherwise."""
    if not task.hold_reason:
        return ""
    return f" [red](on hold: {label(task.hold_reason, common_pb2.FulfilmentHoldReason, 'FULFILMENT_HOLD_REASON_')})[/]"


def items_text(task: pb.Task) -> str:
    return ", ".join(
        f"{line.sku} x{line.quantity}" + (f" (picked {line.picked})" if line.picked else "") for line in task.lines
    )


def task_row(task: pb.Task) -> list[Any]:
    source = f"reservation {task.reservation_id}" if task.reservation_id else f"order {task.order_id}"
    return [
        task.task_id,
        kind_text(task.kind),
        status_text(task.status) + hold_text(task),
        items_text(task),
        source,
        when(task.promise_at),
        when(task.updated_at),
    ]


def task_card(task: pb.Task, title: str) -> Table:
    card = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    card.add_column(style="dim")
    card.add_column()
    rows = [
        ("task", task.task_id),
        ("kind", kind_text(task.kind)),
        ("status", status_text(task.status) + hold_text(task)),
        ("location", task.location_id),
        ("items", items_text(task)),
    ]
    if task.reservation_id:
        rows.append(("reservation", task.reservation_id))
    if task.order_id:
        rows.append(("order", task.order_id))
    if task.carrier:
        rows.append(("shipped with", f"{task.carrier} {task.tracking_number}"))
    if task.withdrawn_reason:
        rows.append(("withdrawn", task.withdrawn_reason))
    rows.append(("promised", when(task.promise_at)))
    for name, value in rows:
        card.add_row(name, value)
    return card


# ---------------------------------------------------------------------------------------------
# Who acts on a task.


def staff(role: Role | None, location: list[str] | None, token: str | None, at: str) -> Caller:
    return caller(Role.WAREHOUSE, role, location, token, at=[at] if at else [])


def on_task(
    task_id: str,
    role: Role | None,
    location: list[str] | None,
    token: str | None,
    act: Callable[[OmnistockClient], Awaitable[T]],
    *,
    as_json: bool,
) -> T:
    """Run `act` as the staff of the task's location (learned by reading the task when no caller is given)."""
    at = ""
    if not token and not location and role in (None, Role.WAREHOUSE, Role.POS):

        async def locate(client: OmnistockClient) -> str:
            reply = await client.call(client.fulfilment.GetTask, pb.GetTaskRequest(task_id=task_id))
            return reply.task.location_id

        at = call_services(locate, ADMIN, as_json=as_json)
    return call_services(act, staff(role, location, token, at), as_json=as_json)


# ---------------------------------------------------------------------------------------------
# omnistock tasks


def tasks(
    location: Annotated[str, typer.Option("--location", "-l", help="The store or warehouse whose tasks to show.")],
    status: Annotated[
        str | None, typer.Option("--status", help=f"Only this status: {', '.join(STATUSES)}. Default: open work.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="pick or pickup.")] = None,
    reservation: Annotated[str | None, typer.Option("--reservation", help="Only this reservation's task.")] = None,
    order: Annotated[str | None, typer.Option("--order", help="Only this order's tasks.")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep the list live until Ctrl-C.")] = False,
    timeout: Annotated[str | None, typer.Option("--timeout", help="With --watch: end after this long.")] = None,
    wait: Annotated[
        str | None, typer.Option("--wait", help="Until a task matches, ask again for up to this long, e.g. 10s.")
    ] = None,
    role: WarehouseRoleOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """A location's tasks, in the order to work them (role warehouse at the location by default)."""
    code = 0
    if status is not None:
        code = STATUSES.get(status.strip().lower().replace(" ", "-").replace("_", "-"), -1)
        if code < 0:
            fail(f"unknown status {status!r}", hint=f"one of {', '.join(STATUSES)}")
    kind_code = 0
    if kind is not None:
        kind_code = KINDS.get(kind.strip().lower(), -1)
        if kind_code < 0:
            fail(f"unknown kind {kind!r}", hint="pick or pickup")
    who = staff(role, None, token, location)

    def wanted(task: pb.Task) -> bool:
        return (
            (not reservation or task.reservation_id == reservation)
            and (not order or task.order_id == order)
            and (not code or task.status == code)
            and (not kind_code or task.kind == kind_code)
        )

    if watch:
        seconds = duration(timeout, "--timeout").total_seconds() if timeout else None
        _watch(location, who, wanted, seconds, as_json)
        return
    request = pb.ListTasksRequest(location_id=location, status=code, kind=kind_code)  # type: ignore[arg-type]

    patience = duration(wait, "--wait").total_seconds() if wait else 0.0

    async def work(client: OmnistockClient) -> list[pb.Task]:
        # Tasks are made from events: a task for a reservation made a moment ago may be on its way.
        deadline = asyncio.get_running_loop().time() + patience
        while True:
            found = [task for task in await all_pages(client, client.fulfilment.ListTasks, request, "tasks")]
            matching = [task for task in found if wanted(task)]
            if matching or asyncio.get_running_loop().time() >= deadline:
                return matching
            await asyncio.sleep(WAIT_INTERVAL)

    found = call_services(work, who, as_json=as_json)
    emit(
        {"tasks": [data(task) for task in found]},
        as_json=as_json,
        render=table(f"Tasks at {location}", TASK_COLUMNS, [task_row(task) for task in found])
        if found
        else f"No tasks at {location}.",
    )


def _watch(location: str, who: Caller, wanted: Callable[[pb.Task], bool], seconds: float | None, as_json: bool) -> None:
    settings = load_settings()
    title = f"Tasks at {location}, live (Ctrl-C ends)"

    def render(current: dict[str, pb.Task]) -> Table:
        shown = sorted(
            (task for task in current.values() if wanted(task) and task.status not in FINISHED),
            key=lambda task: (task.promise_at.seconds, task.task_id),
        )
        return table(title, TASK_COLUMNS, [task_row(task) for task in shown])

    async def main() -> None:
        current: dict[str, pb.Task] = {}
        async with OmnistockClient.connect(settings, who.bearer(settings)) as client:
            stream = client.fulfilment.WatchTasks(pb.WatchTasksRequest(location_id=location))
            live = None if as_json else Live(render(current), console=console, auto_refresh=False)

            async def follow() -> None:
                async for message in stream:
                    for task in message.tasks:
                        current[task.task_id] = task
                    if as_json:
                        picked = [data(task) for task in message.tasks if wanted(task)]
                        print(json.dumps({"snapshot": message.snapshot, "tasks": picked}), flush=True)
                    elif live is not None:
                        live.update(render(current), refresh=True)

            with live if live is not None else contextlib.nullcontext():
                try:
                    await asyncio.wait_for(follow(), seconds)
                except TimeoutError:
                    pass
                finally:
                    stream.cancel()

    run_async(main(), as_json=as_json)
    if not as_json:
        err_console.print("[dim]watch ended[/]")


# ---------------------------------------------------------------------------------------------
# The steps of a task.

TaskArgument = Annotated[str, typer.Argument(metavar="TASK", help="The task id.")]


def pick(
    task_id: TaskArgument,
    found: Annotated[
        list[str] | None,
        typer.Option("--found", help="SKU:QTY actually found when short; a SKU not named was found in full."),
    ] = None,
    request_id: RequestIdOption = None,
    role: WarehouseRoleOption = None,
    location: LocationOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pick a task: start picking and confirm what was found (less than asked is a short pick).

    A pickup preparation is only started here; `omnistock ready` finishes it.
    """
    key = request_id or new_request_id()
    picked = [] if not found else sku_quantities(found, what="--found")

    async def act(client: OmnistockClient) -> tuple[pb.Task, list[Any]]:
        task = (await client.call(client.fulfilment.GetTask, pb.GetTaskRequest(task_id=task_id))).task
        if task.status == pb.TASK_STATUS_OPEN:
            start = pb.StartPickingRequest(request_id=f"{key}:start", task_id=task_id)
            task = (await client.call(client.fulfilment.StartPicking, start)).task
        if task.kind == pb.TASK_KIND_PICKUP_PREPARATION:
            if picked:
                fail("a pickup preparation has no short picks; cancel the reservation if the items are missing")
            return task, []
        confirm = pb.ConfirmPickRequest(request_id=f"{key}:confirm", task_id=task_id, picked=picked)
        reply = await client.call(client.fulfilment.ConfirmPick, confirm)
        return reply.task, list(reply.short)

    task, short = on_task(task_id, role, location, token, act, as_json=as_json)
    shown: Any = task_card(task, f"Picked {task_id}" if task.kind == pb.TASK_KIND_PICK else f"Picking {task_id}")
    if short:
        shown = Group(shown, f"[red]short:[/] {', '.join(f'{s.sku} x{s.quantity}' for s in short)}")
    emit({"task": data(task), "short": [data(s) for s in short]}, as_json=as_json, render=shown)


def _step(
    task_id: str,
    title: str,
    call: Callable[[OmnistockClient], Awaitable[Any]],
    role: Role | None,
    location: list[str] | None,
    token: str | None,
    as_json: bool,
) -> None:
    async def act(client: OmnistockClient) -> pb.Task:
        return (await call(client)).task  # type: ignore[no-any-return]

    task = on_task(task_id, role, location, token, act, as_json=as_json)
    emit(data(task), as_json=as_json, render=task_card(task, title))


def pack(
    task_id: TaskArgument,
    request_id: RequestIdOption = None,
    role: WarehouseRoleOption = None,
    location: LocationOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Pack a picked task."""
    request = pb.PackRequest(request_id=request_id or new_request_id(), task_id=task_id)
    _step(
        task_id,
        f"Packed {task_id}",
        lambda c: c.call(c.fulfilment.Pack, request),
        role,
        location,
        token,
        as_json,
    )


def ship(
    task_id: TaskArgument,
    carrier: Annotated[str, typer.Option("--carrier", help="Who carries the parcel.")],
    tracking: Annotated[str, typer.Option("--tracking", help="The carrier's tracking number.")],
    request_id: RequestIdOption = None,
    role: WarehouseRoleOption = None,
    location: LocationOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ship a packed task: the sale completes (its hold is committed)."""
    request = pb.ShipRequest(
        request_id=request_id or new_request_id(), task_id=task_id, carrier=carrier, tracking_number=tracking
    )
    _step(
        task_id,
        f"Shipped {task_id}",
        lambda c: c.call(c.fulfilment.Ship, request),
        role,
        location,
        token,
        as_json,
    )


def ready(
    task_id: TaskArgument,
    request_id: RequestIdOption = None,
    role: WarehouseRoleOption = None,
    location: LocationOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The reservation's items are at the pickup desk: the reservation becomes ready and the customer is told."""
    request = pb.MarkReadyForPickupRequest(request_id=request_id or new_request_id(), task_id=task_id)
    _step(
        task_id,
        f"Ready for pickup: {task_id}",
        lambda c: c.call(c.fulfilment.MarkReadyForPickup, request),
        role,
        location,
        token,
        as_json,
    )


def handover(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The customer's pickup code.")],
    location_id: Annotated[str, typer.Option("--location", "-l", help="The store of the pickup desk.")],
    request_id: RequestIdOption = None,
    role: PosRoleOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """At the pickup desk: the customer's code hands the items over and completes the sale."""
    request = pb.HandOverRequest(
        request_id=request_id or new_request_id(), location_id=location_id, pickup_code=code.strip()
    )

    async def act(client: OmnistockClient) -> pb.Task:
        return (await client.call(client.fulfilment.HandOver, request)).task

    task = call_services(act, caller(Role.POS, role, None, token, at=[location_id]), as_json=as_json)
    emit(data(task), as_json=as_json, render=task_card(task, f"Handed over at {location_id}"))


EXAMPLES = ("omnistock tasks --location STORE-BER-MITTE --watch",)


def register(app: typer.Typer) -> None:
    app.command("tasks")(tasks)
    app.command("pick")(pick)
    app.command("pack")(pack)
    app.command("ship")(ship)
    app.command("ready")(ready)
    app.command("handover")(handover)
