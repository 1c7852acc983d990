"""The work of store and warehouse staff from a terminal: the task list (live with --watch),
picking (short picks included), packing, shipping, pickup preparation and hand-over.

Staff act as role warehouse at the task's location by default. Given only a task id (or the
start of one), the command first reads the task to learn where it is, so `omnistock ready TASK`
just works; --role/--works-at/--token choose the caller instead."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as pb
from omnistock_cli import ids
from omnistock_cli.acting import STAFF, ZONES, Call, acting
from omnistock_cli.commands import (
    data,
    duration,
    label,
    sku_quantities,
    status_code,
    when,
)
from omnistock_cli.context import (
    ADMIN,
    Caller,
    call_services,
    fail,
    load_settings,
    run_async,
)
from omnistock_cli.live import Link, follow
from omnistock_cli.output import (
    FittedTable,
    WideOption,
    card,
    console,
    err_console,
    print_json_line,
    styled,
    table,
)
from omnistock_platform.auth import Role

T = TypeVar("T")
STATUSES = {
    label(value, pb.TaskStatus, "TASK_STATUS_").replace(" ", "-"): value for value in pb.TaskStatus.values() if value
}
KINDS = {"pick": pb.TASK_KIND_PICK, "pickup": pb.TASK_KIND_PICKUP_PREPARATION}
FINISHED = (pb.TASK_STATUS_SHIPPED, pb.TASK_STATUS_HANDED_OVER, pb.TASK_STATUS_WITHDRAWN)
WAIT_INTERVAL = 0.25
TASK_COLUMNS = ["task", "kind", "status", "items", "for", "promised", "updated"]
TASK_OPTIONAL = ("updated", "promised", "kind")


def kind_text(kind: int) -> str:
    return "pickup preparation" if kind == pb.TASK_KIND_PICKUP_PREPARATION else label(kind, pb.TaskKind, "TASK_KIND_")


def status_text(status: int) -> Text:
    text = label(status, pb.TaskStatus, "TASK_STATUS_")
    if status in FINISHED:
        return styled(text, "dim")
    return styled(text, "bold green" if status == pb.TASK_STATUS_READY_FOR_PICKUP else "yellow")


def hold_text(task: pb.Task) -> Text:
    """(on hold: payment pending) for a task whose order waits; nothing otherwise."""
    if not task.hold_reason:
        return Text("")
    reason = label(task.hold_reason, common_pb2.FulfilmentHoldReason, "FULFILMENT_HOLD_REASON_")
    return Text.assemble(" ", styled(f"(on hold: {reason})", "red"))


def items_text(task: pb.Task) -> str:
    return ", ".join(
        f"{line.sku} x{line.quantity}" + (f" (picked {line.picked})" if line.picked else "") for line in task.lines
    )


def task_row(task: pb.Task, zone: str = "") -> list[Any]:
    """The task as a row, its moments on the clock of its location (`zone`)."""
    source = f"reservation {task.reservation_id}" if task.reservation_id else f"order {task.order_id}"
    return [
        task.task_id,
        kind_text(task.kind),
        status_text(task.status) + hold_text(task),
        items_text(task),
        source,
        when(task.promise_at, zone),
        when(task.updated_at, zone),
    ]


def task_card(task: pb.Task, title: str, zone: str = "") -> FittedTable:
    """The task, its due time on the clock of its location (`zone`)."""
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
    rows.append(("promised", when(task.promise_at, zone)))
    return card(title, rows)


# ---------------------------------------------------------------------------------------------
# Who acts on a task.


def on_task(
    task_text: str,
    call: Call,
    act: Callable[[OmnistockClient, str], Awaitable[T]],
    *,
    finished_too: bool = False,
) -> T:
    """Run `act(client, task_id)` as the staff of the task's location. The task (given whole or
    by the start of its id) is looked up first: as the caller when one was chosen (--role with
    --works-at, a token), else as admin, which learns where the task is."""
    chosen = call.who()
    locate_as = chosen if chosen.given_token() or call.works_at or call.role not in (None, *STAFF) else ADMIN
    search = ids.tasks(call.works_at or (), finished_too=finished_too)

    async def locate(client: OmnistockClient) -> tuple[str, str]:
        task_id = await ids.resolve(client, task_text, search)
        reply = await client.call(client.fulfilment.GetTask, pb.GetTaskRequest(task_id=task_id))
        return task_id, reply.task.location_id

    task_id, at = call_services(locate, locate_as, as_json=call.as_json)

    async def work(client: OmnistockClient) -> T:
        return await act(client, task_id)

    return call.run(work, at=[at] if at else [])


# ---------------------------------------------------------------------------------------------
# omnistock tasks


@acting(Role.WAREHOUSE, writes=False, after=["wide"])
def tasks(
    location: Annotated[str, typer.Option("--location", "-l", help="The store or warehouse whose tasks to show.")],
    status: Annotated[
        str | None, typer.Option("--status", help=f"Only this status: {', '.join(STATUSES)}. Default: open work.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="pick or pickup.")] = None,
    reservation: Annotated[
        str | None, typer.Option("--reservation", help="Only this reservation's task (its id or the start of it).")
    ] = None,
    order: Annotated[
        str | None, typer.Option("--order", help="Only this order's tasks (its id or the start of it).")
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Keep the list live until Ctrl-C (it reconnects by itself).")
    ] = False,
    timeout: Annotated[str | None, typer.Option("--timeout", help="With --watch: end after this long.")] = None,
    wait: Annotated[
        str | None, typer.Option("--wait", help="Until a task matches, ask again for up to this long, e.g. 10s.")
    ] = None,
    wide: WideOption = False,
    *,
    call: Call,
) -> None:
    """A location's tasks, in the order to work them (role warehouse at the location by default)."""
    code = status_code(status, STATUSES)
    kind_code = 0
    if kind is not None:
        kind_code = KINDS.get(kind.strip().lower(), -1)
        if kind_code < 0:
            fail(f"unknown kind {kind!r}", hint="pick or pickup")
    who = call.who(at=[location])
    reservation_id = (
        ids.whole_id(reservation, ids.reservations(store=location), who, as_json=call.as_json) if reservation else ""
    )
    order_id = ids.whole_id(order, ids.orders(location=location), who, as_json=call.as_json) if order else ""

    def wanted(task: pb.Task) -> bool:
        return (
            (not reservation_id or task.reservation_id == reservation_id)
            and (not order_id or task.order_id == order_id)
            and (not code or task.status == code)
            and (not kind_code or task.kind == kind_code)
        )

    if watch:
        seconds = duration(timeout, "--timeout").total_seconds() if timeout else None
        _watch(location, who, wanted, seconds, call.as_json)
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

    found = call.run(work, at=[location])
    zone = call.zone(location) if found else ""
    call.emit(
        {"tasks": [data(task) for task in found]},
        render=table(
            f"Tasks at {location}", TASK_COLUMNS, [task_row(task, zone) for task in found], optional=TASK_OPTIONAL
        )
        if found
        else f"No tasks at {location}.",
        wide=wide,
    )


