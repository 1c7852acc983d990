"""SQL of the inventory schema. Every function takes the unit of work's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from omnistock_inventory.domain.holds import HoldLine, HoldState, LineKey

STOCK_COLUMNS = (
    "location_id, sku, on_hand, held, safety_stock, incoming, next_incoming_at, version, updated_at, in_transit"
)


async def upsert_location(conn: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    columns = list(values)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "location_id")
    return await conn.fetchrow(
        f"INSERT INTO inventory.locations ({', '.join(columns)}) VALUES"
        f" ({', '.join(f'${i + 1}' for i in range(len(columns)))})"
        f" ON CONFLICT (location_id) DO UPDATE SET {updates}, updated_at = now() RETURNING *",
        *values.values(),
    )


async def upsert_sku(conn: asyncpg.Connection, values: dict[str, Any]) -> asyncpg.Record:
    columns = list(values)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "sku")
    return await conn.fetchrow(
        f"INSERT INTO inventory.skus ({', '.join(columns)}) VALUES"
        f" ({', '.join(f'${i + 1}' for i in range(len(columns)))})"
        f" ON CONFLICT (sku) DO UPDATE SET {updates}, updated_at = now() RETURNING *",
        *values.values(),
    )


async def get_location(conn: asyncpg.Connection | asyncpg.Pool, location_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM inventory.locations WHERE location_id = $1", location_id)


async def get_locations(conn: asyncpg.Connection | asyncpg.Pool, location_ids: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM inventory.locations WHERE location_id = ANY($1::text[])", list(location_ids))


async def list_locations(conn: asyncpg.Pool, *, city: str, kind: str, after: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM inventory.locations WHERE ($1 = '' OR lower(city) = lower($1)) AND ($2 = '' OR kind = $2)"
        " AND location_id > $3 ORDER BY location_id LIMIT $4",
        city,
        kind,
        after,
        limit,
    )


async def get_sku(conn: asyncpg.Connection | asyncpg.Pool, sku: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM inventory.skus WHERE sku = $1", sku)


async def get_skus(conn: asyncpg.Connection | asyncpg.Pool, skus: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM inventory.skus WHERE sku = ANY($1::text[])", list(skus))


async def search_skus(
    conn: asyncpg.Pool, *, text: str, attributes: dict[str, str], after: str, limit: int
) -> list[asyncpg.Record]:
    lowered = {key.lower(): value.lower() for key, value in attributes.items()}
    return await conn.fetch(
        "SELECT * FROM inventory.skus s"
        " WHERE ($1 = '' OR s.sku ILIKE '%' || $1 || '%' OR s.title ILIKE '%' || $1 || '%')"
        " AND NOT EXISTS (SELECT 1 FROM jsonb_each_text($2::jsonb) want WHERE NOT EXISTS ("
        "   SELECT 1 FROM jsonb_each_text(s.attributes) have"
        "   WHERE lower(have.key) = want.key AND lower(have.value) = want.value))"
        " AND s.sku > $3 ORDER BY s.sku LIMIT $4",
        text,
        lowered,
        after,
        limit,
    )


async def ensure_stock_row(conn: asyncpg.Connection, location_id: str, sku: str) -> None:
    await conn.execute(
        "INSERT INTO inventory.stock (location_id, sku, on_hand, held, safety_stock, incoming, version)"
        " VALUES ($1, $2, 0, 0, 0, 0, 0) ON CONFLICT DO NOTHING",
        location_id,
        sku,
    )


async def lock_stock_row(conn: asyncpg.Connection, key: LineKey) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {STOCK_COLUMNS} FROM inventory.stock WHERE location_id = $1 AND sku = $2 FOR UPDATE",
        key.location_id,
        key.sku,
    )


async def change_stock(
    conn: asyncpg.Connection,
    key: LineKey,
    *,
    on_hand: int = 0,
    held: int = 0,
    safety_stock: int | None = None,
    incoming: int = 0,
    next_incoming_at: datetime | None = None,
) -> asyncpg.Record:
    """Apply deltas to a row (constraints refuse any that break the invariants)."""
    return await conn.fetchrow(
        "UPDATE inventory.stock SET on_hand = on_hand + $3, held = held + $4,"
        " safety_stock = COALESCE($5, safety_stock), incoming = GREATEST(incoming + $6, 0),"
        " next_incoming_at = CASE WHEN incoming + $6 <= 0 THEN NULL"
        "   WHEN $7::timestamptz IS NULL THEN next_incoming_at"
        "   ELSE LEAST(COALESCE(next_incoming_at, $7), $7) END,"
        " version = version + 1, updated_at = now()"
        f" WHERE location_id = $1 AND sku = $2 RETURNING {STOCK_COLUMNS}",
        key.location_id,
        key.sku,
        on_hand,
        held,
        safety_stock,
        incoming,
        next_incoming_at,
    )


# The row as holds see it: the counters, the SKU's backorder flag (joined, so a hold needs no
# separate SKU lookup) and the transaction's timestamp (the hold's created_at).
_HOLD_RETURNING = (
    "s.location_id, s.sku, s.on_hand, s.held, s.safety_stock, s.incoming, s.next_incoming_at, s.version,"
    " s.updated_at, s.in_transit, k.allow_backorder, now() AS now"
)


def available_sql(*, use_safety_stock: str, backorder: str) -> str:
    """`domain.stock.available` as SQL over a stock row (its GREATEST(0, ...) aside: it is only ever
    compared with a positive quantity), for the conditional updates that take units. Its two
    choices are SQL boolean expressions: a parameter, a column, or both."""
    reserve = f"CASE WHEN {use_safety_stock} THEN 0 ELSE safety_stock END"
    extra = f"CASE WHEN {backorder} THEN incoming ELSE 0 END"
    return f"(on_hand - held - {reserve} + {extra})"


# The hold statements' parameters: $3 the quantity, $4 whether safety stock may be used; a
# backorderable SKU counts units on their way (with $5, a hold for later rather than a sale now).
_HOLD_FITS = available_sql(use_safety_stock="$4::boolean", backorder="k.allow_backorder") + " >= $3"
_HOLD_FITS_UNLESS_SOLD_NOW = (
    available_sql(use_safety_stock="$4::boolean", backorder="(k.allow_backorder AND $5::boolean)") + " >= $3"
)


async def take_units(
    conn: asyncpg.Connection, key: LineKey, quantity: int, *, use_safety_stock: bool, backorder: bool = True
) -> asyncpg.Record | None:
    """The conditional update at the heart of no-double-selling: the row changes
    only if enough is available at the moment the row lock is taken. Without `backorder`
    (a sale carried out now) units on their way do not count, whatever the SKU allows."""
    return await conn.fetchrow(
        "UPDATE inventory.stock s SET held = s.held + $3, version = s.version + 1, updated_at = now()"
        " FROM inventory.skus k WHERE s.location_id = $1 AND s.sku = $2 AND k.sku = s.sku"
        f" AND {_HOLD_FITS_UNLESS_SOLD_NOW}"
        f" RETURNING {_HOLD_RETURNING}",
        key.location_id,
        key.sku,
        quantity,
        use_safety_stock,
        backorder,
    )


async def claim_and_take_units(
    conn: asyncpg.Connection,
    key: LineKey,
    quantity: int,
    *,
    use_safety_stock: bool,
    request_id: str,
    method: str,
    fingerprint: bytes,
    caller: str,
) -> tuple[bool, asyncpg.Record | None]:
    """The idempotency claim of a request (as `IdempotencyStore.claim` inserts it) and `take_units`,
    in one round trip: (whether this call owns the request id, the row if the units were taken).
    Units are taken only by the call that owns the request id."""
    row = await conn.fetchrow(
        "WITH c AS (INSERT INTO inventory.idempotency (request_id, method, fingerprint, caller)"
        "   VALUES ($5, $6, $7, $8)"
        "   ON CONFLICT (request_id) DO NOTHING RETURNING request_id),"
        " u AS (UPDATE inventory.stock s SET held = s.held + $3, version = s.version + 1, updated_at = now()"
        "   FROM inventory.skus k WHERE s.location_id = $1 AND s.sku = $2 AND k.sku = s.sku"
        f"   AND {_HOLD_FITS} AND EXISTS (SELECT 1 FROM c)"
        f"   RETURNING {_HOLD_RETURNING})"
        " SELECT EXISTS (SELECT 1 FROM c) AS claimed, u.* FROM (VALUES (0)) AS one LEFT JOIN u ON true",
        key.location_id,
        key.sku,
        quantity,
        use_safety_stock,
        request_id,
        method,
        fingerprint,
        caller,
    )
    assert row is not None
    return bool(row["claimed"]), row if row["location_id"] is not None else None


async def lock_rows_for_hold(conn: asyncpg.Connection, keys: Sequence[LineKey]) -> list[asyncpg.Record]:
    """Lock the rows of a multi-line hold in one statement, in lock order: the rows are locked as
    the sort emits them, and "C" collation sorts as Python sorts LineKey, so every transaction
    that locks several rows takes them in the same order and none can deadlock another."""
    return await conn.fetch(
        f"SELECT {_LEVEL_COLUMNS} FROM inventory.stock s JOIN inventory.skus k ON k.sku = s.sku"
        " JOIN unnest($1::text[], $2::text[]) AS t(location_id, sku)"
        "   ON s.location_id = t.location_id AND s.sku = t.sku"
        ' ORDER BY s.location_id COLLATE "C", s.sku COLLATE "C" FOR UPDATE OF s',
        [key.location_id for key in keys],
        [key.sku for key in keys],
    )


_STOCK_RETURNING = "s." + STOCK_COLUMNS.replace(", ", ", s.")


async def add_held(conn: asyncpg.Connection, changes: Sequence[tuple[LineKey, int]]) -> list[asyncpg.Record]:
    """Hold the given quantities on rows already locked (and checked) by `lock_rows_for_hold`."""
    return await conn.fetch(
        "UPDATE inventory.stock s SET held = s.held + t.quantity, version = s.version + 1, updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(location_id, sku, quantity)"
        f" WHERE s.location_id = t.location_id AND s.sku = t.sku RETURNING {_STOCK_RETURNING}, now() AS now",
        [key.location_id for key, _ in changes],
        [key.sku for key, _ in changes],
        [quantity for _, quantity in changes],
    )


async def take_units_together(
    conn: asyncpg.Connection, key: LineKey, quantity: int, count: int, *, use_safety_stock: bool
) -> asyncpg.Record | None:
    """`count` holds on one row as one conditional update of their total: all fit, or none is taken.
    The version moves by `count`, one per hold, as if they had been taken one after another."""
    return await conn.fetchrow(
        "UPDATE inventory.stock s SET held = s.held + $3, version = s.version + $5, updated_at = now()"
        " FROM inventory.skus k WHERE s.location_id = $1 AND s.sku = $2 AND k.sku = s.sku"
        f" AND {_HOLD_FITS} RETURNING {_HOLD_RETURNING}",
        key.location_id,
        key.sku,
        quantity,
        use_safety_stock,
        count,
    )


async def write_taken(
    conn: asyncpg.Connection,
    *,
    holds: Sequence[tuple[str, str, str, datetime]],
    lines: Sequence[tuple[str, str, str, int]],
    movements: Sequence[tuple[Any, ...]],
    events: Sequence[tuple[str, str, bytes, str | None]],
    responses: Sequence[tuple[str, bytes]],
    notify: str,
) -> None:
    """Everything a hold writes once its units are taken, in one round trip: the holds
    (hold_id, owner, channel, expires_at), their lines (hold_id, location_id, sku, quantity),
    the ledger movements (the columns of `add_movement`), the outbox events (event_id, subject,
    envelope, traceparent), the idempotency answers (request_id, response) and the relay's wake-up."""
    columns: list[list[Any]] = [list(column) for column in zip(*movements, strict=True)] or [[] for _ in range(14)]
    await conn.execute(
        "WITH h AS (INSERT INTO inventory.holds (hold_id, owner, channel, state, expires_at)"
        "   SELECT id, o, c, 'active', e FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
        "   AS t(id, o, c, e)),"
        " l AS (INSERT INTO inventory.hold_lines (hold_id, location_id, sku, quantity, committed, released)"
        "   SELECT id, loc, sku, q, 0, 0 FROM unnest($5::text[], $6::text[], $7::text[], $8::bigint[])"
        "   AS t(id, loc, sku, q)),"
        " m AS (INSERT INTO inventory.movements (location_id, sku, kind, reason, on_hand_delta, held_delta,"
        "   on_hand_after, held_after, safety_stock_after, version, hold_id, actor, request_id, document_ref)"
        "   SELECT * FROM unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], $14::bigint[],"
        "   $15::bigint[], $16::bigint[], $17::bigint[], $18::bigint[], $19::text[], $20::text[], $21::text[],"
        "   $22::text[])),"
        " o AS (INSERT INTO inventory.outbox (event_id, subject, envelope, traceparent)"
        "   SELECT * FROM unnest($23::uuid[], $24::text[], $25::bytea[], $29::text[])),"
        # The answer a retry with the same request id gets (what IdempotencyStore.save writes).
        " i AS (UPDATE inventory.idempotency d SET response = r.response"
        "   FROM unnest($26::text[], $27::bytea[]) AS r(request_id, response) WHERE d.request_id = r.request_id)"
        " SELECT pg_notify($28, '')",
        [h[0] for h in holds],
        [h[1] for h in holds],
        [h[2] for h in holds],
        [h[3] for h in holds],
        [line[0] for line in lines],
        [line[1] for line in lines],
        [line[2] for line in lines],
        [line[3] for line in lines],
        *columns,
        [e[0] for e in events],
        [e[1] for e in events],
        [e[2] for e in events],
        [r[0] for r in responses],
        [r[1] for r in responses],
        notify,
        [e[3] for e in events],
    )


