"""`omnistock verify`: the system's invariants, checked now. Inventory's stock invariants are
read from its tables (the same checks the tests run); across services, through their APIs, every
active hold of a reservation or an order must belong to one that exists and holds it, and every
open reservation and every held allocation of an order must have its active hold. Exit 1 on any
violation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import typer
from google.protobuf.message import Message
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.context import ADMIN, Caller, JsonOption, TokenOption, call_services, fail, load_settings, run_async
from omnistock_cli.output import console, emit, err_console, styled, table
from omnistock_platform import facts, owners
from omnistock_platform.db import Database
from omnistock_platform.embedded import EmbeddedPostgres
from omnistock_platform.invariants import Snapshot, Violation, run_checks, run_owner_checks, snapshot_of
from omnistock_platform.registry import own_checks_of
from omnistock_platform.services import SERVICES
from omnistock_platform.settings import Settings

T = TypeVar("T")

# The reservation statuses in which inventory keeps its units at its store.
OPEN = (rpb.RESERVATION_STATUS_ACTIVE, rpb.RESERVATION_STATUS_READY_FOR_PICKUP)
AWAITING = rpb.RESERVATION_STATUS_AWAITING_TRANSFER
HOLDING_ORDER = (opb.ORDER_STATUS_ALLOCATED, opb.ORDER_STATUS_PARTIALLY_SHIPPED, opb.ORDER_STATUS_BACKORDERED)
DONE_ALLOCATION = (opb.ALLOCATION_STATUS_SHIPPED, opb.ALLOCATION_STATUS_HANDED_OVER)
# A mismatch between two lists read while the system runs is read again this much later.
RECHECK_AFTER = 2.0
# Lookups of single owners and holds in flight at once.
LOOKUPS_AT_ONCE = 16


@dataclass(frozen=True)
class Finding:
    area: str
    check: str
    subject: str
    detail: str


async def inventory_findings(settings: Settings) -> list[Finding]:
    """Inventory's own stock checks (the queries its tests and the chaos suite run)."""
    violations = own_checks_of("inventory")
    if violations is None:
        fail("inventory is not installed here", hint="install the omnistock package with its services")
    db = Database(settings.database_url or "", min_size=1, max_size=2)
    await db.connect()
    try:
        async with db.transaction(isolation="repeatable_read") as conn:
            found: list[Violation] = await violations(conn)
        return [Finding("inventory", v.check, v.subject, v.detail) for v in found]
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


async def _found(call: Awaitable[T]) -> T | None:
    """The answer, or None when the service says NOT_FOUND."""
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


async def _each(ids: set[str], fetch: Callable[[str], Awaitable[T | None]]) -> dict[str, T]:
    """`fetch` of every id, a few at a time; those not found are left out."""
    limit = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def one(item_id: str) -> tuple[str, T | None]:
        async with limit:
            return item_id, await fetch(item_id)

    pairs = await asyncio.gather(*(one(item_id) for item_id in sorted(ids)))
    return {item_id: item for item_id, item in pairs if item is not None}


def _word(enum: Any, value: int, prefix: str) -> str:
    """A status as the services show it in a finding: RESERVATION_STATUS_READY_FOR_PICKUP ->
    ready_for_pickup. What it means for the rules is set from the enum itself, beside it."""
    return str(enum.Name(value)).removeprefix(prefix).lower()


def _hold_fact(hold: ipb.Hold, at: datetime) -> facts.Hold:
    lines = {
        (line.location_id, line.sku): facts.HoldLine(line.quantity, line.committed, line.released)
        for line in hold.lines
    }
    state = _word(ipb.HoldState, hold.state, "HOLD_STATE_")
    created = hold.created_at.ToDatetime(UTC)
    return facts.Hold(hold.hold_id, hold.owner, state, created, at, lines, active=hold.state == ipb.HOLD_STATE_ACTIVE)


