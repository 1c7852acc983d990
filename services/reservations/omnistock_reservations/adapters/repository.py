"""SQL of the reservations schema. Every function takes the unit of work's connection (or the pool
for plain reads) and speaks in domain objects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import asyncpg

from omnistock_platform.errors import Alternative, Shortfall, ShortLine
from omnistock_platform.promise_messages import promise_from_json, promise_to_json
from omnistock_platform.promising import Kind
from omnistock_reservations.adapters.tables import HOLDING_SQL, OPEN_SQL
from omnistock_reservations.domain.reservation import Customer, Failure, Line, Reservation
from omnistock_reservations.domain.status import Status

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class Filters:
    store_ids: Sequence[str] = ()
    customer_id: str = ""
    channel: str = ""
    status: str = ""


# -- rows <-> domain ---------------------------------------------------------------------------------


def failure_to_json(failure: Failure | None) -> dict[str, Any] | None:
    if failure is None:
        return None
    found: dict[str, Any] = {"message": failure.message}
    if failure.shortfall is not None:
        found["lines"] = [vars(line) for line in failure.shortfall.lines]
        found["alternatives"] = [vars(alt) for alt in failure.shortfall.alternatives]
    return found


def failure_from_json(data: dict[str, Any] | None) -> Failure | None:
    if data is None:
        return None
    shortfall = None
    if "lines" in data:
        shortfall = Shortfall(
            [ShortLine(**line) for line in data["lines"]],
            [Alternative(**alt) for alt in data.get("alternatives", [])],
        )
    return Failure(str(data.get("message", "")), shortfall)


def _reservation(row: asyncpg.Record, lines: list[Line]) -> Reservation:
    return Reservation(
        reservation_id=row["reservation_id"],
        request_id=row["request_id"],
        channel=row["channel"],
        customer=Customer(row["customer_id"], row["customer_name"], row["customer_email"], row["customer_phone"]),
        store_id=row["store_id"],
        lines=lines,
        pickup_code=row["pickup_code"],
        hold_for=row["hold_for"],
        status=Status(row["status"]),
        created_at=row["created_at"],
        hold_id=row["hold_id"],
        expires_at=row["expires_at"],
        ready_at=row["ready_at"],
        closed_at=row["closed_at"],
        order_id=row["order_id"],
        cancel_reason=row["cancel_reason"],
        failure=failure_from_json(row["failure"]),
        allow_ship_to_store=row["allow_ship_to_store"],
        transfer_origin_id=row["transfer_origin_id"],
        transfer_id=row["transfer_id"],
        promised_at=row["promised_at"],
        promise=promise_from_json(row["promise"]),
        updated_at=row["updated_at"],
    )


async def _with_lines(conn: Connection, rows: Sequence[asyncpg.Record]) -> list[Reservation]:
    if not rows:
        return []
    ids = [row["reservation_id"] for row in rows]
    lines: dict[str, list[Line]] = {reservation_id: [] for reservation_id in ids}
    for line in await conn.fetch(
        "SELECT reservation_id, sku, quantity FROM reservations.reservation_lines"
        " WHERE reservation_id = ANY($1::text[]) ORDER BY reservation_id, line_no",
        ids,
    ):
        lines[line["reservation_id"]].append(Line(line["sku"], line["quantity"]))
    return [_reservation(row, lines[row["reservation_id"]]) for row in rows]


async def _one(conn: Connection, query: str, *args: Any) -> Reservation | None:
    row = await conn.fetchrow(query, *args)
    if row is None:
        return None
    (found,) = await _with_lines(conn, [row])
    return found


# -- writing -----------------------------------------------------------------------------------------


async def lock_customer(conn: asyncpg.Connection, customer_id: str) -> None:
    """Serialises creates of one customer, so the open-reservation limit cannot be raced past."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"reservations:customer:{customer_id}")


@dataclass(frozen=True)
class Written:
    """What writing a new PENDING reservation came to: the reservation, or why nothing was written."""

    reservation: Reservation | None
    # The request id belongs to a reservation already written (a concurrent or earlier attempt).
    request_taken: bool
    # The customer's open reservations before this one.
    open_count: int


