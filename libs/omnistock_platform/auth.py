"""Who is calling: bearer JWTs, roles and the locations staff may act on."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt

from omnistock_platform.errors import PermissionDenied, Unauthenticated
from omnistock_platform.settings import Settings


class Role(StrEnum):
    STOREFRONT = "storefront"
    APP = "app"
    CHAT_AGENT = "chat_agent"
    POS = "pos"
    WAREHOUSE = "warehouse"
    ADMIN = "admin"
    SERVICE = "service"


# Roles whose work is tied to the locations named in their token.
LOCATION_SCOPED = frozenset({Role.POS, Role.WAREHOUSE})


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    channel: str = ""
    locations: frozenset[str] = field(default_factory=frozenset)

    @property
    def location_scoped(self) -> bool:
        return self.role in LOCATION_SCOPED

    def may_act_at(self, location_id: str) -> bool:
        return not self.location_scoped or location_id in self.locations


ANONYMOUS_ADMIN = Principal(subject="auth-disabled", role=Role.ADMIN)
principal_var: ContextVar[Principal] = ContextVar("principal", default=ANONYMOUS_ADMIN)


def current_principal() -> Principal:
    return principal_var.get()


def require_location(location_id: str, what: str = "location") -> None:
    """Staff act only at their own locations; raised from the service layer."""
    principal = current_principal()
    if not principal.may_act_at(location_id):
        raise PermissionDenied(f"{principal.role} {principal.subject!r} may not act on {what} {location_id!r}")


class TokenAuthority:
    """Verifies tokens, and mints them for local use and for calls between services."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._verify_key: str = settings.jwt_secret
        if settings.jwt_public_key_file is not None:
            self._verify_key = settings.jwt_public_key_file.read_text()

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._verify_key,
                algorithms=list(self.settings.jwt_algorithms),
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway,
                options={"require": ["exp", "iat", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("token has expired") from error
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"invalid token: {error}") from error
        try:
            role = Role(claims["role"])
        except ValueError as error:
            raise Unauthenticated(f"unknown role {claims['role']!r}") from error
        return Principal(
            subject=str(claims["sub"]),
            role=role,
            channel=str(claims.get("channel", "")),
            locations=frozenset(str(location) for location in claims.get("locations", [])),
        )

    def mint(
        self,
        role: Role,
        subject: str,
        *,
        locations: frozenset[str] | list[str] = frozenset(),
        channel: str = "",
        ttl: timedelta = timedelta(hours=8),
    ) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": subject,
            "role": str(role),
            "channel": channel,
            "locations": sorted(locations),
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "iat": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.settings.jwt_secret, algorithm=self.settings.jwt_algorithms[0])