async def stock_rows(
    conn: asyncpg.Connection | asyncpg.Pool, *, skus: Sequence[str] = (), location_ids: Sequence[str] = ()
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {STOCK_COLUMNS} FROM inventory.stock WHERE (cardinality($1::text[]) = 0 OR sku = ANY($1::text[]))"
        " AND (cardinality($2::text[]) = 0 OR location_id = ANY($2::text[])) ORDER BY sku, location_id",
        list(skus),
        list(location_ids),
    )


# A stock row with its SKU's backorder flag: what every availability answer is computed from.
_STOCK_COLUMNS = (
    "location_id, sku, on_hand, held, safety_stock, incoming, next_incoming_at, version, updated_at, in_transit"
)
_LEVEL_COLUMNS = ", ".join(f"s.{column}" for column in _STOCK_COLUMNS.split(", ")) + ", k.allow_backorder"


async def level_rows(
    conn: asyncpg.Connection | asyncpg.Pool, *, skus: Sequence[str] = (), location_ids: Sequence[str] = ()
) -> list[asyncpg.Record]:
    """`stock_rows` with each SKU's backorder flag, in one round trip."""
    return await conn.fetch(
        f"SELECT {_LEVEL_COLUMNS} FROM inventory.stock s JOIN inventory.skus k ON k.sku = s.sku"
        " WHERE (cardinality($1::text[]) = 0 OR s.sku = ANY($1::text[]))"
        " AND (cardinality($2::text[]) = 0 OR s.location_id = ANY($2::text[])) ORDER BY s.sku, s.location_id",
        list(skus),
        list(location_ids),
    )


