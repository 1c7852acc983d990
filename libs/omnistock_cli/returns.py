"""Returns from a terminal: authorise a return of an order's units (at a store, or by post to a
warehouse), receive it with what inspection found (restock, damaged, write off), cancel it, read it.

`create`, `show`, `list` and `cancel` are the back office's (role admin by default); `receive` is the
receiving location's (role pos there by default; `--role warehouse` for a warehouse). Given only a
return id, `receive` first reads the return to learn where it comes back, as the transfer commands do.
A return at the till in one step is `omnistock return` (the same path)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages
from rich.console import Group, RenderableType

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import data, label, when
from omnistock_cli.context import fail
from omnistock_cli.groups import add_group
from omnistock_cli.orders import order_id_of
from omnistock_cli.output import card, table
from omnistock_cli.transfers import quantities
from omnistock_platform.auth import Role

STATUSES = {label(value, pb.ReturnStatus, "RETURN_STATUS_"): value for value in pb.ReturnStatus.values() if value}
CONDITIONS = {
    "restock": pb.RETURN_CONDITION_RESTOCK,
    "damaged": pb.RETURN_CONDITION_DAMAGED,
    "write-off": pb.RETURN_CONDITION_WRITE_OFF,
}
LINE_COLUMNS = ["sku", "quantity", "restocked", "damaged", "written off"]
SET_COLUMNS = ["set", "sets", "each set", "restocked", "damaged", "written off"]
RETURN_COLUMNS = ["return", "order", "channel", "location", "status", "units", "created"]

ReturnArgument = Annotated[str, typer.Argument(metavar="RETURN", help="The return id.")]
ItemsArgument = Annotated[list[str], typer.Argument(metavar="SKU=QTY", help="What comes back, e.g. CUSHION-X=1.")]
RestockOption = Annotated[list[str] | None, typer.Option("--restock", help="SKU=QTY fit to sell again: back on hand.")]
DamagedOption = Annotated[
    list[str] | None, typer.Option("--damaged", help="SKU=QTY damaged: booked in and out, never sold.")
]
WriteOffOption = Annotated[
    list[str] | None, typer.Option("--write-off", help="SKU=QTY not worth keeping: recorded, no stock change.")
]


def return_card(found: pb.Return, title: str, zone: str = "") -> RenderableType:
    """The return, its moments on the clock of the location it comes back to (`zone`)."""
    rows = [
        ("return", found.return_id),
        ("order", found.order_id or "(till sale without an order)"),
        ("channel", label(found.channel, common_pb2.Channel, "CHANNEL_")),
        ("location", f"{found.location_id}{' (by post)' if found.by_post else ''}"),
        ("status", label(found.status, pb.ReturnStatus, "RETURN_STATUS_")),
        ("created", when(found.created_at, zone)),
    ]
    if found.reason:
        rows.append(("reason", found.reason))
    if found.HasField("received_at"):
        rows.append(("received", f"{when(found.received_at, zone)} by {found.received_by}"))
    if found.cancel_reason:
        rows.append(("cancelled", found.cancel_reason))
    lines = [[line.sku, line.quantity, line.restocked, line.damaged, line.written_off] for line in found.lines]
    parts = [card(title, rows), table("Lines", LINE_COLUMNS, lines)]
    if found.sets:
        # Whole sets returned by their SKU: their parts are among the lines above.
        sets = [
            [
                item.sku,
                item.quantity,
                ", ".join(f"{part.quantity} x {part.sku}" for part in item.components),
                item.restocked,
                item.damaged,
                item.written_off,
            ]
            for item in found.sets
        ]
        parts.append(table("Whole sets (their parts are in the lines)", SET_COLUMNS, sets))
    return Group(*parts)


def inspected(
    restock: list[str] | None, damaged: list[str] | None, write_off: list[str] | None
) -> list[pb.InspectedLine]:
    found = [
        pb.InspectedLine(sku=sku, condition=condition, quantity=quantity)
        for option, items, condition in (
            ("--restock", restock, pb.RETURN_CONDITION_RESTOCK),
            ("--damaged", damaged, pb.RETURN_CONDITION_DAMAGED),
            ("--write-off", write_off, pb.RETURN_CONDITION_WRITE_OFF),
        )
        for sku, quantity in quantities(items, option).items()
    ]
    return found


def where_returned(return_id: str) -> Callable[[OmnistockClient], Awaitable[str]]:
    """Where the return comes back, for staff given only a return id."""

    async def read(client: OmnistockClient) -> str:
        reply = await client.call(client.orders.GetReturn, pb.GetReturnRequest(return_id=return_id))
        return str(reply.order_return.location_id)

    return read


@acting(Role.ADMIN)
def create(
    order: Annotated[
        str, typer.Argument(metavar="ORDER", help="The order the units were sold on, or the start of its id (4+).")
    ],
    items: ItemsArgument,
    location: Annotated[
        str, typer.Option("--at", help="Where they come back: a store, or a warehouse with --by-post.")
    ],
    by_post: Annotated[bool, typer.Option("--by-post", help="The customer sends them by post.")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why the customer returns them.")] = "",
    *,
    call: Call,
) -> None:
    """Authorise a return of units an order delivered (at most what it delivered, less earlier returns)."""
    request = pb.CreateReturnRequest(
        request_id=call.request_id,
        order_id=order_id_of(order, call.who(), call.as_json),
        lines=[pb.ReturnLineRequest(sku=sku, quantity=qty) for sku, qty in quantities(items, "SKU=QTY").items()],
        location_id=location,
        by_post=by_post,
        reason=reason,
    )
    found = call.ask(lambda client: client.orders.CreateReturn, request, at=[location]).order_return
    call.emit(
        data(found), render=return_card(found, f"Return {found.return_id} authorised", call.zone(found.location_id))
    )


@acting(Role.POS)
def receive(
    return_id: ReturnArgument,
    restock: RestockOption = None,
    damaged: DamagedOption = None,
    write_off: WriteOffOption = None,
    *,
    call: Call,
) -> None:
    """Receive a return with what inspection found: every unit restocked, damaged or written off."""
    lines = inspected(restock, damaged, write_off)
    if not lines:
        fail("say what became of the units", hint="for example --restock CUSHION-X=1 --damaged CUSHION-X=1")
    request = pb.ReceiveReturnRequest(request_id=call.request_id, return_id=return_id, lines=lines)
    found = call.ask(lambda client: client.orders.ReceiveReturn, request, locate=where_returned(return_id)).order_return
    call.emit(
        data(found),
        render=return_card(
            found, f"Return {found.return_id} received at {found.location_id}", call.zone(found.location_id)
        ),
    )


@acting(Role.ADMIN)
def cancel(
    return_id: ReturnArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
    *,
    call: Call,
) -> None:
    """Cancel an authorised return whose units have not arrived."""
    request = pb.CancelReturnRequest(request_id=call.request_id, return_id=return_id, reason=reason)
    found = call.ask(lambda client: client.orders.CancelReturn, request).order_return
    call.emit(
        data(found), render=return_card(found, f"Return {found.return_id} cancelled", call.zone(found.location_id))
    )


@acting(Role.ADMIN, writes=False)
def show(return_id: ReturnArgument, *, call: Call) -> None:
    """One return: where it comes back, its lines and what became of them."""
    request = pb.GetReturnRequest(return_id=return_id)
    found = call.ask(lambda client: client.orders.GetReturn, request).order_return
    call.emit(data(found), render=return_card(found, f"Return {found.return_id}", call.zone(found.location_id)))


@acting(Role.ADMIN, writes=False)
def list_returns(
    order: Annotated[str, typer.Option("--order", help="Only returns of this order.")] = "",
    location: Annotated[str, typer.Option("--location", "-l", help="Only returns coming back here.")] = "",
    status: Annotated[str | None, typer.Option("--status", help=f"One of: {', '.join(STATUSES)}.")] = None,
    *,
    call: Call,
) -> None:
    """Returns, newest first."""
    code = 0
    if status is not None:
        code = STATUSES.get(status.strip().lower(), 0)
        if not code:
            fail(f"unknown status {status!r}", hint=f"one of {', '.join(STATUSES)}")

    order_id = order_id_of(order, call.who(), call.as_json) if order else ""
    request = pb.ListReturnsRequest(order_id=order_id, location_id=location, status=code)  # type: ignore[arg-type]

    async def work(client: OmnistockClient) -> list[pb.Return]:
        return await all_pages(client, client.orders.ListReturns, request, "returns")

    found = call.run(work, at=[location] if location else [])
    zones = call.zones(r.location_id for r in found)
    rows = [
        [
            r.return_id,
            r.order_id or "(till)",
            label(r.channel, common_pb2.Channel, "CHANNEL_"),
            r.location_id,
            label(r.status, pb.ReturnStatus, "RETURN_STATUS_"),
            sum(line.quantity for line in r.lines),
            when(r.created_at, zones.get(r.location_id, "")),
        ]
        for r in found
    ]
    call.emit(
        {"returns": [data(r) for r in found]},
        render=table("Returns", RETURN_COLUMNS, rows) if rows else "No returns.",
    )


EXAMPLES = ("omnistock returns create ORDER-ID CUSHION-VELVET-GREEN=1 --at STORE-BER-MITTE",)


def register(app: typer.Typer) -> None:
    add_group(
        app,
        "returns",
        "Returns of an order's units: create (authorise), receive (restock, damaged, write off), cancel, show, list.",
        {"create": create, "receive": receive, "cancel": cancel, "show": show, "list": list_returns},
    )
