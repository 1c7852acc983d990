"""SQL of order edits: the fields an edit changes beyond what `repository.save` writes, and
which allocations' pick tasks have started (told by fulfilment's task events)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.repository import set_json
from omnistock_orders.domain.order import OrderSet


async def save_edited(
    conn: asyncpg.Connection,
    order_id: str,
    *,
    ship_to: orders_pb2.Address | None,
    store_id: str,
    total_minor: int,
    sets: Sequence[OrderSet],
) -> None:
    """What an edit changes beyond the lines and allocations; `sets`: the split sets, whose count an
    edit of a set's SKU changes (and 0 removes)."""
    await conn.execute(
        "UPDATE orders.orders SET ship_to = $2, store_id = $3, total_minor = $4, sets = $5 WHERE order_id = $1",
        order_id,
        ship_to.SerializeToString(deterministic=True) if ship_to is not None else None,
        store_id,
        total_minor,
        [set_json(split) for split in sets],
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