async def sku_level_rows(
    conn: asyncpg.Connection | asyncpg.Pool, wanted: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[asyncpg.Record] | None]:
    """For each (SKU, location) wanted, the SKU's rows at that location (or at every location
    when it is empty), in location order; None when the SKU does not exist. A known SKU without
    stock gives no rows. One query, however many are wanted."""
    if len(wanted) == 1:  # the plain query costs PostgreSQL half what the general one does
        ((sku, location_id),) = wanted
        records = await conn.fetch(
            f"SELECT 1 AS n, {_LEVEL_COLUMNS} FROM inventory.skus k LEFT JOIN inventory.stock s"
            " ON s.sku = k.sku AND ($2 = '' OR s.location_id = $2) WHERE k.sku = $1 ORDER BY s.location_id",
            sku,
            location_id,
        )
    else:
        records = await conn.fetch(
            f"SELECT w.n, {_LEVEL_COLUMNS}"
            " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(sku, location_id, n)"
            " JOIN inventory.skus k ON k.sku = w.sku"
            # Two branches, so that a row at one location is found by its key, not among the SKU's rows.
            f" LEFT JOIN LATERAL (SELECT {_STOCK_COLUMNS} FROM inventory.stock"
            "   WHERE sku = w.sku AND location_id = w.location_id"
            f" UNION ALL SELECT {_STOCK_COLUMNS} FROM inventory.stock"
            "   WHERE sku = w.sku AND w.location_id = '') s ON true"
            " ORDER BY w.n, s.location_id",
            [sku for sku, _ in wanted],
            [location_id for _, location_id in wanted],
        )
    found: dict[tuple[str, str], list[asyncpg.Record] | None] = dict.fromkeys(wanted)
    for record in records:
        key = wanted[record["n"] - 1]
        rows = found[key]
        if rows is None:  # the SKU exists: a list, even if it has no stock row
            rows = found[key] = []
        if record["location_id"] is not None:
            rows.append(record)
    return found


