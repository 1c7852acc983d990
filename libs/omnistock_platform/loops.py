"""The background loops of a service: a round of work, then a pause that ends the moment the
service stops.

A round that fails (the database or the bus away for a while) is logged and tried again the next
round; a round that answers True found more work waiting and runs again at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import asyncpg
import structlog

log = structlog.get_logger()

# One round of a loop; True when more work is waiting (the next round starts without a pause).
Round = Callable[[], Awaitable[bool | None]]


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when the service stops meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def wake_or_pause(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when `wake` is set (more work came) or the service stops meanwhile."""
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def repeat(
    stop: asyncio.Event,
    seconds: float,
    work: Round,
    *,
    failed: str,
    level: Literal["debug", "warning"] = "warning",
    **context: Any,
) -> None:
    """Run `work` every `seconds` until `stop`; a failed round is logged as the event `failed`."""
    while not stop.is_set():
        try:
            if await work():
                continue
        except Exception as error:
            getattr(log, level)(failed, error=repr(error), **context)
        await pause(stop, seconds)


async def listen(
    stop: asyncio.Event,
    url: str,
    channel: str,
    wake: asyncio.Event,
    *,
    failed: str,
    heard: Callable[[str], None] | None = None,
    **context: Any,
) -> None:
    """Set `wake` on every PostgreSQL NOTIFY on `channel` until `stop` (and hand `heard` its payload),
    on a connection of its own that is made again whenever it is lost (a restart, a failover, an
    administrator's termination, even between connecting and LISTEN). The caller also polls: a
    notification missed meanwhile only delays."""

    def notified(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        wake.set()
        if heard is not None:
            heard(payload)

    while not stop.is_set():
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(url)
            await conn.add_listener(channel, notified)
            while not stop.is_set() and not conn.is_closed():
                await pause(stop, 1.0)
        except Exception as error:
            log.warning(failed, error=repr(error), **context)
            await pause(stop, 1.0)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
