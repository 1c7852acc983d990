"""SQL of the inventory schema. Every function takes the unit of work's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from omnistock_inventory.domain.holds import HoldLine, HoldState, LineKey
from omnistock_inventory.domain.stock import SQL_AVAILABLE

STOCK_COLUMNS = "location_id, sku, on_hand, held, safety_stock, incoming, next_incoming_at, version, updated_at"


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


async def hold_units(
    conn: asyncpg.Connection, key: LineKey, quantity: int, *, use_safety_stock: bool, backorder: bool
) -> asyncpg.Record | None:
    """The conditional update at the heart of no-double-selling: the row changes
    only if enough is available at the moment the row lock is taken."""
    return await conn.fetchrow(
        "UPDATE inventory.stock SET held = held + $3, version = version + 1, updated_at = now()"
        f" WHERE location_id = $1 AND sku = $2 AND {SQL_AVAILABLE} >= $3 RETURNING {STOCK_COLUMNS}",
        key.location_id,
        key.sku,
        quantity,
        use_safety_stock,
        backorder,
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
    location_id: str,
    sku: str,
    since: datetime | None,
    until: datetime | None,
    after_id: int,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM inventory.movements WHERE ($1 = '' OR location_id = $1) AND ($2 = '' OR sku = $2)"
        " AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::timestamptz IS NULL OR at < $4)"
        " AND movement_id > $5 ORDER BY movement_id LIMIT $6",
        location_id,
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
