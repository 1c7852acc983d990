"""Transfers from a terminal: a warehouse (or a store) sends stock to another location, the
destination receives it and books what arrived damaged or short.

`create`, `ship` and `cancel` are the origin's (role warehouse at the origin by default); `receive` is
the destination's (role pos at the destination); `show` and `list` are the back office's (role admin).
Given only a transfer id, a staff command first reads the transfer to learn its ends, as the count
commands do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

import grpc
import typer
from google.protobuf.timestamp_pb2 import Timestamp
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages
from rich.console import Group
from rich.table import Table

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import data, label, status_code, when
from omnistock_cli.context import fail
from omnistock_cli.groups import add_group
from omnistock_cli.output import table
from omnistock_platform.auth import Role
from omnistock_platform.owners import reservation_of
from omnistock_platform.validation import whole_number

STATUSES = {
    label(value, pb.TransferStatus, "TRANSFER_STATUS_").replace(" ", "-"): value
    for value in pb.TransferStatus.values()
    if value
}
LINE_COLUMNS = ["sku", "quantity", "received", "damaged", "short", "over"]
TRANSFER_COLUMNS = ["transfer", "from", "to", "status", "units", "in transit", "created"]

# A reservation whose units are still held for it; any other is closed.
OPEN_RESERVATIONS = (
    rpb.RESERVATION_STATUS_ACTIVE,
    rpb.RESERVATION_STATUS_READY_FOR_PICKUP,
    rpb.RESERVATION_STATUS_AWAITING_TRANSFER,
)

TransferArgument = Annotated[str, typer.Argument(metavar="TRANSFER", help="The transfer id.")]


def quantities(items: list[str] | None, option: str) -> dict[str, int]:
    """SKU=QTY pairs (SKU:QTY works too), each SKU once."""
    found: dict[str, int] = {}
    for item in items or []:
        sku, sep, number = item.replace(":", "=").rpartition("=")
        units = whole_number(number.strip())
        if not sep or not sku.strip() or units is None:
            fail(f"{option} {item!r} is not SKU=QTY", hint=f"for example {option} SOFA-VELVET-GREEN=4")
        if sku.strip() in found:
            fail(f"{option} names {sku.strip()} twice", hint="give each SKU once")
        found[sku.strip()] = units
    return found


def transfer_card(
    transfer: pb.Transfer,
    title: str,
    reservation: rpb.Reservation | None = None,
    zones: Mapping[str, str] | None = None,
) -> Group:
    """The transfer; each moment on the clock of the end it happens at (`zones` by location id, else UTC):
    the arrival at the destination's, the rest at the origin's."""
    origin = (zones or {}).get(transfer.origin_location_id, "")
    destination = (zones or {}).get(transfer.destination_location_id, "")
    card = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    card.add_column(style="dim")
    card.add_column()
    rows = [
        ("transfer", transfer.transfer_id),
        ("from", transfer.origin_location_id),
        ("to", transfer.destination_location_id),
        ("status", label(transfer.status, pb.TransferStatus, "TRANSFER_STATUS_")),
        ("in transit", f"{transfer.units_in_transit} units"),
    ]
    if transfer.HasField("expected_arrival_at"):
        rows.append(("expected", when(transfer.expected_arrival_at, destination)))
    if transfer.hold_owner:
        rows.append(("held for", held_for(transfer, reservation)))
    if transfer.note:
        rows.append(("note", transfer.note))
    rows.append(("created", f"{when(transfer.created_at, origin)} by {transfer.created_by}"))
    if transfer.HasField("shipped_at"):
        rows.append(("shipped", when(transfer.shipped_at, origin)))
    if transfer.HasField("received_at"):
        rows.append(("received", when(transfer.received_at, destination)))
    if transfer.HasField("cancelled_at"):
        rows.append(("cancelled", f"{when(transfer.cancelled_at, origin)} {transfer.cancel_reason}".strip()))
    for name, value in rows:
        card.add_row(name, value)
    lines = [[line.sku, line.quantity, line.received, line.damaged, line.short, line.over] for line in transfer.lines]
    return Group(card, table("Lines", LINE_COLUMNS, lines))


def ends(call: Call, transfer: pb.Transfer) -> dict[str, str]:
    """The time zones of the transfer's two ends."""
    return call.zones([transfer.origin_location_id, transfer.destination_location_id])