async def availability_rows(conn: asyncpg.Connection | asyncpg.Pool, skus: Sequence[str]) -> list[asyncpg.Record]:
    """The SKUs' rows with their backorder flag and their location, for FindAvailability."""
    return await conn.fetch(
        f"SELECT {_LEVEL_COLUMNS}, l.name, l.kind, l.city, l.latitude, l.longitude, l.routing_rank,"
        " l.ships, l.pickup, l.till_sales, l.active"
        " FROM inventory.stock s JOIN inventory.skus k ON k.sku = s.sku"
        " JOIN inventory.locations l ON l.location_id = s.location_id"
        " WHERE s.sku = ANY($1::text[]) ORDER BY s.sku, s.location_id",
        list(skus),
    )


async def add_movement(
    conn: asyncpg.Connection,
    row: asyncpg.Record,
    *,
    kind: str,
    on_hand_delta: int,
    held_delta: int,
    reason: str = "",
    hold_id: str = "",
    actor: str = "",
    request_id: str = "",
    document_ref: str = "",
) -> None:
    await conn.execute(
        "INSERT INTO inventory.movements (location_id, sku, kind, reason, on_hand_delta, held_delta, on_hand_after,"
        " held_after, safety_stock_after, version, hold_id, actor, request_id, document_ref)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        row["location_id"],
        row["sku"],
        kind,
        reason,
        on_hand_delta,
        held_delta,
        row["on_hand"],
        row["held"],
        row["safety_stock"],
        row["version"],
        hold_id,
        actor,
        request_id,
        document_ref,
    )


