"""Serving the console: on its own (`omnistock console`, `python -m omnistock_console`), or
inside `omnistock up`, next to the services it calls."""

from __future__ import annotations

import uvicorn

from omnistock_console.app import create_app
from omnistock_platform.http import EmbeddedHttp, local_url
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

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
    return local_url(settings.host, port)


def serve(settings: Settings) -> None:
    """Until SIGINT or SIGTERM."""
    uvicorn.Server(config(settings)).run()


class EmbeddedConsole:
    def __init__(self, settings: Settings, *, port: int | None = None) -> None:
        self.settings = settings
        self.http = EmbeddedHttp(config(settings, port=port), "console")

    async def start(self, timeout: float = 10.0) -> str:
        """Serving: the address to open in a browser. OSError when the port can not be had."""
        return url(self.settings, await self.http.start(timeout=timeout))

    async def stop(self) -> None:
        await self.http.stop()
