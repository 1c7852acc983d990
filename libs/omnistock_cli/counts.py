"""Cycle counts from a terminal: open a count at a store or warehouse, scan the shelf while the till
keeps selling, review what nobody scanned, approve large variances in the back office, and post.

Counting is the staff's (role pos at the location by default, blind: no book figures until the count
is completed); `show` and `approve` are the back office's (role admin, every figure). Given only a
count id, a staff command first reads the count to learn its location, as the task commands do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

import typer
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages
from rich.console import Group
from rich.table import Table

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import INT64_MAX, data, label, when
from omnistock_cli.context import fail
from omnistock_cli.groups import add_group
from omnistock_cli.output import table
from omnistock_platform.auth import Role

STATUSES = {
    label(value, pb.CountStatus, "COUNT_STATUS_").replace(" ", "-"): value for value in pb.CountStatus.values() if value
}
LINE_STATUSES = {
    label(value, pb.CountLineStatus, "COUNT_LINE_STATUS_").replace(" ", "-"): value
    for value in pb.CountLineStatus.values()
    if value
}
LINE_COLUMNS = ["sku", "status", "counted", "book", "variance", "at version", "counted by", "posted"]
COUNT_COLUMNS = ["count", "location", "scope", "status", "lines", "counted", "to review", "opened"]

CountArgument = Annotated[str, typer.Argument(metavar="COUNT", help="The count id.")]


def _figure(line: pb.CountLine, name: str) -> str:
    return str(getattr(line, name)) if line.HasField(name) else "-"  # type: ignore[arg-type]


def line_row(line: pb.CountLine) -> list[Any]:
    status = label(line.status, pb.CountLineStatus, "COUNT_LINE_STATUS_")
    return [
        line.sku,
        status + (" (zeroed by the review)" if line.zeroed else ""),
        _figure(line, "counted"),
        _figure(line, "book_on_hand"),
        _figure(line, "variance"),
        line.version if line.HasField("counted") else "",
        line.counted_by,
        f"movement {line.movement_id}" if line.movement_id else "",
    ]


def scope_text(count: pb.Count) -> str:
    if count.scope == pb.COUNT_SCOPE_SKUS:
        return "SKUs " + ", ".join(count.skus[:5]) + (" ..." if len(count.skus) > 5 else "")
    if count.scope == pb.COUNT_SCOPE_ATTRIBUTES:
        return "attributes " + ", ".join(f"{key}={value}" for key, value in sorted(count.attributes.items()))
    return "everything"


def count_card(count: pb.Count, title: str, zone: str = "") -> Table:
    """The count, its moments on the clock of its location (`zone`)."""
    card = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    card.add_column(style="dim")
    card.add_column()
    summary = count.summary
    rows = [
        ("count", count.count_id),
        ("location", count.location_id),
        ("scope", scope_text(count)),
        ("status", label(count.status, pb.CountStatus, "COUNT_STATUS_")),
        ("threshold", f"{count.variance_threshold} units"),
        ("lines", f"{summary.lines}: {summary.counted} counted, {summary.uncounted} not yet"),
        ("to review", f"{summary.needs_review} need a recount or an approval"),
    ]
    if summary.zeroed:
        rows.append(("zeroed", f"{summary.zeroed} nobody scanned count as zero"))
    if count.figures_hidden:
        rows.append(("variances", "hidden while the count is open (blind count)"))
    else:
        rows.append(
            ("variances", f"{summary.with_variance} lines: {summary.units_over} over, {summary.units_short} short")
        )
    if count.note:
        rows.append(("note", count.note))
    if count.cancel_reason:
        rows.append(("cancelled", count.cancel_reason))
    rows.append(("opened", f"{when(count.created_at, zone)} by {count.created_by}"))
    if count.closed_by:
        rows.append(("closed", f"{when(count.closed_at, zone)} by {count.closed_by}"))
    for name, value in rows:
        card.add_row(name, value)
    return card


def choice(text: str | None, choices: Mapping[str, int], what: str) -> int:
    """A status as people write it (`needs review`, `needs_review`, `needs-review`); 0 when not given."""
    if text is None:
        return 0
    code = choices.get(text.strip().lower().replace(" ", "-").replace("_", "-"))
    if code is None:
        fail(f"unknown {what} {text!r}", hint=f"one of {', '.join(choices)}")
    return code


def attributes_of(items: list[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--attr {item!r} is not KEY=VALUE", hint="for example --attr colour=green")
        found[key.strip()] = value.strip()
    return found


def where_counted(count_id: str) -> Callable[[OmnistockClient], Awaitable[str]]:
    """The count's location, for staff given only a count id."""

    async def read(client: OmnistockClient) -> str:
        reply = await client.call(client.inventory.GetCount, pb.GetCountRequest(count_id=count_id))
        return reply.count.location_id

    return read


