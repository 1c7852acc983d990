"""Waiting for a condition in a test, bounded: never a bare sleep as an assertion."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T] | T], timeout: float = 15.0, what: str = "", interval: float = 0.05
) -> T:
    """Poll `probe()` until it returns something truthy and return that; fail with `what` after
    `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}")
        await asyncio.sleep(interval)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> None:
    """Poll until `condition()` is true; fail with `what` after `timeout` seconds."""
    await eventually(condition, timeout, what or str(condition), interval)
