"""The units an order edit after the pick asks inventory to give back, per task and edit (its event
id). Recorded in a transaction of its own before inventory is asked (inventory's answer cannot be
rolled back with the event's transaction); dropped with the transaction that announces them."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

_GIVE_BACKS = "fulfilment.edit_give_backs"


async def recorded(conn: asyncpg.Connection, task_id: str, cause: str) -> dict[str, int] | None:
    units = await conn.fetchval(f"SELECT units FROM {_GIVE_BACKS} WHERE task_id = $1 AND cause = $2", task_id, cause)
    return None if units is None else {str(sku): int(count) for sku, count in units.items()}


async def record(conn: asyncpg.Connection, task_id: str, cause: str, units: Mapping[str, int]) -> None:
    await conn.execute(
        f"INSERT INTO {_GIVE_BACKS} (task_id, cause, units) VALUES ($1, $2, $3)"
        " ON CONFLICT (task_id, cause) DO UPDATE SET units = EXCLUDED.units, created_at = now()",
        task_id,
        cause,
        dict(units),
    )


async def drop(conn: asyncpg.Connection, task_id: str, cause: str) -> None:
    await conn.execute(f"DELETE FROM {_GIVE_BACKS} WHERE task_id = $1 AND cause = $2", task_id, cause)
