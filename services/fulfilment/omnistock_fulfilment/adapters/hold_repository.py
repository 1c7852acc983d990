"""What fulfilment keeps of orders' fulfilment holds, and the tasks they block."""

from __future__ import annotations

import asyncpg

from omnistock_fulfilment.adapters import newest_states
from omnistock_fulfilment.adapters.newest_states import Heard
from omnistock_fulfilment.domain.order_holds import OrderHolds


async def record(conn: asyncpg.Connection, holds: OrderHolds) -> OrderHolds:
    """Keep what the event says of the order unless a newer event already said otherwise; what the
    newest event says (this one's state when it was kept)."""
    heard = Heard(holds.version, holds.state())
    kept = await newest_states.keep(conn, "order", holds.order_id, heard)
    return holds if kept is heard else OrderHolds.from_state(holds.order_id, kept.version, kept.state)


async def of_order(conn: asyncpg.Connection, order_id: str) -> OrderHolds | None:
    kept = await newest_states.newest(conn, "order", order_id)
    return OrderHolds.from_state(order_id, kept.version, kept.state) if kept is not None else None


async def set_reason(conn: asyncpg.Connection, task_id: str, reason: str) -> None:
    await conn.execute("UPDATE fulfilment.tasks SET hold_reason = $2 WHERE task_id = $1", task_id, reason)
