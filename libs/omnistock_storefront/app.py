"""The storefront page and its two files. The page gets what its script needs in a JSON block: the
Connect URLs of inventory and reservations, a storefront token, the SKU and where the customer is."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from urllib.parse import urlsplit

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


# Inside a <script> element the HTML parser still reads "</script", "<!--" and "<script" as markup:
# "<!--<script>" in the SKU of the page's address would keep the block open past its end, and the
# page's own script would never run. JSON may spell those three characters as escapes, and then
# nothing the config holds is markup.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def script_json(value: object) -> str:
    """`value` as JSON that can stand inside a <script> element, whatever its strings hold."""
    return json.dumps(value).translate(_SCRIPT_SAFE)


def page_headers(shop: Shop) -> dict[str, str]:
    """What the browser is told about the page: it loads only its own files and calls only the Connect
    URLs it names, no other site may frame it (a hidden frame under a decoy would turn a visitor's
    click into a reservation), and a cache keeps nothing (the page carries a token)."""
    services = " ".join(sorted({f"{part.scheme}://{part.netloc}" for part in map(urlsplit, shop.urls.values())}))
    return {
        "content-security-policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {services}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; "
            "object-src 'none'"
        ).replace("'self' ;", "'self';"),
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }


def _static(name: str) -> str:
    return resources.files("omnistock_storefront").joinpath("static", name).read_text(encoding="utf-8")


def create_app(settings: Settings, shop: Shop | None = None) -> Starlette:
    """A storefront token minted with this environment's key, as a web shop's backend would hand one
    to its pages: for the development stack only, like the console's demo sign-in."""
    shop = shop or Shop(urls=connect_urls(settings))
    authority = TokenAuthority(settings)
    page, script, style = _static("index.html"), _static("storefront.js"), _static("storefront.css")
    headers = page_headers(shop)

    async def index(request: Request) -> HTMLResponse:
        config = {
            "urls": shop.urls,
            "token": authority.mint(Role.STOREFRONT, "storefront-demo", channel="web", ttl=TOKEN_TTL),
            "sku": request.query_params.get("sku") or shop.sku,
            "near": shop.near,
            "radiusKm": shop.radius_km,
            "customer": {"customerId": "WEB-DEMO", "name": "Web customer", "email": "customer@example.com"},
        }
        embedded = script_json(config)
        return HTMLResponse(page.replace("__CONFIG__", embedded), headers=headers)

    def asset(body: str, kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return Response(body, media_type=kind, headers={"x-content-type-options": "nosniff"})

        return serve

    return Starlette(
        routes=[
            Route("/", index),
            Route("/storefront.js", asset(script, "text/javascript")),
            Route("/storefront.css", asset(style, "text/css")),
        ]
    )
