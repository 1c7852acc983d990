"""The storefront page and its two files. The page gets what its script needs in a JSON block: the
Connect URLs of inventory and reservations, a storefront token, the SKU and where the customer is."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.settings import Settings

DEMO_SKU = "SOFA-VELVET-GREEN"
# The customer is in Berlin, where the demo catalogue's stores are.
DEMO_NEAR = {"latitude": 52.52, "longitude": 13.405}
TOKEN_TTL = timedelta(hours=12)


@dataclass(frozen=True)
class Shop:
    """What the page calls: Connect base URLs by service, the SKU it shows by default, the radius."""

    urls: dict[str, str]
    sku: str = DEMO_SKU
    near: dict[str, float] = field(default_factory=lambda: dict(DEMO_NEAR))
    radius_km: float = 50.0


def connect_urls(settings: Settings) -> dict[str, str]:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return {name: f"http://{host}:{settings.connect_port(name)}" for name in ("inventory", "reservations")}


def _static(name: str) -> str:
    return resources.files("omnistock_storefront").joinpath("static", name).read_text(encoding="utf-8")


def create_app(settings: Settings, shop: Shop | None = None) -> Starlette:
    """A storefront token minted with this environment's key, as a web shop's backend would hand one
    to its pages: for the development stack only, like the console's demo sign-in."""
    shop = shop or Shop(urls=connect_urls(settings))
    authority = TokenAuthority(settings)
    page, script, style = _static("index.html"), _static("storefront.js"), _static("storefront.css")

    async def index(request: Request) -> HTMLResponse:
        config = {
            "urls": shop.urls,
            "token": authority.mint(Role.STOREFRONT, "storefront-demo", channel="web", ttl=TOKEN_TTL),
            "sku": request.query_params.get("sku") or shop.sku,
            "near": shop.near,
            "radiusKm": shop.radius_km,
            "customer": {"customerId": "WEB-DEMO", "name": "Web customer", "email": "customer@example.com"},
        }
        # Inside <script>: "</" would end the block early.
        embedded = json.dumps(config).replace("</", "<\\/")
        return HTMLResponse(page.replace("__CONFIG__", embedded), headers={"cache-control": "no-store"})

    def asset(body: str, kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return Response(body, media_type=kind)

        return serve

    return Starlette(
        routes=[
            Route("/", index),
            Route("/storefront.js", asset(script, "text/javascript")),
            Route("/storefront.css", asset(style, "text/css")),
        ]
    )