# ---------------------------------------------------------------------------------------------
# The commands.


@acting(Role.POS, works_at=False)
def start(
    location_id: Annotated[str, typer.Option("--location", "-l", help="The store or warehouse to count.")],
    sku: Annotated[list[str] | None, typer.Option("--sku", help="Count only this SKU; repeat for more.")] = None,
    attr: Annotated[
        list[str] | None, typer.Option("--attr", help="Count the SKUs with this attribute, KEY=VALUE; repeat.")
    ] = None,
    threshold: Annotated[
        int | None,
        typer.Option("--threshold", min=0, help="Units of variance beyond which a recount or an approval is needed."),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Which shelf or aisle, or why.")] = "",
    *,
    call: Call,
) -> None:
    """Open a count at a location: everything there, or --sku ..., or --attr KEY=VALUE ..."""
    attributes = attributes_of(attr)
    if sku and attributes:
        fail("give --sku or --attr, not both", hint="a count covers a list of SKUs or the SKUs with attributes")
    scope = pb.COUNT_SCOPE_SKUS if sku else pb.COUNT_SCOPE_ATTRIBUTES if attributes else pb.COUNT_SCOPE_ALL
    request = pb.CreateCountRequest(
        request_id=call.request_id,
        location_id=location_id,
        scope=scope,
        skus=sku or [],
        attributes=attributes,
        note=note,
    )
    if threshold is not None:
        request.variance_threshold = threshold

    count = call.ask(lambda client: client.inventory.CreateCount, request, at=[location_id]).count
    call.emit(data(count), render=count_card(count, f"Count {count.count_id} opened", call.zone(count.location_id)))


@acting(Role.POS)
def scan(
    count_id: CountArgument,
    sku: Annotated[str, typer.Argument(metavar="SKU", help="The SKU counted.")],
    quantity: Annotated[
        int, typer.Argument(metavar="QTY", min=0, max=INT64_MAX, help="Every unit of it at the location.")
    ],
    *,
    call: Call,
) -> None:
    """Record what is on the shelf of one SKU now (counting it again replaces its count)."""
    request = pb.RecordCountRequest(request_id=call.request_id, count_id=count_id, sku=sku, quantity=quantity)
    reply = call.ask(lambda client: client.inventory.RecordCount, request, locate=where_counted(count_id))
    call.emit(data(reply), render=table(f"Counted {sku} in count {count_id}", LINE_COLUMNS, [line_row(reply.line)]))


@acting(Role.ADMIN, writes=False)
def show(
    count_id: CountArgument,
    lines: Annotated[bool, typer.Option("--lines", help="List the lines too.")] = False,
    status: Annotated[
        str | None, typer.Option("--status", help=f"With --lines: only {', '.join(LINE_STATUSES)}.")
    ] = None,
    *,
    call: Call,
) -> None:
    """A count with its figures (and its lines with --lines); blind for store staff while open."""
    code = choice(status, LINE_STATUSES, "line status")

    async def work(client: OmnistockClient) -> tuple[pb.Count, list[pb.CountLine]]:
        count = (await client.call(client.inventory.GetCount, pb.GetCountRequest(count_id=count_id))).count
        found: list[pb.CountLine] = []
        if lines or status is not None:
            request = pb.ListCountLinesRequest(count_id=count_id, status=code)  # type: ignore[arg-type]
            found = await all_pages(client, client.inventory.ListCountLines, request, "lines")
        return count, found

    count, found = call.run(work, at=call.locate(where_counted(count_id)))
    render: Any = count_card(count, f"Count {count_id}", call.zone(count.location_id))
    if found:
        render = Group(render, table("Lines", LINE_COLUMNS, [line_row(line) for line in found]))
    call.emit({"count": data(count), "lines": [data(line) for line in found]}, render=render)


@acting(Role.ADMIN, writes=False, works_at=False)
def list_counts(
    location_id: Annotated[str, typer.Option("--location", "-l", help="Only this location's counts.")] = "",
    status: Annotated[str | None, typer.Option("--status", help=f"Only {', '.join(STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many counts.")] = 50,
    *,
    call: Call,
) -> None:
    """Count sessions, newest first (staff, with --role pos or warehouse: at --location, one of theirs)."""
    code = choice(status, STATUSES, "status")
    request = pb.ListCountsRequest(location_id=location_id, status=code)  # type: ignore[arg-type]

    async def work(client: OmnistockClient) -> list[pb.Count]:
        return await all_pages(client, client.inventory.ListCounts, request, "counts", limit=limit)

    found = call.run(work, at=[location_id] if location_id else [])
    zones = call.zones(c.location_id for c in found)
    rows = [
        [
            c.count_id,
            c.location_id,
            scope_text(c),
            label(c.status, pb.CountStatus, "COUNT_STATUS_"),
            c.summary.lines,
            c.summary.counted,
            c.summary.needs_review,
            when(c.created_at, zones.get(c.location_id, "")),
        ]
        for c in found
    ]
    call.emit(
        {"counts": [data(c) for c in found]}, render=table("Counts", COUNT_COLUMNS, rows) if rows else "No counts."
    )


@acting(Role.POS)
def review(count_id: CountArgument, *, call: Call) -> None:
    """End the counting: what nobody scanned now counts as zero; lists it, and what needs a second look."""
    request = pb.ReviewCountRequest(request_id=call.request_id, count_id=count_id)
    reply = call.ask(lambda client: client.inventory.ReviewCount, request, locate=where_counted(count_id))
    parts: list[Any] = [count_card(reply.count, f"Count {count_id} in review", call.zone(reply.count.location_id))]
    if reply.zeroed:
        parts.append(
            table(
                "Nobody scanned these: they count as zero (scan any that are there)",
                LINE_COLUMNS,
                [line_row(line) for line in reply.zeroed],
            )
        )
    if reply.needs_review:
        parts.append(
            table(
                "Beyond the threshold: count again, or have the back office approve",
                LINE_COLUMNS,
                [line_row(line) for line in reply.needs_review],
            )
        )
    call.emit(data(reply), render=Group(*parts))


@acting(Role.ADMIN, works_at=False)
def approve(
    count_id: CountArgument,
    sku: Annotated[
        list[str] | None, typer.Option("--sku", help="Approve only this line; repeat. Default: all.")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why the variances are accepted.")] = "",
    *,
    call: Call,
) -> None:
    """Accept variances beyond the threshold (back office; not the person who counted them)."""
    request = pb.ApproveCountRequest(request_id=call.request_id, count_id=count_id, skus=sku or [], note=note)
    reply = call.ask(lambda client: client.inventory.ApproveCount, request)
    call.emit(
        data(reply),
        render=table(f"Approved in count {count_id}", LINE_COLUMNS, [line_row(line) for line in reply.approved])
        if reply.approved
        else "Nothing needed an approval.",
    )


@acting(Role.POS)
def complete(count_id: CountArgument, *, call: Call) -> None:
    """Post the count: each variance becomes one COUNT adjustment in the ledger."""
    request = pb.CompleteCountRequest(request_id=call.request_id, count_id=count_id)
    reply = call.ask(lambda client: client.inventory.CompleteCount, request, locate=where_counted(count_id))
    posted = table(
        "Adjustments posted",
        ["sku", "change", "on hand after", "movement"],
        [[m.sku, f"{m.on_hand_delta:+d}", m.on_hand_after, m.movement_id] for m in reply.adjustments],
    )
    shown = count_card(reply.count, f"Count {count_id} completed", call.zone(reply.count.location_id))
    call.emit(
        data(reply),
        render=Group(shown, posted) if reply.adjustments else Group(shown, "The book matched the shelf."),
    )


@acting(Role.POS)
def cancel(
    count_id: CountArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
    *,
    call: Call,
) -> None:
    """Abandon a count: nothing is posted."""
    request = pb.CancelCountRequest(request_id=call.request_id, count_id=count_id, reason=reason)
    count = call.ask(lambda client: client.inventory.CancelCount, request, locate=where_counted(count_id)).count
    call.emit(data(count), render=count_card(count, f"Count {count_id} cancelled", call.zone(count.location_id)))


EXAMPLES = ("omnistock count start --location STORE-BER-MITTE --note 'aisle 3'",)


def register(app: typer.Typer) -> None:
    add_group(
        app,
        "count",
        "Cycle counts while selling: start, scan, review, approve, complete (blind for store staff).",
        {
            "start": start,
            "scan": scan,
            "show": show,
            "list": list_counts,
            "review": review,
            "approve": approve,
            "complete": complete,
            "cancel": cancel,
        },
    )
