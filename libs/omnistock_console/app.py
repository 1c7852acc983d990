"""The console as an ASGI application: pages, the live queue, static files, the session."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnistock_console.pages_auth import AuthPages
from omnistock_console.pages_counts import CountPages
from omnistock_console.pages_desk import DeskPages
from omnistock_console.pages_transfers import TransferPages
from omnistock_console.pages_work import WorkPages
from omnistock_console.services import Refused, Services
from omnistock_console.staff import current_staff, flash, sign_out
from omnistock_console.web import BadForm, Console, SignInNeeded, log
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "omnistock_console"
# Everything the page loads comes from the console itself; nothing inline, nothing framed.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: Settings, *, addresses: dict[ServiceName, str] | None = None) -> Starlette:
    services = Services(settings, addresses)
    console = Console.build(settings, services)
    if not settings.console_session_secret:
        log.warning("console_session_secret_unset", effect="sessions end when the console restarts")

    def wants_fragment(request: Request) -> bool:
        return request.headers.get("hx-request") == "true"

    def to_sign_in(request: Request) -> Response:
        if wants_fragment(request):
            return Response(status_code=401, headers={"hx-redirect": "/sign-in"})
        return RedirectResponse("/sign-in", status_code=303)

    async def sign_in_needed(request: Request, _: Exception) -> Response:
        return to_sign_in(request)

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, Refused)
        if error.signed_out:
            sign_out(request)
            flash(request, "Your sign-in has ended. Please sign in again.")
            return to_sign_in(request)
        staff = current_staff(request, console.authority)
        return console.render(request, "error.html", {"words": error.words}, status=error.status, staff=staff)

    async def bad_form(request: Request, error: Exception) -> Response:
        staff = current_staff(request, console.authority)
        return console.render(request, "error.html", {"words": str(error)}, status=403, staff=staff)

    async def not_found(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        words = "There is no such page." if error.status_code == 404 else error.detail
        staff = current_staff(request, console.authority)
        return console.render(request, "error.html", {"words": words}, status=error.status_code, staff=staff)

    async def crashed(request: Request, error: Exception) -> Response:
        # Outside the session middleware: no session, no frame, only the words.
        log.exception("console_request_failed", path=request.url.path)
        page = console.templates.get_template("crashed.html").render()
        return HTMLResponse(page, status_code=500, headers={"cache-control": "no-store"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.close()

    routes = [
        *AuthPages(console).routes(),
        *WorkPages(console).routes(),
        *DeskPages(console).routes(),
        *CountPages(console).routes(),
        *TransferPages(console).routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=settings.console_session_secret or secrets.token_urlsafe(32),
            session_cookie=SESSION_COOKIE,
            max_age=int(settings.console_session_ttl.total_seconds()),
            same_site="strict",
            https_only=settings.console_secure_cookie,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            SignInNeeded: sign_in_needed,
            Refused: refused,
            BadForm: bad_form,
            HTTPException: not_found,
            Exception: crashed,
        },
        lifespan=lifespan,
    )
    app.state.console = console
    return app
