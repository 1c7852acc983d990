"""What fulfilment keeps of orders' fulfilment holds, and the tasks they block."""

from __future__ import annotations

import asyncpg

from omnistock_fulfilment.domain.order_holds import OrderHolds


async def record(conn: asyncpg.Connection, holds: OrderHolds) -> bool:
    """Keep the order's holds unless a newer event already said otherwise; whether they were kept."""
    kept = await conn.fetchval(
        "INSERT INTO fulfilment.order_holds (order_id, version, holds) VALUES ($1, $2, $3)"
        " ON CONFLICT (order_id) DO UPDATE SET version = EXCLUDED.version, holds = EXCLUDED.holds"
        " WHERE order_holds.version < EXCLUDED.version RETURNING true",
        holds.order_id,
        holds.version,
        holds.as_json(),
    )
    return bool(kept)


async def of_order(conn: asyncpg.Connection, order_id: str) -> OrderHolds | None:
    row = await conn.fetchrow("SELECT version, holds FROM fulfilment.order_holds WHERE order_id = $1", order_id)
    return OrderHolds.from_json(order_id, row["version"], row["holds"]) if row is not None else None


async def set_reason(conn: asyncpg.Connection, task_id: str, reason: str) -> None:
    await conn.execute("UPDATE fulfilment.tasks SET hold_reason = $2 WHERE task_id = $1", task_id, reason)
