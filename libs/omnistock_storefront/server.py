"""Serving the storefront page inside another program's event loop (`omnistock up`, the tests)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn

from omnistock_platform.settings import Settings
from omnistock_storefront.app import Shop, create_app


class _Embedded(uvicorn.Server):
    """The program it runs in owns the signals and says when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedStorefront:
    def __init__(self, settings: Settings, *, port: int | None = None, shop: Shop | None = None) -> None:
        self.settings = settings
        config = uvicorn.Config(
            create_app(settings, shop),
            host=settings.host,
            port=settings.storefront_port if port is None else port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
        )
        self.server = _Embedded(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 10.0) -> str:
        """Serving: the page's address. OSError when the port can not be had."""
        listening = socket.create_server((self.server.config.host, self.server.config.port))
        listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle wait per answer
        self._task = asyncio.create_task(self._serve(listening), name="omnistock-storefront")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise OSError("the storefront stopped while starting")
            if loop.time() > deadline:
                raise OSError(f"the storefront did not start within {timeout:g} s")
            await asyncio.sleep(0.05)
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "::", "") else self.settings.host
        return f"http://{host}:{listening.getsockname()[1]}/"

    async def _serve(self, listening: socket.socket) -> None:
        try:
            await self.server.serve(sockets=[listening])
        except SystemExit as exit:  # uvicorn's way of saying the start failed
            raise OSError(f"the storefront stopped: exit code {exit.code}") from None
        finally:
            listening.close()

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._task
