"""Signing in and out.

Production: the retailer's identity provider issues the staff member's token. It reaches the
console pasted into the sign-in form, or handed off by an authenticating proxy in front of the
console (`GET /sign-in/hand-off` with `Authorization: Bearer <token>`). Development
(`console_demo_sign_in`, on in `omnistock up`): one button per store and warehouse mints a
token for its staff with this environment's key."""

from __future__ import annotations

import grpc
from omnistock_client.lookups import locations as all_locations
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_console.staff import NotStaff, Staff, demo_token, sign_in, sign_out
from omnistock_console.web import Console, field, see_other
from omnistock_platform.auth import Role
from omnistock_platform.grpc.client import ServiceToken


def home_of(staff: Staff) -> str:
    return f"/at/{staff.location_id}/queue"


class AuthPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._lister = (
            ServiceToken(console.settings, "omnistock-console") if console.settings.console_demo_sign_in else None
        )

    def routes(self) -> list[Route]:
        return [
            Route("/", self.home),
            Route("/sign-in", self.sign_in_page),
            Route("/sign-in", self.sign_in_with_token, methods=["POST"]),
            Route("/sign-in/demo", self.sign_in_demo, methods=["POST"]),
            Route("/sign-in/hand-off", self.hand_off),
            Route("/sign-out", self.sign_out, methods=["POST"]),
        ]

    async def home(self, request: Request) -> Response:
        return see_other(home_of(self.console.staff(request)))

    async def sign_in_page(self, request: Request, problem: str = "", status: int = 200) -> Response:
        stores: list[ipb.Location] = []
        warehouses: list[ipb.Location] = []
        demo_problem = ""
        if self._lister is not None:
            try:
                with self.console.services.acting_as(self._lister()) as client:
                    found = [place for place in await all_locations(client) if place.active]
            except grpc.aio.AioRpcError as error:
                demo_problem = (await self.console.services.refusal(error)).words
                found = []
            stores = [place for place in found if place.kind == ipb.LOCATION_KIND_STORE]
            warehouses = [place for place in found if place.kind == ipb.LOCATION_KIND_WAREHOUSE]
        return self.console.render(
            request,
            "sign_in.html",
            {"problem": problem, "stores": stores, "warehouses": warehouses, "demo_problem": demo_problem},
            status=status,
        )

    async def sign_in_with_token(self, request: Request) -> Response:
        form = await self.console.form(request)
        token = form.get("token")
        try:
            staff = sign_in(request, self.console.authority, token if isinstance(token, str) else "")
        except NotStaff as refused:
            return await self.sign_in_page(request, str(refused), status=401)
        return see_other(home_of(staff))

    async def sign_in_demo(self, request: Request) -> Response:
        form = await self.console.form(request)
        if not self.console.settings.console_demo_sign_in:
            return await self.sign_in_page(request, "Demo sign-in is off here: sign in with your own token.", 403)
        role_name, location_id = field(form, "role"), field(form, "location_id")
        if role_name not in (Role.POS, Role.WAREHOUSE) or not location_id:
            return await self.sign_in_page(request, "Choose a store or a warehouse to sign in at.", 422)
        staff = sign_in(
            request, self.console.authority, demo_token(self.console.settings, Role(role_name), location_id)
        )
        return see_other(home_of(staff))

    async def hand_off(self, request: Request) -> Response:
        """An authenticating proxy in front of the console passes the identity provider's token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return await self.sign_in_page(request, "No token was handed over: sign in with your token.", 401)
        try:
            staff = sign_in(request, self.console.authority, token)
        except NotStaff as refused:
            return await self.sign_in_page(request, str(refused), status=401)
        return see_other(home_of(staff))

    async def sign_out(self, request: Request) -> Response:
        await self.console.form(request)
        sign_out(request)
        return see_other("/sign-in")
