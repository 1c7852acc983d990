"""Serving the storefront page inside another program's event loop (`omnistock up`, the tests)."""

from __future__ import annotations

import uvicorn

from omnistock_platform.http import EmbeddedHttp, local_url
from omnistock_platform.settings import Settings
from omnistock_storefront.app import Shop, create_app


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
        self.http = EmbeddedHttp(config, "storefront")

    async def start(self, timeout: float = 10.0) -> str:
        """Serving: the page's address. OSError when the port can not be had."""
        return local_url(self.settings.host, await self.http.start(timeout=timeout))

    async def stop(self) -> None:
        await self.http.stop()
