"""Tasks and tombstones in PostgreSQL, module functions taking the unit of work's connection."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import asyncpg

from omnistock_fulfilment.adapters import newest_states
from omnistock_fulfilment.adapters.newest_states import Heard
from omnistock_fulfilment.domain.task import ACTIVE, Method, Task, TaskKind, TaskLine, TaskStatus

_COLUMNS = (
    "task_id, kind, source_key, location_id, status, order_id, allocation_id, reservation_id, hold_id,"
    " pickup_code, method, lines, promise_at, carrier, tracking_number, withdrawn_reason, created_at, updated_at,"
    " hold_reason"
)
_ACTIVE = sorted(status.value for status in ACTIVE)

_TASKS = "fulfilment.tasks"
_TOMBSTONES = "fulfilment.tombstones"

# Where a listing continues: the (promise_at, created_at, task_id) of the last task seen.
Cursor = tuple[datetime, datetime, str]


def _task(row: asyncpg.Record) -> Task:
    return Task(
        task_id=row["task_id"],
        kind=TaskKind(row["kind"]),
        location_id=row["location_id"],
        status=TaskStatus(row["status"]),
        lines=tuple(
            TaskLine(
                str(line["sku"]),
                int(line["quantity"]),
                int(line["picked"]),
                tuple((str(sku), int(units)) for sku, units in line.get("components", ())),
            )
            for line in row["lines"]
        ),
        promise_at=row["promise_at"],
        order_id=row["order_id"],
        allocation_id=row["allocation_id"],
        reservation_id=row["reservation_id"],
        hold_id=row["hold_id"],
        pickup_code=row["pickup_code"],
        method=Method(row["method"]),
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        withdrawn_reason=row["withdrawn_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        hold_reason=row["hold_reason"],
    )


def _lines(task: Task) -> list[dict[str, Any]]:
    return [
        {"sku": line.sku, "quantity": line.quantity, "picked": line.picked}
        | ({"components": [list(part) for part in line.components]} if line.components else {})
        for line in task.lines
    ]


async def add(conn: asyncpg.Connection, task: Task) -> Task | None:
    """The stored task, or None when its source already has one (a repeated announcement)."""
    row = await conn.fetchrow(
        f"INSERT INTO {_TASKS} (task_id, kind, source_key, location_id, status, order_id, allocation_id,"
        " reservation_id, hold_id, pickup_code, method, lines, promise_at, carrier, tracking_number,"
        " withdrawn_reason, hold_reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        f" ON CONFLICT (kind, source_key) DO NOTHING RETURNING {_COLUMNS}",
        task.task_id,
        task.kind.value,
        task.source_key,
        task.location_id,
        task.status.value,
        task.order_id,
        task.allocation_id,
        task.reservation_id,
        task.hold_id,
        task.pickup_code,
        task.method.value,
        _lines(task),
        task.promise_at,
        task.carrier,
        task.tracking_number,
        task.withdrawn_reason,
        task.hold_reason,
    )
    return _task(row) if row is not None else None


async def save(conn: asyncpg.Connection, task: Task) -> Task:
    """Write what an action changed; updated_at moves strictly forward so it can serve as a version."""
    row = await conn.fetchrow(
        f"UPDATE {_TASKS} SET status = $2, lines = $3, carrier = $4, tracking_number = $5,"
        " withdrawn_reason = $6, promise_at = $7,"
        " updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond')"
        f" WHERE task_id = $1 RETURNING {_COLUMNS}",
        task.task_id,
        task.status.value,
        _lines(task),
        task.carrier,
        task.tracking_number,
        task.withdrawn_reason,
        task.promise_at,
    )
    if row is None:
        raise LookupError(f"task {task.task_id} vanished")
    return _task(row)


async def get(conn: asyncpg.Connection, task_id: str, *, for_update: bool = False) -> Task | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {_TASKS} WHERE task_id = $1{lock}", task_id)
    return _task(row) if row is not None else None


async def for_pickup_code(
    conn: asyncpg.Connection, location_id: str, pickup_code: str, *, active: bool = True
) -> Task | None:
    """The most recent preparation task of a pickup code at a store: the unfinished one, locked
    for the hand-over; with `active=False`, whatever became of it (not locked)."""
    statuses = _ACTIVE if active else [status.value for status in TaskStatus]
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM {_TASKS}"
        # Codes are read aloud and typed in: letter case does not matter.
        " WHERE location_id = $1 AND upper(pickup_code) = upper($2) AND kind = $3 AND status = ANY($4::text[])"
        f" ORDER BY created_at DESC LIMIT 1{' FOR UPDATE' if active else ''}",
        location_id,
        pickup_code,
        TaskKind.PICKUP_PREPARATION.value,
        statuses,
    )
    return _task(row) if row is not None else None


async def active_of_order(conn: asyncpg.Connection, order_id: str) -> list[Task]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {_TASKS} WHERE order_id = $1 AND status = ANY($2::text[]) ORDER BY task_id FOR UPDATE",
        order_id,
        _ACTIVE,
    )
    return [_task(row) for row in rows]


async def active_of_reservation(conn: asyncpg.Connection, reservation_id: str) -> list[Task]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {_TASKS}"
        " WHERE reservation_id = $1 AND kind = $2 AND status = ANY($3::text[]) ORDER BY task_id FOR UPDATE",
        reservation_id,
        TaskKind.PICKUP_PREPARATION.value,
        _ACTIVE,
    )
    return [_task(row) for row in rows]


async def page(
    conn: asyncpg.Connection,
    *,
    location_ids: Collection[str] | None,
    statuses: Collection[TaskStatus],
    kind: TaskKind | None,
    after: Cursor | None,
    limit: int,
) -> list[Task]:
    """Tasks in the order they are to be worked: promise first, then age."""
    conditions = ["status = ANY($1::text[])"]
    args: list[Any] = [sorted(status.value for status in statuses)]
    if location_ids is not None:
        args.append(sorted(location_ids))
        conditions.append(f"location_id = ANY(${len(args)}::text[])")
    if kind is not None:
        args.append(kind.value)
        conditions.append(f"kind = ${len(args)}")
    if after is not None:
        args.extend(after)
        n = len(args)
        conditions.append(f"(promise_at, created_at, task_id) > (${n - 2}, ${n - 1}, ${n})")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {_TASKS} WHERE {' AND '.join(conditions)}"
        f" ORDER BY promise_at, created_at, task_id LIMIT ${len(args)}",
        *args,
    )
    return [_task(row) for row in rows]


async def lock_source(conn: asyncpg.Connection, source: str) -> None:
    """Serialises the announcement and the withdrawal of one order or reservation across processes."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"fulfilment:{source}")


async def bury(conn: asyncpg.Connection, source: str, reason: str) -> None:
    await conn.execute(
        f"INSERT INTO {_TOMBSTONES} (source, reason) VALUES ($1, $2) ON CONFLICT (source) DO NOTHING",
        source,
        reason,
    )


async def newest_reservation_lines(
    conn: asyncpg.Connection, reservation_id: str, version: datetime, lines: tuple[tuple[str, int], ...]
) -> tuple[tuple[str, int], ...]:
    """Keep a reservation's lines as an event of `version` says them, unless a newer event said
    otherwise; the lines the newest event says. In the caller's transaction, under the source's lock."""
    heard = Heard(version, {"lines": [list(line) for line in lines]})
    kept = await newest_states.keep(conn, "reservation", reservation_id, heard)
    return tuple((str(sku), int(units)) for sku, units in kept.state["lines"])


async def buried(conn: asyncpg.Connection, source: str) -> str | None:
    """Why the source's work was withdrawn, if it was."""
    reason: str | None = await conn.fetchval(f"SELECT reason FROM {_TOMBSTONES} WHERE source = $1", source)
    return reason
