"""`omnistock verify`: the system's invariants, checked now. Inventory's stock invariants are
read from its tables (the same checks the tests run); across services, through their APIs, every
active hold of a reservation or an order must belong to one that exists and holds it, and every
open reservation and every held allocation of an order must have its active hold. Exit 1 on any
violation."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import typer
from google.protobuf.message import Message
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.context import ADMIN, Caller, JsonOption, TokenOption, call_services, fail, load_settings, run_async
from omnistock_cli.output import console, emit, err_console, table
from omnistock_platform.db import Database
from omnistock_platform.embedded import EmbeddedPostgres
from omnistock_platform.invariants import ORDER_OWNER, RESERVATION_OWNER, Violation, run_checks, snapshot_of
from omnistock_platform.settings import SERVICES, Settings

T = TypeVar("T")

OPEN = (rpb.RESERVATION_STATUS_ACTIVE, rpb.RESERVATION_STATUS_READY_FOR_PICKUP)
HOLDING_ORDER = (opb.ORDER_STATUS_ALLOCATED, opb.ORDER_STATUS_PARTIALLY_SHIPPED, opb.ORDER_STATUS_BACKORDERED)
HOLD_WITHOUT_OWNER = "active hold without a live owner"
# A mismatch between two lists read while the system runs is read again this much later.
RECHECK_AFTER = 2.0


@dataclass(frozen=True)
class Finding:
    area: str
    check: str
    subject: str
    detail: str


async def inventory_findings(settings: Settings) -> list[Finding]:
    # Inventory's own checks, found at run time: the command works wherever inventory is installed.
    check_invariants = importlib.import_module("omnistock_inventory.service_layer.verify").check_invariants
    db = Database(settings.database_url or "", min_size=1, max_size=2)
    await db.connect()
    try:
        return [Finding("inventory", v.check, v.subject, v.detail) for v in await check_invariants(db)]
    finally:
        await db.close()


async def _with_status(
    client: OmnistockClient, method: Callable[..., Awaitable[Any]], requests: list[Message], field: str, key: str
) -> dict[str, Any]:
    """Every item of each paged list request (one per status), by its id."""
    found: dict[str, Any] = {}
    for request in requests:
        for item in await all_pages(client, method, request, field):
            found[getattr(item, key)] = item
    return found


async def open_reservations(client: OmnistockClient) -> dict[str, rpb.Reservation]:
    requests: list[Message] = [rpb.ListReservationsRequest(status=status) for status in OPEN]
    return await _with_status(client, client.reservations.ListReservations, requests, "reservations", "reservation_id")


async def open_orders(client: OmnistockClient) -> dict[str, opb.Order]:
    requests: list[Message] = [opb.ListOrdersRequest(status=status) for status in HOLDING_ORDER]
    return await _with_status(client, client.orders.ListOrders, requests, "orders", "order_id")


async def active_holds(client: OmnistockClient, owner_prefix: str) -> dict[str, ipb.Hold]:
    request = ipb.ListHoldsRequest(owner_prefix=owner_prefix, state=ipb.HOLD_STATE_ACTIVE)
    return {hold.hold_id: hold for hold in await all_pages(client, client.inventory.ListHolds, request, "holds")}


async def _found(call: Awaitable[T]) -> T | None:
    """The answer, or None when the service says NOT_FOUND."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


async def _reservation(client: OmnistockClient, reservation_id: str) -> rpb.Reservation | None:
    request = rpb.GetReservationRequest(reservation_id=reservation_id)
    reply = await _found(client.call(client.reservations.GetReservation, request))
    return reply.reservation if reply is not None else None


async def _order(client: OmnistockClient, order_id: str) -> opb.Order | None:
    reply = await _found(client.call(client.orders.GetOrder, opb.GetOrderRequest(order_id=order_id)))
    return reply.order if reply is not None else None


async def _hold(client: OmnistockClient, hold_id: str) -> ipb.Hold | None:
    reply = await _found(client.call(client.inventory.GetHold, ipb.GetHoldRequest(hold_id=hold_id)))
    return reply.hold if reply is not None else None


def _held_by(order: opb.Order) -> set[str]:
    """The holds an order's held allocations count on."""
    return {a.hold_id for a in order.allocations if a.status == opb.ALLOCATION_STATUS_HELD and a.hold_id}


def _units(hold: ipb.Hold) -> str:
    return f"{sum(line.open for line in hold.lines)} units held"


Recheck = Callable[[OmnistockClient], Awaitable[Finding | None]]