async def write_pending(
    conn: asyncpg.Connection, reservation: Reservation, fingerprint: bytes, max_open: int
) -> Written:
    """Writes a new PENDING reservation and its lines in one statement, in the caller's transaction
    (which holds the customer's lock, so the count of open reservations cannot be raced past).
    Nothing is written when the request id is taken, when the customer has max_open open
    reservations already, or when the pickup code is in use at the store: then it is a new code's turn."""
    customer = reservation.customer
    row = await conn.fetchrow(
        "WITH taken AS (SELECT EXISTS (SELECT 1 FROM reservations.reservations WHERE request_id = $2) AS taken),"
        " open AS (SELECT count(*) AS n FROM reservations.reservations"
        f" WHERE customer_id = $5 AND status IN ({OPEN_SQL})),"
        " written AS (INSERT INTO reservations.reservations (reservation_id, request_id, request_fingerprint,"
        " channel, customer_id, customer_name, customer_email, customer_phone, store_id, pickup_code, status,"
        " hold_for, hold_id, order_id, cancel_reason, allow_ship_to_store)"
        " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', '', '', $13 FROM taken, open"
        " WHERE NOT taken.taken AND open.n < $16"
        # No conflict target: a request id taken meanwhile and a pickup code in use both write nothing.
        " ON CONFLICT DO NOTHING RETURNING *),"
        " lines AS (INSERT INTO reservations.reservation_lines (reservation_id, line_no, sku, quantity)"
        " SELECT written.reservation_id, line.n - 1, line.sku, line.quantity FROM written,"
        " unnest($14::text[], $15::bigint[]) WITH ORDINALITY AS line (sku, quantity, n))"
        " SELECT taken.taken AS request_taken, open.n AS open_count, written.*"
        " FROM taken CROSS JOIN open LEFT JOIN written ON true",
        reservation.reservation_id,
        reservation.request_id,
        fingerprint,
        reservation.channel,
        customer.customer_id,
        customer.name,
        customer.email,
        customer.phone,
        reservation.store_id,
        reservation.pickup_code,
        reservation.status.value,
        reservation.hold_for,
        reservation.allow_ship_to_store,
        [line.sku for line in reservation.lines],
        [line.quantity for line in reservation.lines],
        max_open,
    )
    written = None if row["reservation_id"] is None else _reservation(row, list(reservation.lines))
    return Written(written, bool(row["request_taken"]), int(row["open_count"]))


async def activate_pending(
    conn: Connection,
    activated: Reservation,
    transfer_origin_id: str,
    event: tuple[str, str, bytes, str | None],
    notify: str,
) -> Reservation | None:
    """PENDING to ACTIVE with its hold, and the event queued, in one statement (its own transaction
    when conn is the pool). Only from the state the caller knows (PENDING, with that transfer origin),
    so the event it built describes the row; None when the row is not in that state any more. The
    event carries the PENDING row's updated_at as its version: older than this write and every later
    one (each takes the clock as it writes), and a PENDING reservation published nothing before it."""
    event_id, subject, envelope, traceparent = event
    row = await conn.fetchrow(
        "WITH activated AS (UPDATE reservations.reservations SET status = $2, hold_id = $3, expires_at = $4,"
        " promise = $11, updated_at = clock_timestamp()"
        " WHERE reservation_id = $1 AND status = 'pending' AND transfer_origin_id = $5"
        " RETURNING *),"
        " queued AS (INSERT INTO reservations.outbox (event_id, subject, envelope, traceparent)"
        " SELECT $6, $7, $8, $9 FROM activated)"
        " SELECT activated.*, pg_notify($10, '') FROM activated",
        activated.reservation_id,
        activated.status.value,
        activated.hold_id,
        activated.expires_at,
        transfer_origin_id,
        event_id,
        subject,
        envelope,
        traceparent,
        notify,
        promise_to_json(activated.promise),
    )
    if row is None:
        return None
    return _reservation(row, list(activated.lines))


async def save(conn: asyncpg.Connection, reservation: Reservation) -> Reservation:
    """Writes the reservation's changing fields; its identity and request never change, its lines only
    when a transfer brought fewer units than it waited for. updated_at is the clock as the row is
    written under its lock, so each change of a reservation, and its events, carry a later one."""
    row = await conn.fetchrow(
        "UPDATE reservations.reservations SET status = $2, hold_id = $3, expires_at = $4, ready_at = $5,"
        " closed_at = $6, order_id = $7, cancel_reason = $8, failure = $9, transfer_origin_id = $10,"
        " transfer_id = $11, promised_at = $12, promise = $13, updated_at = clock_timestamp()"
        " WHERE reservation_id = $1 RETURNING *",
        reservation.reservation_id,
        reservation.status.value,
        reservation.hold_id,
        reservation.expires_at,
        reservation.ready_at,
        reservation.closed_at,
        reservation.order_id,
        reservation.cancel_reason,
        failure_to_json(reservation.failure),
        reservation.transfer_origin_id,
        reservation.transfer_id,
        reservation.promised_at,
        promise_to_json(reservation.promise),
    )
    if reservation.shorted:
        await conn.execute(
            "DELETE FROM reservations.reservation_lines WHERE reservation_id = $1", reservation.reservation_id
        )
        await conn.executemany(
            "INSERT INTO reservations.reservation_lines (reservation_id, line_no, sku, quantity)"
            " VALUES ($1, $2, $3, $4)",
            [(reservation.reservation_id, n, line.sku, line.quantity) for n, line in enumerate(reservation.lines)],
        )
    saved = _reservation(row, list(reservation.lines))
    saved.events = list(reservation.events)
    saved.shorted = dict(reservation.shorted)
    return saved