def _reservation_fact(r: rpb.Reservation, at: datetime) -> facts.Reservation:
    status = _word(rpb.ReservationStatus, r.status, "RESERVATION_STATUS_")
    lines = {line.sku: line.quantity for line in r.lines}
    created = r.created_at.ToDatetime(UTC)
    return facts.Reservation(
        r.reservation_id,
        "",
        status,
        r.store_id,
        r.hold_id,
        r.order_id,
        lines,
        created,
        at,
        r.transfer_id,
        pending=r.status == rpb.RESERVATION_STATUS_PENDING,
        holds_stock=r.status in OPEN,
        awaiting_transfer=r.status == AWAITING,
        collected=r.status == rpb.RESERVATION_STATUS_COLLECTED,
    )


def _transfer_fact(t: ipb.Transfer, at: datetime) -> facts.Transfer:
    status = _word(ipb.TransferStatus, t.status, "TRANSFER_STATUS_")
    lines = {line.sku: line.quantity for line in t.lines}
    return facts.Transfer(
        t.transfer_id,
        t.origin_location_id,
        t.destination_location_id,
        status,
        t.hold_owner,
        t.origin_hold_id,
        t.arrival_hold_id,
        lines,
        at,
        draft=t.status == ipb.TRANSFER_STATUS_DRAFT,
        in_transit=t.status == ipb.TRANSFER_STATUS_SHIPPED,
    )


def _order_fact(o: opb.Order, at: datetime) -> facts.Order:
    allocations = tuple(
        facts.Allocation(
            a.allocation_id,
            a.location_id,
            a.hold_id,
            _word(opb.AllocationStatus, a.status, "ALLOCATION_STATUS_"),
            {line.sku: line.quantity for line in a.lines},
            held=a.status == opb.ALLOCATION_STATUS_HELD,
            shipped=a.status == opb.ALLOCATION_STATUS_SHIPPED,
            done=a.status in DONE_ALLOCATION,
        )
        for a in o.allocations
    )
    status = _word(opb.OrderStatus, o.status, "ORDER_STATUS_")
    method = _word(common_pb2.FulfilmentMethod, o.method, "FULFILMENT_METHOD_")
    return facts.Order(
        o.order_id,
        "",
        status,
        method,
        "",
        o.created_at.ToDatetime(UTC),
        at,
        allocations,
        pending=o.status == opb.ORDER_STATUS_PENDING,
        worked=o.method != common_pb2.FULFILMENT_METHOD_CARRY_OUT,
    )


