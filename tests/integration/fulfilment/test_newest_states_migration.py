"""Revision 0008 of fulfilment moves what it kept of each order's newest event (order_holds) and of
each reservation's (reservation_lines) into one table, newest_states; its downgrade moves them back.
What was kept before the upgrade reads after it as it did: an older event still reads as the newest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest_asyncio
from alembic import command

from omnistock_fulfilment.adapters import hold_repository, repository
from omnistock_fulfilment.domain.order_holds import ActiveHold, HeldAllocation, OrderHolds
from omnistock_platform.db import Database
from omnistock_platform.migrations import alembic_config
from omnistock_platform.settings import Settings
from omnistock_platform.testing.plugin import isolated_run

BEFORE = "0007_fulfilment"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
HOLDS = [{"allocation_id": "", "reason": "payment_pending"}]
ALLOCATIONS = {"A-1": {"location_id": "WH-1", "hold_id": "H-1", "lines": [["SKU-A", 2]]}, "A-2": None}


@pytest_asyncio.fixture
async def migrated(omnistock_servers: tuple[str, str]) -> AsyncIterator[Settings]:
    admin_url, nats_url = omnistock_servers
    async with isolated_run(admin_url, nats_url, "newest_states") as settings:
        yield settings


async def migrate(settings: Settings, revision: str) -> None:
    config = alembic_config(settings, "fulfilment")
    step = command.upgrade if revision == "head" else command.downgrade
    await asyncio.to_thread(step, config, revision)


async def rows_before(db: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    orders = await db.fetch("SELECT order_id, version, holds, allocations FROM fulfilment.order_holds ORDER BY 1")
    reservations = await db.fetch("SELECT reservation_id, version, lines FROM fulfilment.reservation_lines ORDER BY 1")
    return [tuple(row) for row in orders], [tuple(row) for row in reservations]


async def test_kept_states_move_to_newest_states_and_back(migrated: Settings) -> None:
    await migrate(migrated, BEFORE)
    db = Database(migrated.database_url or "", min_size=1, max_size=1)
    await db.connect()
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO fulfilment.order_holds (order_id, version, holds, allocations)"
                " VALUES ('O-1', $1, $2, $3), ('O-2', $1, '[]', NULL)",
                T0,
                HOLDS,
                ALLOCATIONS,
            )
            await conn.execute(
                "INSERT INTO fulfilment.reservation_lines (reservation_id, version, lines) VALUES ('R-1', $1, $2)",
                T0,
                [["SKU-A", 1], ["SKU-B", 3]],
            )
        kept = await rows_before(db)

        await migrate(migrated, "head")
        tables = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'fulfilment'")
        assert {"order_holds", "reservation_lines"}.isdisjoint(row["tablename"] for row in tables)
        async with db.transaction() as conn:
            assert await hold_repository.of_order(conn, "O-1") == OrderHolds(
                "O-1",
                T0,
                (ActiveHold("", "payment_pending"),),
                allocations={"A-1": HeldAllocation("WH-1", "H-1", (("SKU-A", 2),)), "A-2": None},
            )
            # Kept before fulfilment kept allocations: not known, and an event's own are read.
            assert await hold_repository.of_order(conn, "O-2") == OrderHolds("O-2", T0, (), allocations=None)
            older = await repository.newest_reservation_lines(conn, "R-1", T0 - timedelta(minutes=1), (("SKU-A", 5),))
            assert older == (("SKU-A", 1), ("SKU-B", 3))

        await migrate(migrated, BEFORE)
        assert await rows_before(db) == kept
        await migrate(migrated, "head")
    finally:
        await db.close()
