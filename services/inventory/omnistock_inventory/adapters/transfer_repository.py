"""SQL of transfers: the transfers, their lines, and the stock rows a shipment and a receipt change.
Every function takes the unit of work's connection (or the pool, for reads)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from omnistock_inventory.adapters.repository import STOCK_COLUMNS, available_sql
from omnistock_inventory.domain.bundles import HoldBundle
from omnistock_inventory.domain.holds import LineKey
from omnistock_inventory.domain.transfers import LineReceipt, TransferLine

# What may leave the origin: the holds' availability rule with safety stock usable (as at the
# store's own till) and nothing counted that is still on its way.
_SHIPPABLE = available_sql(use_safety_stock="true", backorder="false")


async def insert_transfer(
    conn: asyncpg.Connection,
    *,
    transfer_id: str,
    origin_id: str,
    destination_id: str,
    lines: Sequence[TransferLine],
    expected_arrival_at: datetime | None,
    note: str,
    created_by: str,
    hold_owner: str = "",
    origin_hold_id: str = "",
    hold_for: timedelta = timedelta(0),
    sets: Sequence[HoldBundle] = (),
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO inventory.transfers (transfer_id, origin_location_id, destination_location_id, status,"
        " expected_arrival_at, note, created_by, hold_owner, origin_hold_id, hold_for, sets)"
        " VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10) RETURNING *",
        transfer_id,
        origin_id,
        destination_id,
        expected_arrival_at,
        note,
        created_by,
        hold_owner,
        origin_hold_id,
        hold_for,
        [{"sku": item.sku, "quantity": item.quantity, "components": dict(item.components)} for item in sets],
    )
    await conn.execute(
        "INSERT INTO inventory.transfer_lines (transfer_id, sku, quantity)"
        " SELECT $1, t.sku, t.quantity FROM unnest($2::text[], $3::bigint[]) AS t(sku, quantity)",
        transfer_id,
        [line.sku for line in lines],
        [line.quantity for line in lines],
    )
    return row


async def get_transfer(
    conn: asyncpg.Connection | asyncpg.Pool, transfer_id: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM inventory.transfers WHERE transfer_id = $1" + (" FOR UPDATE" if lock else ""), transfer_id
    )


async def lines(conn: asyncpg.Connection | asyncpg.Pool, transfer_ids: Sequence[str]) -> list[asyncpg.Record]:
    """The lines of the transfers, by transfer and SKU."""
    return await conn.fetch(
        "SELECT * FROM inventory.transfer_lines WHERE transfer_id = ANY($1::text[])"
        ' ORDER BY transfer_id, sku COLLATE "C"',
        list(transfer_ids),
    )


async def list_transfers(
    conn: asyncpg.Pool,
    *,
    location_ids: Sequence[str],
    status: str,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first, by (created_at, transfer_id); [] as location_ids stands for every location."""
    return await conn.fetch(
        "SELECT * FROM inventory.transfers WHERE (cardinality($1::text[]) = 0"
        " OR origin_location_id = ANY($1::text[]) OR destination_location_id = ANY($1::text[]))"
        " AND ($2 = '' OR status = $2)"
        " AND ($3::timestamptz IS NULL OR (created_at, transfer_id) < ($3, $4))"
        " ORDER BY created_at DESC, transfer_id DESC LIMIT $5",
        list(location_ids),
        status,
        after[0] if after else None,
        after[1] if after else "",
        limit,
    )


async def set_status(
    conn: asyncpg.Connection, transfer_id: str, status: str, *, by: str, cancel_reason: str = ""
) -> asyncpg.Record:
    """Moves the transfer to `status`, stamping when and by whom."""
    return await conn.fetchrow(
        "UPDATE inventory.transfers SET status = $2, updated_at = now(),"
        " shipped_at = CASE WHEN $2 = 'shipped' THEN now() ELSE shipped_at END,"
        " shipped_by = CASE WHEN $2 = 'shipped' THEN $3 ELSE shipped_by END,"
        " received_at = CASE WHEN $2 = 'received' THEN now() ELSE received_at END,"
        " received_by = CASE WHEN $2 = 'received' THEN $3 ELSE received_by END,"
        " cancelled_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE cancelled_at END,"
        " cancelled_by = CASE WHEN $2 = 'cancelled' THEN $3 ELSE cancelled_by END,"
        " cancel_reason = CASE WHEN $2 = 'cancelled' THEN $4 ELSE cancel_reason END"
        " WHERE transfer_id = $1 RETURNING *",
        transfer_id,
        status,
        by,
        cancel_reason,
    )


