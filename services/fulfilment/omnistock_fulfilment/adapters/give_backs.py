"""The units an order edit after the pick asks inventory to give back, per task and edit (its event
id). Recorded in a transaction of its own before inventory is asked (inventory's answer cannot be
rolled back with the event's transaction); dropped with the transaction that announces them, or,
when that never comes (the event dead-lettered, or overtaken by a newer edit), purged once
inventory no longer keeps the release's request id either (`purge`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

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


async def purge(conn: asyncpg.Connection | asyncpg.Pool, older_than: timedelta) -> int:
    """Records older than `older_than` (the idempotency retention: inventory has forgotten their
    request ids by then, so they could tell an edit handled again nothing)."""
    deleted = await conn.execute(f"DELETE FROM {_GIVE_BACKS} WHERE created_at < now() - $1::interval", older_than)
    return int(deleted.split()[-1])