def _label(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


@dataclass(frozen=True)
class OwnerKind:
    """What owns holds, and how to tell that one of them still holds a given hold."""

    area: str
    noun: str
    prefix: str
    fetch: Callable[[OmnistockClient, str], Awaitable[Any]]
    being_made: Callable[[Any], bool]
    holds: Callable[[Any, str], bool]
    describe: Callable[[Any], str]


RESERVATIONS = OwnerKind(
    "reservations",
    "reservation",
    RESERVATION_OWNER,
    _reservation,
    lambda r: r.status == rpb.RESERVATION_STATUS_PENDING,
    lambda r, hold_id: r.status in OPEN and r.hold_id == hold_id,
    lambda r: (
        f"the reservation is {_label(rpb.ReservationStatus, r.status, 'RESERVATION_STATUS_')}"
        f" and holds {r.hold_id or 'nothing'}"
    ),
)
ORDERS = OwnerKind(
    "orders",
    "order",
    ORDER_OWNER,
    _order,
    lambda o: o.status == opb.ORDER_STATUS_PENDING,
    lambda o, hold_id: hold_id in _held_by(o),
    lambda o: (
        f"the order is {_label(opb.OrderStatus, o.status, 'ORDER_STATUS_')}"
        " and none of its held allocations is under this hold"
    ),
)


async def _hold_without_owner(client: OmnistockClient, *, kind: OwnerKind, hold_id: str) -> Finding | None:
    """The hold, read again: still active, and its owner does not exist or does not hold it."""
    hold = await _hold(client, hold_id)
    if hold is None or hold.state != ipb.HOLD_STATE_ACTIVE or not hold.owner.startswith(kind.prefix):
        return None
    owner = await kind.fetch(client, hold.owner.removeprefix(kind.prefix))
    if owner is None:
        problem = f"no such {kind.noun}"
    elif kind.being_made(owner) or kind.holds(owner, hold_id):
        return None  # being made, or holding it after all
    else:
        problem = kind.describe(owner)
    return Finding(kind.area, HOLD_WITHOUT_OWNER, hold_id, f"owner {hold.owner}: {problem}; {_units(hold)}")


async def reservation_suspects(client: OmnistockClient) -> list[Recheck]:
    """Open reservations against active reservation holds: each mismatch, to be read again."""
    reservations = await open_reservations(client)
    active = await active_holds(client, RESERVATION_OWNER)
    suspects: list[Recheck] = []
    for reservation in reservations.values():
        if reservation.hold_id not in active:
            suspects.append(partial(_reservation_without_hold, reservation_id=reservation.reservation_id))
    for hold in active.values():
        holder = reservations.get(hold.owner.removeprefix(RESERVATION_OWNER))
        if holder is None or holder.hold_id != hold.hold_id:
            suspects.append(partial(_hold_without_owner, kind=RESERVATIONS, hold_id=hold.hold_id))
    return suspects


async def _reservation_without_hold(client: OmnistockClient, *, reservation_id: str) -> Finding | None:
    current = await _reservation(client, reservation_id)
    if current is None or current.status not in OPEN:
        return None
    hold = await _hold(client, current.hold_id) if current.hold_id else None
    if hold is not None and hold.state == ipb.HOLD_STATE_ACTIVE:
        return None
    return Finding(
        "reservations",
        "open reservation without an active hold",
        current.reservation_id,
        f"status {rpb.ReservationStatus.Name(current.status)}, hold {current.hold_id or '(none)'}",
    )


async def order_suspects(client: OmnistockClient) -> list[Recheck]:
    """Open orders' held allocations against active order holds: each mismatch, to be read again."""
    orders = await open_orders(client)
    active = await active_holds(client, ORDER_OWNER)
    holder = {hold_id: order.order_id for order in orders.values() for hold_id in _held_by(order)}
    suspects: list[Recheck] = []
    for hold in active.values():
        if holder.get(hold.hold_id) != hold.owner.removeprefix(ORDER_OWNER):
            suspects.append(partial(_hold_without_owner, kind=ORDERS, hold_id=hold.hold_id))
    for hold_id, order_id in holder.items():
        if hold_id not in active:
            suspects.append(partial(_allocation_without_hold, order_id=order_id, hold_id=hold_id))
    return suspects


async def _allocation_without_hold(client: OmnistockClient, *, order_id: str, hold_id: str) -> Finding | None:
    order = await _order(client, order_id)
    if order is None or order.status not in HOLDING_ORDER or hold_id not in _held_by(order):
        return None
    hold = await _hold(client, hold_id)
    if hold is None:
        problem = "does not exist"
    elif hold.state != ipb.HOLD_STATE_ACTIVE:
        problem = f"is {_label(ipb.HoldState, hold.state, 'HOLD_STATE_')}"
    elif hold.owner != f"{ORDER_OWNER}{order_id}":
        problem = f"belongs to {hold.owner}"
    else:
        return None
    status = _label(opb.OrderStatus, order.status, "ORDER_STATUS_")
    return Finding("orders", "held allocation without its active hold", order_id, f"{status}: hold {hold_id} {problem}")


async def owner_findings(client: OmnistockClient, recheck_after: float = RECHECK_AFTER) -> list[Finding]:
    """Every active hold of a reservation or an order: its owner exists and holds it; and every
    open reservation and held allocation has its active hold. The lists are read one after the
    other while the system runs, so a change in flight can look wrong: every mismatch is read
    again, one by one, after `recheck_after` seconds, and only what is still wrong is reported."""
    suspects = await reservation_suspects(client) + await order_suspects(client)
    if not suspects:
        return []
    await asyncio.sleep(recheck_after)
    findings = [await recheck(client) for recheck in suspects]
    return [finding for finding in findings if finding is not None]


async def snapshot_findings(settings: Settings, recheck_after: float = RECHECK_AFTER) -> list[Finding]:
    """The checks of omnistock_platform.invariants (those the chaos suite runs) on one snapshot of
    every schema. A violation is reported only if a second snapshot, `recheck_after` seconds
    later, still shows it among what has not changed since the first: a change in flight is not."""
    db = Database(settings.database_url or "", min_size=1, max_size=1)
    await db.connect()
    try:
        first = await snapshot_of(settings, db=db)
        suspects = {(v.check, v.subject) for v in run_checks(first)}
        if not suspects:
            return []
        await asyncio.sleep(recheck_after)
        second = await snapshot_of(settings, db=db)
        second.cutoff = min(second.cutoff, first.at)
        return [
            Finding(_area(v), v.check, v.subject, v.detail)
            for v in run_checks(second)
            if (v.check, v.subject) in suspects
        ]
    finally:
        await db.close()


def _area(violation: Violation) -> str:
    """The service a snapshot violation is about, as far as its subject says."""
    first = violation.subject.split(maxsplit=1)[0].split(".", 1)[0]
    return first if first in SERVICES else "system"


def _database_settings(settings: Settings, data_dir: Path | None) -> tuple[Settings, EmbeddedPostgres | None]:
    if settings.database_url:
        return settings, None
    directory = (data_dir or settings.data_dir).expanduser().resolve() / "postgres"
    if not directory.exists():
        fail("DATABASE_URL is not set and there is no embedded PostgreSQL", hint=f"looked in {directory}")
    postgres = EmbeddedPostgres(directory)
    return settings.model_copy(update={"database_url": postgres.start()}), postgres


def verify(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where `omnistock up` keeps embedded PostgreSQL.")
    ] = None,
    skip_services: Annotated[
        bool, typer.Option("--inventory-only", help="Only the database checks of inventory.")
    ] = False,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot",
            help="Every invariant of every service from one database snapshot (whole tables are read: "
            "for a quiet system or a copy of its database).",
        ),
    ] = False,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the invariants (stock, ledger, holds, outbox; every active hold's reservation or order exists
    and holds it, and theirs are active); exit 1 on a violation."""
    settings, postgres = _database_settings(load_settings(), data_dir)
    try:
        findings = run_async(snapshot_findings(settings) if snapshot else inventory_findings(settings), as_json=as_json)
    except typer.Exit:
        raise
    except Exception as error:  # refused connection, unknown database, no inventory schema: say which
        fail(
            f"cannot read inventory's tables: {type(error).__name__}: {error}",
            hint="is DATABASE_URL right, PostgreSQL running and migrated (`omnistock migrate`)?",
        )
    finally:
        if postgres is not None:
            postgres.stop()
    if not skip_services and not snapshot:
        findings += call_services(owner_findings, Caller(token=token) if token else ADMIN, as_json=as_json)
    rows = [[f.area, f.check, f.subject, f.detail] for f in findings]
    summary = "Every invariant holds." if not findings else f"{len(findings)} violation(s)."
    emit(
        {"ok": not findings, "violations": [asdict(f) for f in findings]},
        as_json=as_json,
        render=table(summary, ["area", "check", "subject", "detail"], rows) if rows else f"[green]{summary}[/]",
    )
    if findings:
        if not as_json:
            err_console.print("[red]verify found violations[/]")
        raise typer.Exit(1)
    if not as_json:
        checked = (
            "every invariant of every service (omnistock_platform.invariants)"
            if snapshot
            else "stock counters, ledger replay, holds vs held, settled holds, commits, outbox"
            + ("" if skip_services else ", holds vs their reservations and orders")
        )
        console.print(f"[dim]checked: {checked}[/]")


EXAMPLES = ("omnistock verify",)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