async def abandoned_drafts(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Draft transfers whose origin hold expired (ship to store: the reservation ran out before the
    transfer shipped), locked; one a staff action has locked is left to that action."""
    return await conn.fetch(
        "SELECT t.* FROM inventory.transfers t JOIN inventory.holds h ON h.hold_id = t.origin_hold_id"
        " WHERE t.status = 'draft' AND t.origin_hold_id <> '' AND h.state = 'expired'"
        " ORDER BY t.created_at LIMIT $1 FOR UPDATE OF t SKIP LOCKED",
        limit,
    )


async def mark_overdue(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """Shipped transfers past their expected arrival and not yet announced overdue, oldest arrival
    first, marked (`overdue_at`) as they are now announced; one a receipt has locked is left to it."""
    return await conn.fetch(
        "UPDATE inventory.transfers SET overdue_at = now(), updated_at = now() WHERE transfer_id IN ("
        "  SELECT transfer_id FROM inventory.transfers WHERE status = 'shipped' AND overdue_at IS NULL"
        "  AND expected_arrival_at < now() ORDER BY expected_arrival_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING *",
        limit,
    )


async def set_arrival_hold(conn: asyncpg.Connection, transfer_id: str, hold_id: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE inventory.transfers SET arrival_hold_id = $2 WHERE transfer_id = $1 RETURNING *", transfer_id, hold_id
    )


async def ensure_rows(conn: asyncpg.Connection, keys: Sequence[LineKey]) -> None:
    await conn.execute(
        "INSERT INTO inventory.stock (location_id, sku, on_hand, held, safety_stock, incoming, version)"
        " SELECT t.location_id, t.sku, 0, 0, 0, 0, 0 FROM unnest($1::text[], $2::text[]) AS t(location_id, sku)"
        " ON CONFLICT DO NOTHING",
        [key.location_id for key in keys],
        [key.sku for key in keys],
    )


async def lock_rows(conn: asyncpg.Connection, keys: Sequence[LineKey]) -> dict[LineKey, asyncpg.Record]:
    """The stock rows, locked in the order every multi-row lock takes them (location, then SKU, "C"
    collation, as holds take them), so a transfer never deadlocks with a hold, a count or another
    transfer going the other way."""
    rows = await conn.fetch(
        f"SELECT {STOCK_COLUMNS} FROM inventory.stock s"
        " JOIN unnest($1::text[], $2::text[]) AS t(location_id, sku) USING (location_id, sku)"
        ' ORDER BY location_id COLLATE "C", sku COLLATE "C" FOR UPDATE OF s',
        [key.location_id for key in keys],
        [key.sku for key in keys],
    )
    return {LineKey(row["location_id"], row["sku"]): row for row in rows}


async def take_on_hand(conn: asyncpg.Connection, key: LineKey, quantity: int) -> asyncpg.Record | None:
    """Ships `quantity` out of on hand if that many are available to the location's own staff (the
    availability rule of holds, safety stock usable, nothing promised on incoming); None if not."""
    return await conn.fetchrow(
        "UPDATE inventory.stock SET on_hand = on_hand - $3, version = version + 1, updated_at = now()"
        f" WHERE location_id = $1 AND sku = $2 AND {_SHIPPABLE} >= $3 RETURNING {STOCK_COLUMNS}",
        key.location_id,
        key.sku,
        quantity,
    )


async def change_transit(
    conn: asyncpg.Connection, key: LineKey, *, in_transit: int, on_hand: int = 0, reserved: bool = False
) -> asyncpg.Record:
    """Applies deltas to a locked row's in transit and on hand (constraints refuse a negative one).
    `reserved`: the units are a ship-to-store transfer's, for its own owner, so in_transit_reserved
    moves with in_transit (they are never promised to a channel)."""
    return await conn.fetchrow(
        "UPDATE inventory.stock SET in_transit = in_transit + $3, on_hand = on_hand + $4,"
        " in_transit_reserved = in_transit_reserved + CASE WHEN $5 THEN $3 ELSE 0 END, version = version + 1,"
        f" updated_at = now() WHERE location_id = $1 AND sku = $2 RETURNING {STOCK_COLUMNS}",
        key.location_id,
        key.sku,
        in_transit,
        on_hand,
        reserved,
    )


async def holds_to_shorten(conn: asyncpg.Connection, key: LineKey) -> list[asyncpg.Record]:
    """The active holds with open units on a (locked) stock row, in the order a short receipt gives
    their units back: first those of channels whose pool at the location promises units in transit
    (the promises a short receipt breaks), newest first. Each hold is locked; one another
    transaction has locked (it is being settled, and then waits for this row) is skipped, so a
    receipt never waits for a hold while holding the stock row."""
    return await conn.fetch(
        "SELECT h.hold_id, l.quantity - l.committed - l.released AS open"
        " FROM inventory.holds h JOIN inventory.hold_lines l ON l.hold_id = h.hold_id"
        " WHERE l.location_id = $1 AND l.sku = $2 AND h.state = 'active'"
        " AND l.quantity - l.committed - l.released > 0"
        " ORDER BY EXISTS (SELECT 1 FROM inventory.channel_pools p"
        "   JOIN inventory.location_group_members m ON m.group_id = p.group_id"
        "   WHERE p.channel = h.channel AND m.location_id = $1 AND p.allow_transfer_in_transit) DESC,"
        " h.created_at DESC, h.hold_id DESC"
        " FOR UPDATE OF h SKIP LOCKED",
        key.location_id,
        key.sku,
    )


async def close_lines(conn: asyncpg.Connection, transfer_id: str, receipts: Sequence[LineReceipt]) -> None:
    await conn.execute(
        "UPDATE inventory.transfer_lines l SET received = t.received, damaged = t.damaged, short = t.short,"
        " over = t.over, closed = true"
        " FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])"
        "   AS t(sku, received, damaged, short, over)"
        " WHERE l.transfer_id = $1 AND l.sku = t.sku",
        transfer_id,
        [r.sku for r in receipts],
        [r.received for r in receipts],
        [r.damaged for r in receipts],
        [r.short for r in receipts],
        [r.over for r in receipts],
    )


async def movements_of(
    conn: asyncpg.Connection, transfer_id: str, keys: Sequence[LineKey], kinds: Sequence[str]
) -> list[asyncpg.Record]:
    """The ledger entries of the transfer of the given kinds on the given rows, by location and SKU."""
    return await conn.fetch(
        "SELECT m.* FROM inventory.movements m"
        " JOIN unnest($3::text[], $4::text[]) AS t(location_id, sku) USING (location_id, sku)"
        " WHERE m.document_ref = $1 AND m.kind = ANY($2::text[])"
        ' ORDER BY m.location_id COLLATE "C", m.sku COLLATE "C", m.movement_id',
        f"transfer:{transfer_id}",
        list(kinds),
        [key.location_id for key in keys],
        [key.sku for key in keys],
    )
