"""The fulfilment service's reader for the system's checks (omnistock_platform.invariants): what its schema says
for the rules that span services, read on the caller's connection so that it sees the same
instant as every other service's reader."""

from __future__ import annotations

import asyncpg

from omnistock_fulfilment.domain.task import ACTIVE, TaskKind, TaskStatus
from omnistock_platform.facts import Task


async def read(conn: asyncpg.Connection) -> list[Task]:
    rows = await conn.fetch(
        "SELECT task_id, kind, status, location_id, order_id, allocation_id, reservation_id, hold_id,"
        " created_at, updated_at FROM fulfilment.tasks"
    )
    return [_fact(row) for row in rows]


def _fact(row: asyncpg.Record) -> Task:
    status = TaskStatus(row["status"])
    return Task(
        **dict(row),
        picks=TaskKind(row["kind"]) is TaskKind.PICK,
        active=status in ACTIVE,
        shipped=status is TaskStatus.SHIPPED,
        handed_over=status is TaskStatus.HANDED_OVER,
    )