async def list_movements(
    conn: asyncpg.Pool,
    *,
    location_ids: Sequence[str],
    sku: str,
    since: datetime | None,
    until: datetime | None,
    after_id: int,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM inventory.movements"
        " WHERE (cardinality($1::text[]) = 0 OR location_id = ANY($1::text[])) AND ($2 = '' OR sku = $2)"
        " AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)"
        " AND movement_id > $5 ORDER BY movement_id LIMIT $6",
        list(location_ids),
        sku,
        since,
        until,
        after_id,
        limit,
    )


async def insert_hold(
    conn: asyncpg.Connection,
    hold_id: str,
    owner: str,
    channel: str,
    expires_at: datetime,
    lines: Sequence[tuple[LineKey, int]],
) -> None:
    await conn.execute(
        "INSERT INTO inventory.holds (hold_id, owner, channel, state, expires_at) VALUES ($1, $2, $3, 'active', $4)",
        hold_id,
        owner,
        channel,
        expires_at,
    )
    await conn.executemany(
        "INSERT INTO inventory.hold_lines (hold_id, location_id, sku, quantity, committed, released)"
        " VALUES ($1, $2, $3, $4, 0, 0)",
        [(hold_id, key.location_id, key.sku, quantity) for key, quantity in lines],
    )


async def get_hold(
    conn: asyncpg.Connection | asyncpg.Pool, hold_id: str, *, lock: bool = False
) -> tuple[asyncpg.Record, dict[LineKey, HoldLine]] | None:
    hold = await conn.fetchrow(
        "SELECT * FROM inventory.holds WHERE hold_id = $1" + (" FOR UPDATE" if lock else ""), hold_id
    )
    if hold is None:
        return None
    rows = await conn.fetch("SELECT * FROM inventory.hold_lines WHERE hold_id = $1 ORDER BY location_id, sku", hold_id)
    lines = {
        LineKey(r["location_id"], r["sku"]): HoldLine(
            LineKey(r["location_id"], r["sku"]), r["quantity"], r["committed"], r["released"]
        )
        for r in rows
    }
    return hold, lines