def _watch(location: str, who: Caller, wanted: Callable[[pb.Task], bool], seconds: float | None, as_json: bool) -> None:
    """The live task list; it reconnects when fulfilment restarts (live.follow)."""
    settings = load_settings()
    title = f"Tasks at {location}, live (Ctrl-C ends)"
    current: dict[str, pb.Task] = {}
    link = Link("fulfilment")
    zone = ""

    def view() -> RenderableType:
        shown = sorted(
            (task for task in current.values() if wanted(task) and task.status not in FINISHED),
            key=lambda task: (task.promise_at.seconds, task.task_id),
        )
        listed = table(title, TASK_COLUMNS, [task_row(task, zone) for task in shown], optional=TASK_OPTIONAL)
        note = link.note()
        return Group(listed, Text.from_markup(note)) if note else listed

    async def main() -> None:
        nonlocal zone
        async with OmnistockClient.connect(settings, who.token_source(settings)) as client:
            if not as_json:
                zone = await ZONES.zone(client, location)
            live = None if as_json else Live(view(), console=console, auto_refresh=False)

            def redraw() -> None:
                if live is not None:
                    live.update(view(), refresh=True)

            async def handle(message: pb.WatchTasksResponse, fresh: bool) -> bool:
                if fresh and message.snapshot:
                    current.clear()  # the snapshot is the whole list again
                for task in message.tasks:
                    current[task.task_id] = task
                if as_json:
                    print_json_line({"snapshot": message.snapshot, "tasks": [t for t in message.tasks if wanted(t)]})
                redraw()
                return False

            def stream() -> Any:
                return client.fulfilment.WatchTasks(pb.WatchTasksRequest(location_id=location))

            with live if live is not None else contextlib.nullcontext(), contextlib.suppress(TimeoutError):
                await asyncio.wait_for(follow(link, stream, handle, redraw), seconds)

    run_async(main(), as_json=as_json)
    if not as_json:
        err_console.print("[dim]watch ended[/]")


# ---------------------------------------------------------------------------------------------
# The steps of a task.

TaskArgument = Annotated[
    str, typer.Argument(metavar="TASK", help="The task id, or the start of it (at least 4 characters).")
]


@acting(Role.WAREHOUSE, writes=False)
def show_task(task_id: TaskArgument, *, call: Call) -> None:
    """One task: kind, status, items, what it is for, and where."""

    async def act(client: OmnistockClient, whole: str) -> pb.Task:
        return (await client.call(client.fulfilment.GetTask, pb.GetTaskRequest(task_id=whole))).task

    task = on_task(task_id, call, act, finished_too=True)
    call.emit(data(task), render=task_card(task, f"Task at {task.location_id}", call.zone(task.location_id)))


