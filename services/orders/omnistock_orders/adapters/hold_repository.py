"""SQL of fulfilment holds: kept with their order, written under its row lock."""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from omnistock_orders.adapters.repository import Connection, OrderRecord
from omnistock_orders.domain.fulfilment_holds import next_expiry


async def save_holds(conn: asyncpg.Connection, record: OrderRecord) -> OrderRecord:
    """Write the record's holds (and when the first active one runs out); the order changed with them."""
    updated_at = await conn.fetchval(
        "UPDATE orders.orders SET fulfilment_holds = $2, hold_expires_at = $3, updated_at = clock_timestamp()"
        " WHERE order_id = $1 RETURNING updated_at",
        record.order_id,
        [hold.as_json() for hold in record.holds],
        next_expiry(record.holds),
    )
    return replace(record, updated_at=updated_at)


async def due(conn: Connection, limit: int) -> list[str]:
    """Orders with an active hold that ran out, or that ended while a hold was active, oldest first."""
    rows = await conn.fetch(
        "SELECT order_id FROM orders.orders WHERE hold_expires_at IS NOT NULL"
        " AND (hold_expires_at <= now() OR status IN ('completed', 'cancelled'))"
        " ORDER BY hold_expires_at LIMIT $1",
        limit,
    )
    return [row["order_id"] for row in rows]
