"""What fulfilment keeps of orders' fulfilment holds, and the tasks they block."""

from __future__ import annotations

import asyncpg

from omnistock_fulfilment.domain.order_holds import OrderHolds


async def record(conn: asyncpg.Connection, holds: OrderHolds) -> OrderHolds:
    """Keep what the event says of the order unless a newer event already said otherwise; what the
    newest event says (this one's state when it was kept)."""
    kept = await conn.fetchval(
        "INSERT INTO fulfilment.order_holds (order_id, version, holds, allocations, promised_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO UPDATE"
        " SET version = EXCLUDED.version, holds = EXCLUDED.holds, allocations = EXCLUDED.allocations,"
        " promised_at = EXCLUDED.promised_at"
        " WHERE order_holds.version < EXCLUDED.version RETURNING true",
        holds.order_id,
        holds.version,
        holds.as_json(),
        holds.allocations_json(),
        holds.promised_at,
    )
    if kept:
        return holds
    newer = await of_order(conn, holds.order_id)
    assert newer is not None  # the row that refused this event
    return newer


async def of_order(conn: asyncpg.Connection, order_id: str) -> OrderHolds | None:
    row = await conn.fetchrow(
        "SELECT version, holds, allocations, promised_at FROM fulfilment.order_holds WHERE order_id = $1", order_id
    )
    if row is None:
        return None
    return OrderHolds.from_json(
        order_id, row["version"], row["holds"], row["allocations"], promised_at=row["promised_at"]
    )


async def set_reason(conn: asyncpg.Connection, task_id: str, reason: str) -> None:
    await conn.execute("UPDATE fulfilment.tasks SET hold_reason = $2 WHERE task_id = $1", task_id, reason)