@acting(Role.WAREHOUSE)
def pick(
    task_id: TaskArgument,
    found: Annotated[
        list[str] | None,
        typer.Option(
            "--found",
            help="SKU:QTY actually found when short (SKU:0: none on the shelf); a SKU not named was found in full.",
        ),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", help="Why units were not found ('bin empty', 'damaged'): kept in the ledger.")
    ] = "",
    *,
    call: Call,
) -> None:
    """Pick a task: start picking and confirm what was found (less than asked is a short pick).

    A pickup preparation is only started here; `omnistock ready` finishes it.
    """
    key = call.request_id
    picked = [] if not found else sku_quantities(found, what="--found", least=0)

    async def act(client: OmnistockClient, whole: str) -> tuple[pb.Task, list[Any]]:
        task = (await client.call(client.fulfilment.GetTask, pb.GetTaskRequest(task_id=whole))).task
        if task.status == pb.TASK_STATUS_OPEN:
            start = pb.StartPickingRequest(request_id=f"{key}:start", task_id=whole)
            task = (await client.call(client.fulfilment.StartPicking, start)).task
        if task.kind == pb.TASK_KIND_PICKUP_PREPARATION:
            if picked:
                fail("a pickup preparation has no short picks; cancel the reservation if the items are missing")
            return task, []
        confirm = pb.ConfirmPickRequest(request_id=f"{key}:confirm", task_id=whole, picked=picked, short_reason=reason)
        reply = await client.call(client.fulfilment.ConfirmPick, confirm)
        return reply.task, list(reply.short)

    task, short = on_task(task_id, call, act)
    title = f"Picked {task.task_id}" if task.kind == pb.TASK_KIND_PICK else f"Picking {task.task_id}"
    shown: Any = task_card(task, title, call.zone(task.location_id))
    if short:
        shown = Group(
            shown, Text.assemble(styled("short:", "red"), f" {', '.join(f'{s.sku} x{s.quantity}' for s in short)}")
        )
    call.emit({"task": data(task), "short": [data(s) for s in short]}, render=shown)


def _step(task_text: str, title: str, step: Callable[[OmnistockClient, str], Awaitable[Any]], call: Call) -> None:
    async def act(client: OmnistockClient, whole: str) -> pb.Task:
        return (await step(client, whole)).task  # type: ignore[no-any-return]

    task = on_task(task_text, call, act)
    call.emit(data(task), render=task_card(task, f"{title} {task.task_id}", call.zone(task.location_id)))


@acting(Role.WAREHOUSE)
def pack(task_id: TaskArgument, *, call: Call) -> None:
    """Pack a picked task."""
    _step(
        task_id,
        "Packed",
        lambda c, whole: c.call(c.fulfilment.Pack, pb.PackRequest(request_id=call.request_id, task_id=whole)),
        call,
    )


@acting(Role.WAREHOUSE)
def ship(
    task_id: TaskArgument,
    carrier: Annotated[str, typer.Option("--carrier", help="Who carries the parcel.")],
    tracking: Annotated[str, typer.Option("--tracking", help="The carrier's tracking number.")],
    *,
    call: Call,
) -> None:
    """Ship a packed task: the sale completes (its hold is committed)."""

    def step(client: OmnistockClient, whole: str) -> Awaitable[Any]:
        request = pb.ShipRequest(request_id=call.request_id, task_id=whole, carrier=carrier, tracking_number=tracking)
        return client.call(client.fulfilment.Ship, request)

    _step(task_id, "Shipped", step, call)


@acting(Role.WAREHOUSE)
def ready(task_id: TaskArgument, *, call: Call) -> None:
    """The reservation's items are at the pickup desk: the reservation becomes ready and the customer is told."""

    def step(client: OmnistockClient, whole: str) -> Awaitable[Any]:
        request = pb.MarkReadyForPickupRequest(request_id=call.request_id, task_id=whole)
        return client.call(client.fulfilment.MarkReadyForPickup, request)

    _step(task_id, "Ready for pickup:", step, call)


@acting(Role.POS)
def handover(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The customer's pickup code.")],
    store: Annotated[str, typer.Option("--store", "-s", help="The store of the pickup desk.")],
    *,
    call: Call,
) -> None:
    """At the pickup desk: the customer's code hands the items over and completes the sale."""
    request = pb.HandOverRequest(request_id=call.request_id, location_id=store, pickup_code=code.strip())
    task = call.ask(lambda client: client.fulfilment.HandOver, request, at=[store]).task
    call.emit(data(task), render=task_card(task, f"Handed over at {store}", call.zone(store)))


EXAMPLES = ("omnistock tasks --location STORE-BER-MITTE --watch",)


def register(app: typer.Typer) -> None:
    app.command("tasks")(tasks)
    app.command("show-task")(show_task)
    app.command("pick")(pick)
    app.command("pack")(pack)
    app.command("ship")(ship)
    app.command("ready")(ready)
    app.command("handover")(handover)
