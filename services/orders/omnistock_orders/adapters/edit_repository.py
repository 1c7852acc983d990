"""SQL of order edits: the fields an edit changes beyond what `repository.save` writes, and
which allocations' pick tasks have started (told by fulfilment's task events)."""

from __future__ import annotations

import asyncpg

from omnistock.orders.v1 import orders_pb2


async def save_edited(
    conn: asyncpg.Connection, order_id: str, *, ship_to: orders_pb2.Address | None, store_id: str, total_minor: int
) -> None:
    await conn.execute(
        "UPDATE orders.orders SET ship_to = $2, store_id = $3, total_minor = $4 WHERE order_id = $1",
        order_id,
        ship_to.SerializeToString(deterministic=True) if ship_to is not None else None,
        store_id,
        total_minor,
    )


async def picking(conn: asyncpg.Connection, order_id: str) -> frozenset[str]:
    rows = await conn.fetch(
        "SELECT allocation_id FROM orders.allocations WHERE order_id = $1 AND picking_started", order_id
    )
    return frozenset(row["allocation_id"] for row in rows)


async def mark_picking(conn: asyncpg.Connection, order_id: str, allocation_id: str) -> None:
    await conn.execute(
        "UPDATE orders.allocations SET picking_started = true WHERE order_id = $1 AND allocation_id = $2",
        order_id,
        allocation_id,
    )