async def mark_verified(conn: Connection, reservation_ids: Sequence[str]) -> None:
    await conn.execute(
        "UPDATE reservations.reservations SET verified_at = now() WHERE reservation_id = ANY($1::text[])",
        list(reservation_ids),
    )


# -- reading -----------------------------------------------------------------------------------------


async def get(conn: Connection, reservation_id: str, *, lock: bool = False) -> Reservation | None:
    suffix = " FOR UPDATE" if lock else ""
    return await _one(
        conn, f"SELECT * FROM reservations.reservations WHERE reservation_id = $1{suffix}", reservation_id
    )


async def promised_via_transfer(conn: Connection, store_id: str) -> list[Reservation]:
    """The store's active reservations promised from units on their way (via a transfer), locked in
    id order: a transfer received there late may move their promise."""
    rows = await conn.fetch(
        "SELECT * FROM reservations.reservations WHERE store_id = $1 AND status = 'active'"
        " AND promise->>'kind' = $2 ORDER BY reservation_id FOR UPDATE",
        store_id,
        Kind.PICKUP_VIA_TRANSFER.value,
    )
    return await _with_lines(conn, rows)


async def get_by_request(conn: Connection, request_id: str) -> tuple[Reservation, bytes] | None:
    row = await conn.fetchrow("SELECT * FROM reservations.reservations WHERE request_id = $1", request_id)
    if row is None:
        return None
    (found,) = await _with_lines(conn, [row])
    return found, bytes(row["request_fingerprint"])


async def find_open_by_code(conn: Connection, store_id: str, pickup_code: str) -> Reservation | None:
    return await _one(
        conn,
        f"SELECT * FROM reservations.reservations WHERE store_id = $1 AND pickup_code = $2 AND status IN ({OPEN_SQL})",
        store_id,
        pickup_code,
    )


async def latest_by_code(conn: Connection, store_id: str, pickup_code: str) -> Reservation | None:
    """The most recent reservation that had this code at the store, open or closed."""
    return await _one(
        conn,
        "SELECT * FROM reservations.reservations WHERE store_id = $1 AND pickup_code = $2"
        " ORDER BY created_at DESC, reservation_id DESC LIMIT 1",
        store_id,
        pickup_code,
    )


async def list_page(
    conn: Connection, filters: Filters, after: tuple[datetime, str] | None, limit: int
) -> list[Reservation]:
    """Oldest first, keyset-paginated on (created_at, reservation_id)."""
    rows = await conn.fetch(
        "SELECT * FROM reservations.reservations"
        " WHERE (cardinality($1::text[]) = 0 OR store_id = ANY($1::text[]))"
        " AND ($2 = '' OR customer_id = $2) AND ($3 = '' OR channel = $3) AND ($4 = '' OR status = $4)"
        " AND ($5::timestamptz IS NULL OR (created_at, reservation_id) > ($5::timestamptz, $6))"
        " ORDER BY created_at, reservation_id LIMIT $7",
        list(filters.store_ids),
        filters.customer_id,
        filters.channel,
        filters.status,
        after[0] if after else None,
        after[1] if after else "",
        limit,
    )
    return await _with_lines(conn, rows)


async def stale_pending(conn: Connection, older_than: timedelta, limit: int) -> list[Reservation]:
    rows = await conn.fetch(
        "SELECT * FROM reservations.reservations WHERE status = 'pending' AND created_at < now() - $1::interval"
        " ORDER BY created_at LIMIT $2",
        older_than,
        limit,
    )
    return await _with_lines(conn, rows)


async def holding_to_verify(
    conn: Connection, *, overdue_after: timedelta, verify_every: timedelta, limit: int
) -> list[Reservation]:
    """Reservations that still hold stock although their expiry has passed (inventory should have
    said so), then those not compared with inventory for the longest time."""
    rows = await conn.fetch(
        f"SELECT * FROM reservations.reservations WHERE status IN ({HOLDING_SQL})"
        " AND coalesce(verified_at, updated_at) < now()"
        "   - CASE WHEN expires_at < now() - $1::interval THEN $1::interval ELSE $2::interval END"
        " ORDER BY (expires_at < now() - $1::interval) DESC, coalesce(verified_at, updated_at) LIMIT $3",
        overdue_after,
        verify_every,
        limit,
    )
    return await _with_lines(conn, rows)
