"""Live views (`watch`, `tasks --watch`) that outlive a service restart: when the stream breaks,
the view says so, keeps showing what it last knew (marked as not current), connects again with
a growing delay and, once the service answers, starts again from the fresh snapshot it sends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc

from omnistock_cli.output import err_console

# A stream ending with one of these is opened again; any other answer ends the view with it.
RECONNECT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)
FIRST_DELAY = 0.5
MAX_DELAY = 5.0


@dataclass
class Link:
    """How the view's stream is: `lost` says why it is down (empty while connected)."""

    service: str
    lost: str = ""
    since: str = ""
    reconnects: int = 0

    def note(self) -> str:
        """A line for under the live table while the stream is down ("" while it is up)."""
        if not self.lost:
            return ""
        return (
            f"[yellow]{self.service} unreachable since {self.since} ({self.lost}); reconnecting… (shown as of then)[/]"
        )


async def follow(
    link: Link,
    open_stream: Callable[[], Any],
    handle: Callable[[Any, bool], Awaitable[bool]],
    changed: Callable[[], None] = lambda: None,
) -> None:
    """Read the stream `open_stream()` opens, giving each message to `handle(message, fresh)`
    (`fresh`: the first message since the stream was opened, so the start of a snapshot) until
    it returns True; open it again whenever it breaks. `changed()` after each change of `link`."""
    delay = FIRST_DELAY
    while True:
        stream = open_stream()
        fresh = True
        try:
            async for message in stream:
                if link.lost:
                    err_console.print(
                        f"[green]reconnected to {link.service}[/] at {datetime.now().astimezone():%H:%M:%S %Z}; "
                        "the view starts again from a fresh snapshot"
                    )
                    link.lost, link.reconnects, delay = "", link.reconnects + 1, FIRST_DELAY
                    changed()
                if await handle(message, fresh):
                    return
                fresh = False
            why = "the stream ended"  # a service that stops ends its streams
        except grpc.aio.AioRpcError as error:
            if error.code() not in RECONNECT:
                raise
            why = error.code().name
        finally:
            stream.cancel()
        if not link.lost:
            link.lost, link.since = why, f"{datetime.now().astimezone():%H:%M:%S %Z}"
            err_console.print(f"[yellow]lost the connection to {link.service}[/] ({why}); reconnecting")
            changed()
        await asyncio.sleep(delay)
        delay = min(MAX_DELAY, delay * 2)
