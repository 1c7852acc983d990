"""Who is at the screen: the signed-in staff member, their token and the location they work at.

The token (one the retailer's identity provider issued, or in development one minted here)
lives only in the session cookie: signed, HttpOnly and SameSite=Strict, never in a page or a
URL. It is verified like the services verify it, on every request, so an expired or revoked
key signs the person out at once. Every form carries a token of the session (CSRF), checked
on every POST."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request

from omnistock_platform.auth import LOCATION_SCOPED, Principal, Role, TokenAuthority
from omnistock_platform.errors import Unauthenticated
from omnistock_platform.settings import Settings

TOKEN = "token"
LOCATION = "location"
CSRF = "csrf"
FLASH = "flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Identity providers issue tokens of a few kilobytes at most; a cookie holds about four.
MAX_TOKEN_LENGTH = 3000
DEMO_TTL = timedelta(hours=8)


class NotStaff(Exception):
    """A token that can not open the console, in words."""


@dataclass(frozen=True)
class Staff:
    token: str
    principal: Principal
    location_id: str

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def at_store(self) -> bool:
        return self.principal.role is Role.POS

    @property
    def locations(self) -> list[str]:
        return sorted(self.principal.locations)


def check_token(authority: TokenAuthority, token: str) -> Principal:
    """The staff member a token names; NotStaff, in words, for anything else."""
    token = token.strip()
    if not token:
        raise NotStaff("Paste the token your sign-in gave you.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise NotStaff(f"That token is longer than {MAX_TOKEN_LENGTH} characters; it is not a staff token.")
    try:
        principal = authority.verify(token)
    except Unauthenticated as error:
        raise NotStaff(f"The token was not accepted: {error.message}.") from error
    if principal.role not in LOCATION_SCOPED:
        raise NotStaff(f"This console is for store and warehouse staff; the token is for the role {principal.role}.")
    if not principal.locations:
        raise NotStaff("The token names no store or warehouse to work at.")
    return principal


def sign_in(request: Request, authority: TokenAuthority, token: str) -> Staff:
    principal = check_token(authority, token)
    request.session.clear()
    request.session[TOKEN] = token.strip()
    request.session[LOCATION] = sorted(principal.locations)[0]
    # A new session gets a new CSRF token: one from before the sign-in is worth nothing.
    request.session[CSRF] = secrets.token_urlsafe(32)
    return Staff(token.strip(), principal, request.session[LOCATION])


def sign_out(request: Request) -> None:
    request.session.clear()


def current_staff(request: Request, authority: TokenAuthority) -> Staff | None:
    """The signed-in staff member, or None (never signed in, or the token no longer holds)."""
    token = request.session.get(TOKEN)
    if not isinstance(token, str) or not token:
        return None
    try:
        principal = check_token(authority, token)
    except NotStaff:
        request.session.clear()
        request.session[FLASH] = "Your sign-in has ended. Please sign in again."
        return None
    location = request.session.get(LOCATION)
    if location not in principal.locations:
        location = sorted(principal.locations)[0]
    return Staff(token, principal, str(location))


def demo_token(settings: Settings, role: Role, location_id: str) -> str:
    """A development token for one store's or warehouse's staff (demo sign-in only)."""
    return TokenAuthority(settings).mint(
        role,
        f"console-demo-{role}-{location_id}".lower(),
        locations=[location_id],
        channel="pos" if role is Role.POS else "",
        ttl=DEMO_TTL,
    )


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF] = token
    return token


def csrf_ok(request: Request, sent: str | None) -> bool:
    expected = request.session.get(CSRF)
    if not isinstance(expected, str) or not expected:
        return False
    given = sent or request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(expected.encode(), given.encode())


def flash(request: Request, message: str) -> None:
    request.session[FLASH] = message


def take_flash(request: Request) -> str:
    message = request.session.pop(FLASH, "")
    return message if isinstance(message, str) else ""