def held_for(transfer: pb.Transfer, reservation: rpb.Reservation | None) -> str:
    """Whom the transfer's units are held for. The transfer keeps the owner it was made for, also
    after that reservation was cancelled (or expired, or became an order): then, when the
    reservation could be read (`reservation`), the card says what became of it, not that the
    units are still held for it."""
    held = transfer.arrival_hold_id or transfer.origin_hold_id
    if reservation is None or reservation.status in OPEN_RESERVATIONS:
        return f"{transfer.hold_owner} (hold {held})"
    status = label(reservation.status, rpb.ReservationStatus, "RESERVATION_STATUS_")
    became = f", became order {reservation.order_id}" if reservation.order_id else ""
    return f"no one: {transfer.hold_owner} is {status}{became}; the units are no longer held for it"


async def owning_reservation(client: OmnistockClient, transfer: pb.Transfer) -> rpb.Reservation | None:
    """The reservation the transfer's units were held for, when a reservation and the caller may read it."""
    reservation_id = reservation_of(transfer.hold_owner)
    if not reservation_id:
        return None
    try:
        request = rpb.GetReservationRequest(reservation_id=reservation_id)
        return (await client.call(client.reservations.GetReservation, request)).reservation
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return None  # shown as the transfer names it
        raise


def end_of(transfer_id: str, end: str) -> Callable[[OmnistockClient], Awaitable[str]]:
    """The transfer's `end` (origin or destination), for staff given only a transfer id."""

    async def read(client: OmnistockClient) -> str:
        reply = await client.call(client.inventory.GetTransfer, pb.GetTransferRequest(transfer_id=transfer_id))
        return str(getattr(reply.transfer, f"{end}_location_id"))

    return read


# ---------------------------------------------------------------------------------------------
# The commands.


@acting(Role.WAREHOUSE, works_at=False)
def create(
    origin: Annotated[str, typer.Option("--from", help="Where the units leave from.")],
    destination: Annotated[str, typer.Option("--to", help="Where they go.")],
    sku: Annotated[list[str], typer.Option("--sku", help="SKU=QTY to move; repeat for more.")],
    arrives: Annotated[
        datetime | None, typer.Option("--arrives", help="When the units are expected (ISO time).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why, or what the driver should know.")] = "",
    *,
    call: Call,
) -> None:
    """Draft a transfer from one location to another: nothing moves until it ships."""
    lines = quantities(sku, "--sku")
    request = pb.CreateTransferRequest(
        request_id=call.request_id,
        origin_location_id=origin,
        destination_location_id=destination,
        lines=[pb.TransferLineRequest(sku=name, quantity=quantity) for name, quantity in lines.items()],
        note=note,
    )
    if arrives is not None:
        stamp = Timestamp()
        stamp.FromDatetime(arrives)
        request.expected_arrival_at.CopyFrom(stamp)

    at = [destination] if call.role is Role.POS else [origin]
    transfer = call.ask(lambda client: client.inventory.CreateTransfer, request, at=at).transfer
    call.emit(
        data(transfer),
        render=transfer_card(transfer, f"Transfer {transfer.transfer_id} drafted", zones=ends(call, transfer)),
    )


@acting(Role.WAREHOUSE)
def ship(transfer_id: TransferArgument, *, call: Call) -> None:
    """Ship a draft: its units leave on hand at the origin and are in transit to the destination."""
    request = pb.ShipTransferRequest(request_id=call.request_id, transfer_id=transfer_id)
    reply = call.ask(lambda client: client.inventory.ShipTransfer, request, locate=end_of(transfer_id, "origin"))
    call.emit(
        data(reply),
        render=transfer_card(reply.transfer, f"Transfer {transfer_id} shipped", zones=ends(call, reply.transfer)),
    )


