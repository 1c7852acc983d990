"""The projection's tables, module functions taking the unit of work's connection."""

from __future__ import annotations

import asyncpg

from omnistock_insights.adapters.tables import PROJECTION_TABLES, SCHEMA
from omnistock_insights.domain.journeys import Method, OrderFact, Outcome, Pick, ReservationFact, TaskFact
from omnistock_insights.domain.tally import Bucket, Sheet, Tally

_SHEETS: dict[Sheet, tuple[str, str]] = {
    # sheet -> (table, column of the cell's detail)
    Sheet.DAILY: (f"{SCHEMA}.daily", ""),
    Sheet.REVENUE: (f"{SCHEMA}.daily_revenue", "currency"),
    Sheet.SHORTFALL: (f"{SCHEMA}.daily_shortfalls", "sku"),
}


def _bucket_columns(bucket: Bucket | None) -> tuple[object, object, object]:
    return (bucket.day, bucket.channel, bucket.location_id) if bucket else (None, None, None)


async def add_tally(conn: asyncpg.Connection, tally: Tally) -> None:
    """Add a change to the counts by channel, location and day."""
    for cell, counts in tally.nonzero():
        table, detail = _SHEETS[cell.sheet]
        keys = ["day", "channel", "location_id", *([detail] if detail else [])]
        values: list[object] = [cell.bucket.day, cell.bucket.channel, cell.bucket.location_id]
        values += [cell.detail] if detail else []
        # The names come from domain.tally.COUNTS (Tally.add refuses others), never from a caller.
        names = list(counts)
        placeholders = ", ".join(f"${i}" for i in range(1, len(keys) + len(names) + 1))
        await conn.execute(
            f"INSERT INTO {table} AS t ({', '.join(keys + names)}) VALUES ({placeholders})"
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{name} = t.{name} + EXCLUDED.{name}" for name in names),
            *values,
            *counts.values(),
        )


async def claim_event(conn: asyncpg.Connection, event_id: str) -> bool:
    """True the first time the projection counts this event."""
    first = await conn.fetchval(
        f"INSERT INTO {SCHEMA}.applied_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true",
        event_id,
    )
    return bool(first)


async def lock_and_clear(conn: asyncpg.Connection) -> None:
    """For a rebuild: hold off the live consumer and empty every table of the projection at once.
    Live handlers claim applied_events first, so locking it against writers waits for the ones
    under way and stops the rest until commit; readers are not blocked and see the old figures
    until then."""
    await conn.execute(f"LOCK TABLE {SCHEMA}.applied_events IN EXCLUSIVE MODE")
    for table in PROJECTION_TABLES:
        # DELETE, not TRUNCATE: TRUNCATE would block readers for the whole replay.
        await conn.execute(f"DELETE FROM {table}")


# What the projection remembers of each reservation, order and task. Every read locks the row,
# creating it bare when new, so that two events of one journey are counted one after the other.
async def _lock(conn: asyncpg.Connection, table: str, key: str, value: str) -> asyncpg.Record:
    await conn.execute(f"INSERT INTO {SCHEMA}.{table} ({key}) VALUES ($1) ON CONFLICT DO NOTHING", value)
    return await conn.fetchrow(f"SELECT * FROM {SCHEMA}.{table} WHERE {key} = $1 FOR UPDATE", value)


async def reservation(conn: asyncpg.Connection, reservation_id: str) -> ReservationFact:
    row = await _lock(conn, "reservation_facts", "reservation_id", reservation_id)
    return ReservationFact(
        reservation_id=row["reservation_id"],
        channel=row["channel"],
        store_id=row["store_id"],
        created_at=row["created_at"],
        ready_at=row["ready_at"],
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        failed=row["failed"],
    )


async def save_reservation(conn: asyncpg.Connection, fact: ReservationFact) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.reservation_facts SET channel = $2, store_id = $3, created_at = $4, ready_at = $5,"
        " outcome = $6, failed = $7, bucket_day = $8, bucket_channel = $9, bucket_location = $10"
        " WHERE reservation_id = $1",
        fact.reservation_id,
        fact.channel,
        fact.store_id,
        fact.created_at,
        fact.ready_at,
        fact.outcome.value if fact.outcome else None,
        fact.failed,
        *_bucket_columns(fact.bucket),
    )


async def order(conn: asyncpg.Connection, order_id: str) -> OrderFact:
    row = await _lock(conn, "order_facts", "order_id", order_id)
    allocation = row["first_allocation"]
    return OrderFact(
        order_id=row["order_id"],
        channel=row["channel"],
        method=Method(row["method"]),
        store_id=row["store_id"],
        created_at=row["created_at"],
        units=row["units"],
        revenue={str(currency): int(amount) for currency, amount in row["revenue"].items()},
        first_allocation=tuple(str(location) for location in allocation) if allocation is not None else None,
        allocation_inferred=row["allocation_inferred"],
        rerouted=row["rerouted"],
        cancelled=row["cancelled"],
        shipped_at=row["shipped_at"],
        held=row["held"],
        hold_expired=row["hold_expired"],
        described_at=row["described_at"],
    )


async def save_order(conn: asyncpg.Connection, fact: OrderFact) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.order_facts SET channel = $2, method = $3, store_id = $4, created_at = $5, units = $6,"
        " revenue = $7, first_allocation = $8, allocation_inferred = $9, rerouted = $10, cancelled = $11,"
        " shipped_at = $12, bucket_day = $13, bucket_channel = $14, bucket_location = $15, held = $16,"
        " hold_expired = $17, described_at = $18 WHERE order_id = $1",
        fact.order_id,
        fact.channel,
        fact.method.value,
        fact.store_id,
        fact.created_at,
        fact.units,
        dict(fact.revenue),
        list(fact.first_allocation) if fact.first_allocation is not None else None,
        fact.allocation_inferred,
        fact.rerouted,
        fact.cancelled,
        fact.shipped_at,
        *_bucket_columns(fact.bucket),
        fact.held,
        fact.hold_expired,
        fact.described_at,
    )


async def task(conn: asyncpg.Connection, task_id: str) -> TaskFact:
    return _task(await _lock(conn, "task_facts", "task_id", task_id))


async def tasks_of(conn: asyncpg.Connection, *, order_id: str = "", reservation_id: str = "") -> list[TaskFact]:
    """The tasks of an order or a reservation, locked in a fixed order."""
    column, value = ("order_id", order_id) if order_id else ("reservation_id", reservation_id)
    rows = await conn.fetch(f"SELECT * FROM {SCHEMA}.task_facts WHERE {column} = $1 ORDER BY task_id FOR UPDATE", value)
    return [_task(row) for row in rows]


async def save_task(conn: asyncpg.Connection, fact: TaskFact) -> None:
    await conn.execute(
        f"UPDATE {SCHEMA}.task_facts SET order_id = $2, reservation_id = $3, location_id = $4, created_at = $5,"
        " pick = $6 WHERE task_id = $1",
        fact.task_id,
        fact.order_id,
        fact.reservation_id,
        fact.location_id,
        fact.created_at,
        fact.pick.value if fact.pick else None,
    )


def _task(row: asyncpg.Record) -> TaskFact:
    return TaskFact(
        task_id=row["task_id"],
        order_id=row["order_id"],
        reservation_id=row["reservation_id"],
        location_id=row["location_id"],
        created_at=row["created_at"],
        pick=Pick(row["pick"]) if row["pick"] else None,
    )