async def settle_hold_lines(
    conn: asyncpg.Connection, hold_id: str, changes: Sequence[tuple[LineKey, int]], column: str
) -> None:
    if column not in ("committed", "released"):
        raise ValueError(column)
    await conn.executemany(
        f"UPDATE inventory.hold_lines SET {column} = {column} + $4"
        " WHERE hold_id = $1 AND location_id = $2 AND sku = $3",
        [(hold_id, key.location_id, key.sku, quantity) for key, quantity in changes],
    )


async def update_hold(
    conn: asyncpg.Connection,
    hold_id: str,
    *,
    state: HoldState | None = None,
    owner: str | None = None,
    expires_at: datetime | None = None,
) -> None:
    await conn.execute(
        "UPDATE inventory.holds SET state = COALESCE($2, state), owner = COALESCE($3, owner),"
        " expires_at = COALESCE($4, expires_at), updated_at = now() WHERE hold_id = $1",
        hold_id,
        state.value if state else None,
        owner,
        expires_at,
    )


async def overdue_holds(conn: asyncpg.Connection, limit: int) -> list[str]:
    """Expired but still active; locked rows are someone else's to finish."""
    rows = await conn.fetch(
        "SELECT hold_id FROM inventory.holds WHERE state = 'active' AND expires_at < now()"
        " ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [row["hold_id"] for row in rows]


async def overdue_holds_on(conn: asyncpg.Connection | asyncpg.Pool, keys: Sequence[LineKey]) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT h.hold_id FROM inventory.holds h JOIN inventory.hold_lines l USING (hold_id)"
        " JOIN unnest($1::text[], $2::text[]) AS k(location_id, sku)"
        "   ON l.location_id = k.location_id AND l.sku = k.sku"
        " WHERE h.state = 'active' AND h.expires_at < now()",
        [k.location_id for k in keys],
        [k.sku for k in keys],
    )
    return [row["hold_id"] for row in rows]


async def list_holds(
    conn: asyncpg.Pool, *, owner_prefix: str, state: str, location_id: str, after: str, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT h.hold_id FROM inventory.holds h WHERE h.owner LIKE $1 || '%' AND ($2 = '' OR h.state = $2)"
        " AND ($3 = '' OR EXISTS (SELECT 1 FROM inventory.hold_lines l WHERE l.hold_id = h.hold_id"
        "   AND l.location_id = $3)) AND h.hold_id > $4 ORDER BY h.hold_id LIMIT $5",
        owner_prefix.replace("%", r"\%").replace("_", r"\_"),
        state,
        location_id,
        after,
        limit,
    )
