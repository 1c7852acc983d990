"""Serving the console: on its own (`omnistock console`, `python -m omnistock_console`), or
inside `omnistock up`, next to the services it calls."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn

from omnistock_console.app import create_app
from omnistock_platform.settings import ServiceName, Settings

# Open live queues are closed this long after a stop began; the browser reconnects elsewhere.
GRACEFUL_SECONDS = 2


def config(
    settings: Settings, *, port: int | None = None, addresses: dict[ServiceName, str] | None = None
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, addresses=addresses),
        host=settings.host,
        port=settings.console_port if port is None else port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        # Staff sit behind the retailer's proxy at most; the client address is not used for anything.
        proxy_headers=False,
        server_header=False,
    )


def url(settings: Settings, port: int) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{port}/"


def serve(settings: Settings) -> None:
    """Until SIGINT or SIGTERM."""
    uvicorn.Server(config(settings)).run()


class _Embedded(uvicorn.Server):
    """Inside another program's event loop: that program owns the signals and says when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedConsole:
    def __init__(self, settings: Settings, *, port: int | None = None) -> None:
        self.settings = settings
        self.server = _Embedded(config(settings, port=port))
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 10.0) -> str:
        """Serving: the address to open in a browser. OSError when the port can not be had."""
        # Bound here, so a busy port is an OSError for the caller (uvicorn would exit the process).
        listening = socket.create_server((self.server.config.host, self.server.config.port))
        self._task = asyncio.create_task(self._serve(listening), name="omnistock-console")
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise OSError("the console stopped while starting")
            if asyncio.get_running_loop().time() > deadline:
                raise OSError(f"the console did not start within {timeout:g} s")
            await asyncio.sleep(0.05)
        return url(self.settings, listening.getsockname()[1])

    async def _serve(self, listening: socket.socket) -> None:
        try:
            await self.server.serve(sockets=[listening])
        except SystemExit as exit:  # uvicorn's way of saying the start failed
            raise OSError(f"the console stopped: exit code {exit.code}") from None
        finally:
            listening.close()

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._task
