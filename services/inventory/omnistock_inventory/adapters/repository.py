"""SQL of the inventory schema. Every function takes the unit of work's connection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from omnistock_inventory.domain.holds import HoldLine, HoldState, LineKey
from omnistock_platform.statement import Statement

STOCK_COLUMNS = (
    "location_id, sku, on_hand, held, safety_stock, incoming, next_incoming_at, version, updated_at, in_transit,"
    " in_transit_reserved"
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


async def pickup_locations(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """The active locations where customers collect."""
    return await conn.fetch("SELECT * FROM inventory.locations WHERE active AND pickup ORDER BY location_id")


async def get_sku(conn: asyncpg.Connection | asyncpg.Pool, sku: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM inventory.skus WHERE sku = $1", sku)


async def get_skus(conn: asyncpg.Connection | asyncpg.Pool, skus: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM inventory.skus WHERE sku = ANY($1::text[])", list(skus))


async def search_skus(
    conn: asyncpg.Pool, *, text: str, attributes: dict[str, str], after: str, limit: int
) -> list[asyncpg.Record]:
    """SKUs with every word of `text` in their code, title or an attribute value ("green velvet sofa"
    finds "Velvet sofa, 3-seater, green"), each word as typed (a % or _ is no wildcard), and every
    given attribute exactly."""
    lowered = {key.lower(): value.lower() for key, value in attributes.items()}
    words = [word.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") for word in text.split()]
    return await conn.fetch(
        "SELECT * FROM inventory.skus s"
        " WHERE NOT EXISTS (SELECT 1 FROM unnest($1::text[]) AS word(w) WHERE NOT ("
        "   s.sku ILIKE '%' || w || '%' OR s.title ILIKE '%' || w || '%'"
        "   OR EXISTS (SELECT 1 FROM jsonb_each_text(s.attributes) have WHERE have.value ILIKE '%' || w || '%')))"
        " AND NOT EXISTS (SELECT 1 FROM jsonb_each_text($2::jsonb) want WHERE NOT EXISTS ("
        "   SELECT 1 FROM jsonb_each_text(s.attributes) have"
        "   WHERE lower(have.key) = want.key AND lower(have.value) = want.value))"
        " AND s.sku > $3 ORDER BY s.sku LIMIT $4",
        words,
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
    " s.updated_at, s.in_transit, s.in_transit_reserved, k.allow_backorder, now() AS now"
)


def available_sql(*, use_safety_stock: str, backorder: str) -> str:
    """`domain.stock.available` as SQL over a stock row (its GREATEST(0, ...) aside: it is only ever
    compared with a positive quantity), for the conditional updates that take units. Its two
    choices are SQL boolean expressions: a parameter, a column, or both."""
    reserve = f"CASE WHEN {use_safety_stock} THEN 0 ELSE safety_stock END"
    extra = f"CASE WHEN {backorder} THEN incoming ELSE 0 END"
    return f"(on_hand - held - {reserve} + {extra})"


def kept_back_sql(pool: str = "p") -> str:
    """`domain.stock.kept_back`: what a pool row keeps from its channel (integer division rounds
    down as Python's // does, on hand being never negative)."""
    return f"(on_hand - on_hand * {pool}.cap_percent / 100 + {pool}.buffer_units)"


def pool_available_sql(general: str, pool: str = "p", *, later: str = "true") -> str:
    """`domain.stock.pool_available` over a stock row and a pool row (GREATEST(0, ...) aside);
    `later` is a SQL boolean: a hold for later, which may take units in transit (not `sold_now`)."""
    extra = f"CASE WHEN {pool}.allow_in_transit THEN incoming ELSE 0 END"
    transit = f"CASE WHEN {pool}.allow_transfer_in_transit AND {later} THEN in_transit - in_transit_reserved ELSE 0 END"
    return f"LEAST({general} + {transit}, on_hand - held - {kept_back_sql(pool)} + {extra} + {transit})"


def channel_available_sql(
    *, use_safety_stock: str, backorder: str, channel: str, location: str, later: str = "true"
) -> str:
    """`domain.stock.channel_available` as SQL (GREATEST(0, ...) aside): `available_sql` for a
    channel without pools, else the most its pools whose group holds `location` give (0 when
    none does). `channel` is a SQL text expression ('' for no channel: today's rule); `later` a
    SQL boolean, false for a sale carried out now (no units in transit)."""
    general = available_sql(use_safety_stock=use_safety_stock, backorder=backorder)
    return (
        f"(CASE WHEN NOT EXISTS (SELECT 1 FROM inventory.channel_pools p WHERE p.channel = {channel})"
        f" THEN {general} ELSE COALESCE((SELECT max({pool_available_sql(general, later=later)})"
        "   FROM inventory.channel_pools p JOIN inventory.location_group_members m ON m.group_id = p.group_id"
        f"   WHERE p.channel = {channel} AND m.location_id = {location}), 0) END)"
    )


# The hold statements' parameters: $3 the quantity, $4 whether safety stock may be used, $6 the
# calling channel (its pools bound what it may take); a backorderable SKU counts units on their
# way, and a pool that allows it units in transit on transfers (with $5, a hold for later rather
# than a sale now).
_HOLD_FITS = (
    channel_available_sql(
        use_safety_stock="$4::boolean", backorder="k.allow_backorder", channel="$6::text", location="s.location_id"
    )
    + " >= $3"
)
_HOLD_FITS_UNLESS_SOLD_NOW = (
    channel_available_sql(
        use_safety_stock="$4::boolean",
        backorder="(k.allow_backorder AND $5::boolean)",
        channel="$6::text",
        location="s.location_id",
        later="$5::boolean",
    )
    + " >= $3"
)


async def take_units(
    conn: asyncpg.Connection,
    key: LineKey,
    quantity: int,
    *,
    use_safety_stock: bool,
    backorder: bool = True,
    channel: str = "",
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
        channel,
    )


async def take_units_once(
    conn: asyncpg.Connection,
    statement: Statement,
    claim: str,
    key: LineKey,
    quantity: int,
    *,
    use_safety_stock: bool,
    channel: str = "",
) -> tuple[bool, asyncpg.Record | None]:
    """`take_units` as a part of `statement`, run only if its part `claim` (the request id's
    claim, `IdempotencyStore.claim_part`) yields a row, in one round trip: (whether this call owns
    the request id, the row if the units were taken)."""
    units = statement.param(quantity, "bigint")
    location_id, sku = statement.param(key.location_id, "text"), statement.param(key.sku, "text")
    fits = channel_available_sql(
        use_safety_stock=statement.param(use_safety_stock, "boolean"),
        backorder="k.allow_backorder",
        channel=statement.param(channel, "text"),
        location="s.location_id",
    )
    taken = statement.add(
        f"UPDATE inventory.stock s SET held = s.held + {units},"
        " version = s.version + 1, updated_at = now() FROM inventory.skus k"
        f" WHERE s.location_id = {location_id} AND s.sku = {sku}"
        f" AND k.sku = s.sku AND {fits} >= {units} AND EXISTS (SELECT 1 FROM {claim})"
        f" RETURNING {_HOLD_RETURNING}"
    )
    row = await statement.fetchrow(
        conn,
        f"SELECT EXISTS (SELECT 1 FROM {claim}) AS claimed, t.* FROM (VALUES (0)) AS one LEFT JOIN {taken} t ON true",
    )
    assert row is not None
    return bool(row["claimed"]), row if row["location_id"] is not None else None


async def lock_rows(conn: asyncpg.Connection, keys: Sequence[LineKey]) -> None:
    """Lock several rows in one statement, in lock order: the rows are locked as the sort emits
    them, and "C" collation sorts as Python sorts LineKey, so every transaction that locks several
    rows takes them in the same order and none can deadlock another."""
    await conn.execute(
        "SELECT 1 FROM inventory.stock s JOIN unnest($1::text[], $2::text[]) AS t(location_id, sku)"
        "   ON s.location_id = t.location_id AND s.sku = t.sku"
        ' ORDER BY s.location_id COLLATE "C", s.sku COLLATE "C" FOR UPDATE OF s',
        [key.location_id for key in keys],
        [key.sku for key in keys],
    )


# `lines` of `take_locked_units`: $3 the quantities, $4 whether safety stock may be used, $6 the
# calling channel (its pools bound what it may take), per row; $5 as for `take_units`.
_LOCKED_FIT = (
    channel_available_sql(
        use_safety_stock="t.use_safety_stock",
        backorder="(k.allow_backorder AND $5::boolean)",
        channel="t.channel",
        location="s.location_id",
        later="$5::boolean",
    )
    + " >= t.quantity"
)


async def take_locked_units(
    conn: asyncpg.Connection, lines: Sequence[tuple[LineKey, int, bool, str]], *, backorder: bool = True
) -> list[asyncpg.Record]:
    """`take_units` on several rows already locked by `lock_rows`, in one statement: `lines` are
    (row, quantity, whether safety stock may be used, the calling channel). Returns the rows that
    had enough, as the take left them; when one is missing, the caller rolls the others back."""
    return await conn.fetch(
        "UPDATE inventory.stock s SET held = s.held + t.quantity, version = s.version + 1, updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::boolean[], $6::text[])"
        "   AS t(location_id, sku, quantity, use_safety_stock, channel), inventory.skus k"
        f" WHERE s.location_id = t.location_id AND s.sku = t.sku AND k.sku = s.sku AND {_LOCKED_FIT}"
        f" RETURNING {_HOLD_RETURNING}",
        [key.location_id for key, _, _, _ in lines],
        [key.sku for key, _, _, _ in lines],
        [quantity for _, quantity, _, _ in lines],
        [use_safety_stock for _, _, use_safety_stock, _ in lines],
        backorder,
        [channel for _, _, _, channel in lines],
    )


_STOCK_RETURNING = "s." + STOCK_COLUMNS.replace(", ", ", s.")


async def add_held(conn: asyncpg.Connection, changes: Sequence[tuple[LineKey, int]]) -> list[asyncpg.Record]:
    """Hold the given quantities on rows already locked, without a check: units that are surely
    there (received in this transaction), held for their owner at once."""
    return await conn.fetch(
        "UPDATE inventory.stock s SET held = s.held + t.quantity, version = s.version + 1, updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(location_id, sku, quantity)"
        f" WHERE s.location_id = t.location_id AND s.sku = t.sku RETURNING {_STOCK_RETURNING}, now() AS now",
        [key.location_id for key, _ in changes],
        [key.sku for key, _ in changes],
        [quantity for _, quantity in changes],
    )


async def take_units_together(
    conn: asyncpg.Connection, key: LineKey, quantity: int, count: int, *, use_safety_stock: bool, channel: str = ""
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
        channel,
    )


def add_taken(
    statement: Statement,
    *,
    holds: Sequence[tuple[str, str, str, str, datetime]],
    lines: Sequence[tuple[str, str, str, int, int]],
    movements: Sequence[tuple[Any, ...]],
    sold: Sequence[tuple[str, str, int]],
) -> None:
    """Everything of holds whose units are taken that lives in inventory's own tables, as parts of
    one statement: the holds (hold_id, owner, channel, state, expires_at), their lines (hold_id,
    location_id, sku, quantity, committed), the ledger movements (the columns of `add_movement`),
    and the units sold at once (location_id, sku, quantity: on hand and held both drop)."""
    statement.add(
        "INSERT INTO inventory.holds (hold_id, owner, channel, state, expires_at)"
        f" SELECT * FROM {statement.unnest(_columns(holds, 5), _HOLD_TYPES)}"
    )
    statement.add(
        "INSERT INTO inventory.hold_lines (hold_id, location_id, sku, quantity, committed, released)"
        f" SELECT *, 0 FROM {statement.unnest(_columns(lines, 5), _LINE_TYPES)}"
    )
    statement.add(
        "INSERT INTO inventory.movements (location_id, sku, kind, reason, on_hand_delta, held_delta,"
        " on_hand_after, held_after, safety_stock_after, version, hold_id, actor, request_id, document_ref)"
        f" SELECT * FROM {statement.unnest(_columns(movements, 14), _MOVEMENT_TYPES)}"
    )
    if sold:
        statement.add(
            "UPDATE inventory.stock s SET on_hand = s.on_hand - t.quantity, held = s.held - t.quantity,"
            " version = s.version + 1, updated_at = now()"
            f" FROM {statement.unnest(_columns(sold, 3), ('text[]', 'text[]', 'bigint[]'))}"
            " AS t(location_id, sku, quantity) WHERE s.location_id = t.location_id AND s.sku = t.sku"
        )


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) or [()] * width


_HOLD_TYPES = ("text[]", "text[]", "text[]", "text[]", "timestamptz[]")
_LINE_TYPES = ("text[]", "text[]", "text[]", "bigint[]", "bigint[]")
_MOVEMENT_TYPES = ("text[]",) * 4 + ("bigint[]",) * 6 + ("text[]",) * 4


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
    "location_id, sku, on_hand, held, safety_stock, incoming, next_incoming_at, version, updated_at, in_transit,"
    " in_transit_reserved"
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


async def stocking_locations(
    conn: asyncpg.Connection | asyncpg.Pool, skus: Sequence[str], *, besides: Sequence[str]
) -> list[str]:
    """The locations, other than `besides`, with a stock row of any of the SKUs, by id."""
    rows = await conn.fetch(
        "SELECT DISTINCT location_id FROM inventory.stock WHERE sku = ANY($1::text[])"
        " AND NOT location_id = ANY($2::text[]) ORDER BY location_id",
        list(skus),
        list(besides),
    )
    return [row["location_id"] for row in rows]


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
        " l.ships, l.pickup, l.till_sales, l.active, l.promise_settings"
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
