"""The database going away under a change is UNAVAILABLE, which callers retry with the same request
id, not INTERNAL, which none retries.

Found by the chaos run with PostgreSQL restarts: a cancellation whose hold inventory had already
released failed on its own database and answered INTERNAL; the caller did not retry, and the order
stayed allocated with nothing held for it."""

from __future__ import annotations

import pytest

from omnistock_platform.db import Database
from omnistock_platform.embedded import free_port
from omnistock_platform.errors import Unavailable
from omnistock_platform.settings import Settings
from omnistock_platform.testing.waiting import wait_until


async def _gone(db: Database, pid: int) -> bool:
    return not await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)


async def test_a_connection_lost_inside_a_transaction_is_unavailable(
    omnistock_settings: Settings, db: Database
) -> None:
    lost = Database(omnistock_settings.database_url or "", min_size=1, max_size=1)
    await lost.connect()
    try:
        with pytest.raises(Unavailable):
            async with lost.transaction() as conn:
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                await db.execute("SELECT pg_terminate_backend($1)", pid)  # as a restart would
                await wait_until(lambda: _gone(db, pid), timeout=10, what="the backend to end")
                await conn.fetchval("SELECT 1")
        # The pool replaces the connection: the next unit of work succeeds.
        async with lost.transaction() as conn:
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await lost.close()


async def test_an_unreachable_database_is_unavailable() -> None:
    port = free_port()  # nothing listens there: PostgreSQL is down
    down = Database(f"postgresql://postgres@127.0.0.1:{port}/postgres", min_size=0, max_size=1)
    await down.connect()
    try:
        with pytest.raises(Unavailable):
            async with down.transaction():
                pass
    finally:
        await down.close()