async def api_snapshot(client: OmnistockClient) -> Snapshot:
    """The facts the owner rules need, read through the services' APIs: the active holds of
    reservations and orders, the open reservations and orders, and, one by one, the owners and
    holds those name that the lists leave out (a cancelled reservation, a released hold). The lists
    are read one after the other, not at one instant: `owner_findings` reads twice."""
    at = datetime.now(UTC)
    holds = {}
    for prefix in (owners.RESERVATION, owners.ORDER):
        request = ipb.ListHoldsRequest(owner_prefix=prefix, state=ipb.HOLD_STATE_ACTIVE)
        holds.update({h.hold_id: h for h in await all_pages(client, client.inventory.ListHolds, request, "holds")})
    reservations: dict[str, rpb.Reservation] = await _with_status(
        client,
        client.reservations.ListReservations,
        [rpb.ListReservationsRequest(status=status) for status in (*OPEN, AWAITING)],
        "reservations",
        "reservation_id",
    )
    orders: dict[str, opb.Order] = await _with_status(
        client,
        client.orders.ListOrders,
        [opb.ListOrdersRequest(status=status) for status in HOLDING_ORDER],
        "orders",
        "order_id",
    )
    owned = [owners.owner_kind(hold.owner) for hold in holds.values()]

    async def reservation(reservation_id: str) -> rpb.Reservation | None:
        request = rpb.GetReservationRequest(reservation_id=reservation_id)
        reply = await _found(client.call(client.reservations.GetReservation, request))
        return reply.reservation if reply is not None else None

    async def order(order_id: str) -> opb.Order | None:
        reply = await _found(client.call(client.orders.GetOrder, opb.GetOrderRequest(order_id=order_id)))
        return reply.order if reply is not None else None

    async def hold(hold_id: str) -> ipb.Hold | None:
        reply = await _found(client.call(client.inventory.GetHold, ipb.GetHoldRequest(hold_id=hold_id)))
        return reply.hold if reply is not None else None

    async def transfer(transfer_id: str) -> ipb.Transfer | None:
        request = ipb.GetTransferRequest(transfer_id=transfer_id)
        reply = await _found(client.call(client.inventory.GetTransfer, request))
        return reply.transfer if reply is not None else None

    reservations |= await _each({i for kind, i in owned if kind == "reservation"} - set(reservations), reservation)
    orders |= await _each({i for kind, i in owned if kind == "order"} - set(orders), order)
    transfers = await _each({r.transfer_id for r in reservations.values() if r.transfer_id}, transfer)
    named = {r.hold_id for r in reservations.values() if r.hold_id}
    named |= {a.hold_id for o in orders.values() for a in o.allocations if a.hold_id}
    named |= {h for t in transfers.values() for h in (t.origin_hold_id, t.arrival_hold_id) if h}
    holds |= await _each(named - set(holds), hold)
    named_skus = {line.sku for r in reservations.values() for line in r.lines}
    named_skus |= {line.sku for o in orders.values() for a in o.allocations for line in a.lines}
    return Snapshot(
        at=at,
        cutoff=at,
        inventory=facts.InventoryFacts(
            {i: _hold_fact(h, at) for i, h in holds.items()},
            [],
            {i: _transfer_fact(t, at) for i, t in transfers.items()},
            bundles=await _sets_among(client, named_skus),
        ),
        reservations={i: _reservation_fact(r, at) for i, r in reservations.items()},
        orders=facts.OrdersFacts({i: _order_fact(o, at) for i, o in orders.items()}, set()),
    )


async def _sets_among(client: OmnistockClient, skus: set[str]) -> dict[str, dict[str, int]]:
    """The components of those of the SKUs that are sets: a set is held and moved as its components."""
    ordered = sorted(skus)
    sets: dict[str, dict[str, int]] = {}
    for start in range(0, len(ordered), SKUS_PER_CALL):
        request = ipb.BatchGetSkusRequest(skus=ordered[start : start + SKUS_PER_CALL])
        reply = await client.call(client.inventory.BatchGetSkus, request)
        for sku in reply.skus:
            if sku.components:
                sets[sku.sku] = {part.sku: int(part.quantity) for part in sku.components}
    return sets


SKUS_PER_CALL = 100  # BatchGetSkus answers at most 100 codes a call


async def owner_findings(client: OmnistockClient, recheck_after: float = RECHECK_AFTER) -> list[Finding]:
    """The owner rules of omnistock_platform.invariants (those the chaos suite runs), on facts read
    through the APIs: every active hold of a reservation or an order belongs to one that holds it,
    and every open reservation and held allocation has its hold. A change in flight can look wrong
    in one reading: a violation is reported only if a second reading, `recheck_after` seconds
    later, shows it again."""
    suspects = {(v.check, v.subject) for v in run_owner_checks(await api_snapshot(client))}
    if not suspects:
        return []
    await asyncio.sleep(recheck_after)
    return [
        Finding(_area(v), v.check, v.subject, v.detail)
        for v in run_owner_checks(await api_snapshot(client))
        if (v.check, v.subject) in suspects
    ]


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


# The service whose record a violation of an owner rule names.
AREA_OF_CHECK = {
    "active hold without a live owner": "inventory",
    "reservation without its hold": "reservations",
    "reservation awaiting a transfer not held once": "reservations",
    "allocations disagree with their hold": "orders",
}


def _area(violation: Violation) -> str:
    """The service a violation is about, as far as its check or its subject says."""
    if violation.check in AREA_OF_CHECK:
        return AREA_OF_CHECK[violation.check]
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
        render=table(summary, ["area", "check", "subject", "detail"], rows) if rows else styled(summary, "green"),
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