@acting(Role.POS)
def receive(
    transfer_id: TransferArgument,
    got: Annotated[
        list[str] | None, typer.Option("--got", help="SKU=QTY good units that arrived; repeat. Unnamed: short.")
    ] = None,
    damaged: Annotated[list[str] | None, typer.Option("--damaged", help="SKU=QTY that arrived damaged.")] = None,
    *,
    call: Call,
) -> None:
    """Receive a shipped transfer: good units go on hand; damaged, short and over are booked per line."""
    good, broken = quantities(got, "--got"), quantities(damaged, "--damaged")
    request = pb.ReceiveTransferRequest(
        request_id=call.request_id,
        transfer_id=transfer_id,
        lines=[
            pb.TransferArrival(sku=sku, received=good.get(sku, 0), damaged=broken.get(sku, 0))
            for sku in sorted(set(good) | set(broken))
        ],
    )
    reply = call.ask(
        lambda client: client.inventory.ReceiveTransfer, request, locate=end_of(transfer_id, "destination")
    )
    call.emit(
        data(reply),
        render=transfer_card(reply.transfer, f"Transfer {transfer_id} received", zones=ends(call, reply.transfer)),
    )


@acting(Role.WAREHOUSE)
def cancel(
    transfer_id: TransferArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why.")] = "",
    *,
    call: Call,
) -> None:
    """Cancel a draft (a shipped transfer is received instead, short if its units are lost)."""
    request = pb.CancelTransferRequest(request_id=call.request_id, transfer_id=transfer_id, reason=reason)
    transfer = call.ask(
        lambda client: client.inventory.CancelTransfer, request, locate=end_of(transfer_id, "origin")
    ).transfer
    call.emit(
        data(transfer), render=transfer_card(transfer, f"Transfer {transfer_id} cancelled", zones=ends(call, transfer))
    )


@acting(Role.ADMIN, writes=False)
def show(transfer_id: TransferArgument, *, call: Call) -> None:
    """A transfer with its lines and what became of every unit."""
    request = pb.GetTransferRequest(transfer_id=transfer_id)

    async def work(client: OmnistockClient) -> tuple[pb.Transfer, rpb.Reservation | None]:
        transfer = (await client.call(client.inventory.GetTransfer, request)).transfer
        return transfer, await owning_reservation(client, transfer)

    transfer, reservation = call.run(work, at=call.locate(end_of(transfer_id, "origin")))
    call.emit(
        data(transfer), render=transfer_card(transfer, f"Transfer {transfer_id}", reservation, ends(call, transfer))
    )


@acting(Role.ADMIN, writes=False, works_at=False)
def list_transfers(
    location_id: Annotated[str, typer.Option("--location", "-l", help="Only transfers from or to here.")] = "",
    status: Annotated[str | None, typer.Option("--status", help=f"Only {', '.join(STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many transfers.")] = 50,
    *,
    call: Call,
) -> None:
    """Transfers, newest first (staff, with --role pos or warehouse: at --location, one of theirs)."""
    code = status_code(status, STATUSES)
    request = pb.ListTransfersRequest(location_id=location_id, status=code)  # type: ignore[arg-type]

    async def work(client: OmnistockClient) -> list[pb.Transfer]:
        return await all_pages(client, client.inventory.ListTransfers, request, "transfers", limit=limit)

    found = call.run(work, at=[location_id] if location_id else [])
    zones = call.zones(t.origin_location_id for t in found)
    rows: list[list[Any]] = [
        [
            t.transfer_id,
            t.origin_location_id,
            t.destination_location_id,
            label(t.status, pb.TransferStatus, "TRANSFER_STATUS_"),
            sum(line.quantity for line in t.lines),
            t.units_in_transit,
            when(t.created_at, zones.get(t.origin_location_id, "")),
        ]
        for t in found
    ]
    call.emit(
        {"transfers": [data(t) for t in found]},
        render=table("Transfers", TRANSFER_COLUMNS, rows) if rows else "No transfers.",
    )


EXAMPLES = ("omnistock transfer create --from WH-BER --to STORE-BER-MITTE --sku SOFA-VELVET-BLUE=3",)


def register(app: typer.Typer) -> None:
    add_group(
        app,
        "transfer",
        "Transfers between locations: create, ship, receive (damaged and short booked), cancel, show, list.",
        {"create": create, "ship": ship, "receive": receive, "cancel": cancel, "show": show, "list": list_transfers},
    )
