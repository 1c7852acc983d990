"""`omnistock verify`: the system's invariants, checked now. Inventory's stock invariants are
read from its tables (the same checks the tests run); across services, every open reservation
must have an active hold in inventory and every active reservation hold an open reservation.
Exit 1 on any violation."""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import grpc
import typer
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.context import ADMIN, Caller, JsonOption, TokenOption, call_services, fail, load_settings, run_async
from omnistock_cli.output import console, emit, err_console, table
from omnistock_platform.db import Database
from omnistock_platform.embedded import EmbeddedPostgres
from omnistock_platform.settings import Settings

OPEN = (rpb.RESERVATION_STATUS_ACTIVE, rpb.RESERVATION_STATUS_READY_FOR_PICKUP)
RESERVATION_OWNER = "reservation:"


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


async def open_reservations(client: OmnistockClient) -> dict[str, rpb.Reservation]:
    found: dict[str, rpb.Reservation] = {}
    for status in OPEN:
        request = rpb.ListReservationsRequest(status=status)
        for item in await all_pages(client, client.reservations.ListReservations, request, "reservations"):
            found[item.reservation_id] = item
    return found


async def _still_open(client: OmnistockClient, reservation_id: str) -> rpb.Reservation | None:
    try:
        reply = await client.call(
            client.reservations.GetReservation, rpb.GetReservationRequest(reservation_id=reservation_id)
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise
    return reply.reservation if reply.reservation.status in OPEN else None


async def _hold_active(client: OmnistockClient, hold_id: str) -> bool:
    try:
        reply = await client.call(client.inventory.GetHold, ipb.GetHoldRequest(hold_id=hold_id))
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise
    return reply.hold.state == ipb.HOLD_STATE_ACTIVE


async def reservation_findings(client: OmnistockClient) -> list[Finding]:
    """Open reservations against active holds. The two lists are read one after the other, so a
    reservation that expires or is collected in between would look wrong: every mismatch is read
    again, one by one, and only what is still wrong is reported."""
    reservations = await open_reservations(client)
    holds = await all_pages(
        client,
        client.inventory.ListHolds,
        ipb.ListHoldsRequest(owner_prefix=RESERVATION_OWNER, state=ipb.HOLD_STATE_ACTIVE),
        "holds",
    )
    active = {hold.hold_id: hold for hold in holds}
    findings = []
    for reservation in reservations.values():
        if reservation.hold_id in active:
            continue
        current = await _still_open(client, reservation.reservation_id)
        if current is not None and not (current.hold_id and await _hold_active(client, current.hold_id)):
            findings.append(
                Finding(
                    "reservations",
                    "open reservation without an active hold",
                    current.reservation_id,
                    f"status {rpb.ReservationStatus.Name(current.status)}, hold {current.hold_id or '(none)'}",
                )
            )
    for hold in active.values():
        reservation_id = hold.owner.removeprefix(RESERVATION_OWNER)
        if reservation_id in reservations:
            continue
        if await _hold_active(client, hold.hold_id) and await _still_open(client, reservation_id) is None:
            findings.append(
                Finding(
                    "reservations",
                    "active hold of a reservation that is not open",
                    hold.hold_id,
                    f"owner {hold.owner}, {sum(line.open for line in hold.lines)} units held",
                )
            )
    return findings


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
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the invariants (stock, ledger, holds, outbox, reservations vs holds); exit 1 on a violation."""
    settings, postgres = _database_settings(load_settings(), data_dir)
    try:
        findings = run_async(inventory_findings(settings), as_json=as_json)
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
    if not skip_services:
        findings += call_services(reservation_findings, Caller(token=token) if token else ADMIN, as_json=as_json)
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
        console.print(
            "[dim]checked: stock counters, ledger replay, holds vs held, settled holds, commits, outbox,"
            " reservations vs holds[/]"
        )


EXAMPLES = ("omnistock verify",)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
