"""The fulfilment service's reader for the system's checks (omnistock_platform.invariants): what its schema says
for the rules that span services, read on the caller's connection so that it sees the same
instant as every other service's reader."""

from __future__ import annotations

import asyncpg

from omnistock_platform.facts import Task


async def read(conn: asyncpg.Connection) -> list[Task]:
    rows = await conn.fetch(
        "SELECT task_id, kind, status, location_id, order_id, allocation_id, reservation_id, hold_id,"
        " created_at, updated_at FROM fulfilment.tasks"
    )
    return [Task(**dict(row)) for row in rows]
