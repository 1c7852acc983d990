"""An HTTP app served inside another program's event loop (the console and the storefront page in
`omnistock up`, a service's Connect port): that program owns the signals and says when to stop.

The port is bound here, before uvicorn starts, so a port already taken is an OSError for the caller
(uvicorn would exit the process). Answers leave at once: the listening socket sets TCP_NODELAY,
which accepted connections inherit (a reply written in parts otherwise waits for the client's
delayed acknowledgement, 40 ms a call)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def local_url(host: str, port: int) -> str:
    """The address to open in a browser on this machine."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}/"


class EmbeddedHttp:
    def __init__(self, config: uvicorn.Config, name: str) -> None:
        self.config = config
        self.name = name
        self.server = _Embedded(config)
        self.port = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, port: int | None = None, reuse_port: bool = False, timeout: float = 10.0) -> int:
        """Serving: the port (a free one for 0). OSError when the port can not be had."""
        wanted = self.config.port if port is None else port
        listening = socket.create_server((self.config.host, wanted), reuse_port=reuse_port)
        listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = listening.getsockname()[1]
        self._task = asyncio.create_task(self._serve(listening), name=f"omnistock-{self.name}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"the {self.name} stopped while starting")
            if loop.time() > deadline:
                raise OSError(f"the {self.name} did not start within {timeout:g} s")
            await asyncio.sleep(0.02)
        return self.port

    async def _serve(self, listening: socket.socket) -> None:
        try:
            await self.server.serve(sockets=[listening])
        except SystemExit as exit:  # uvicorn's way of saying the start failed
            raise OSError(f"the {self.name} stopped: exit code {exit.code}") from None
        finally:
            listening.close()

    async def stop(self) -> None:
        """Requests under way finish within the config's graceful timeout."""
        if self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._task
        self._task = None
