"""The background loops' PostgreSQL listener: it outlives every way its connection can be lost."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from omnistock_platform.loops import listen
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import wait_until


async def test_the_listener_survives_its_connection_being_terminated_at_any_moment(
    omnistock_settings: Settings,
) -> None:
    name = f"listen-{unique_id()}"
    base = omnistock_settings.database_url
    url = f"{base}{'&' if '?' in base else '?'}application_name={name}"
    channel = f"listen_{unique_id().lower()}"
    stop, wake = asyncio.Event(), asyncio.Event()
    listener = asyncio.create_task(listen(stop, url, channel, wake, failed="test.listen_failed"))
    admin = await asyncpg.connect(omnistock_settings.database_url)
    try:
        # Terminated as soon as it shows, over and over: between connecting and LISTEN, during LISTEN
        # and while listening. Before, a termination before LISTEN answered ended the listener for good.
        terminated = 0
        for _ in range(200):
            terminated += await admin.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1) AS killed",
                name,
            )
            assert not listener.done(), listener.exception()
            await asyncio.sleep(0.01)
        assert terminated > 0

        async def notified() -> bool:
            await admin.execute(f"NOTIFY {channel}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), 0.2)
            return wake.is_set()

        await wait_until(notified, timeout=30, what="a NOTIFY after the terminations wakes the listener")
    finally:
        stop.set()
        await asyncio.wait_for(listener, 10)
        await admin.close()
