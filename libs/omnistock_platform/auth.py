"""Who is calling: bearer JWTs, roles and the locations staff may act on."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

from omnistock.common.v1 import common_pb2
from omnistock_platform.errors import PermissionDenied, Reason, Unauthenticated
from omnistock_platform.settings import DEVELOPMENT_JWT_SECRET, Settings


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
        raise PermissionDenied(
            f"{principal.role} {principal.subject!r} may not act on {what} {location_id!r}",
            reason=Reason.LOCATION_NOT_ALLOWED,
        )


# The channel each channel's role sells in when its token names none (the token's `channel` claim,
# e.g. "web", says it otherwise): the services, the CLI and the MCP tools read it here. Admin and
# services act for every channel.
ROLE_CHANNELS: dict[str, int] = {
    Role.STOREFRONT: common_pb2.CHANNEL_WEB,
    Role.APP: common_pb2.CHANNEL_APP,
    Role.CHAT_AGENT: common_pb2.CHANNEL_CHAT,
    Role.POS: common_pb2.CHANNEL_POS,
}
ANY_CHANNEL = frozenset({Role.ADMIN, Role.SERVICE})


def own_channel(principal: Principal) -> int | None:
    """The one channel the caller takes stock in; None when it may name any (admin, services) or none."""
    if principal.channel:
        name = f"CHANNEL_{principal.channel.strip().upper()}"
        if name in common_pb2.Channel.DESCRIPTOR.values_by_name and name != "CHANNEL_UNSPECIFIED":
            return common_pb2.Channel.Value(name)
    return ROLE_CHANNELS.get(principal.role)


def require_own_channel(channel: int) -> None:
    """A caller takes stock only in its own channel: a channel's pools and the stores' safety stock
    keep each channel's share, and naming another channel would get round them (docs/security.md)."""
    principal = current_principal()
    if principal.role in ANY_CHANNEL:
        return
    own = own_channel(principal)
    if own != channel:
        named, mine = _channel_name(channel), _channel_name(own) if own is not None else "none"
        raise PermissionDenied(
            f"{principal.role} {principal.subject!r} takes stock in its own channel ({mine}), not in {named}",
            reason=Reason.ACTION_NOT_ALLOWED,
        )


def _channel_name(channel: int) -> str:
    names = common_pb2.Channel.DESCRIPTOR.values_by_number
    return names[channel].name if channel in names else str(channel)


def require_locations(location_ids: Iterable[str], what: str = "location") -> None:
    """Staff act only at their own locations: every location an action touches must be one of theirs."""
    for location_id in sorted(set(location_ids)):
        require_location(location_id, what)


def require_any_location(location_ids: Iterable[str], what: str) -> None:
    """Staff read a record that spans locations (a hold, an order) only when it touches one of theirs."""
    principal = current_principal()
    if principal.location_scoped and not principal.locations & set(location_ids):
        raise PermissionDenied(
            f"{principal.role} {principal.subject!r} may not see {what}: it is at none of their locations",
            reason=Reason.LOCATION_NOT_ALLOWED,
        )


def visible_locations(location_id: str) -> list[str]:
    """The locations a listing covers: the one asked for (which must be the caller's, for staff), or,
    when none is named, all (for everyone but staff) or the staff member's own ([] stands for all)."""
    principal = current_principal()
    if location_id:
        require_location(location_id)
        return [location_id]
    if principal.location_scoped:
        if not principal.locations:
            raise PermissionDenied(
                f"{principal.role} {principal.subject!r} has no locations", reason=Reason.LOCATION_NOT_ALLOWED
            )
        return sorted(principal.locations)
    return []


# Clocks of callers and services drift; beyond a few minutes it is a misconfiguration, not drift.
MAX_LEEWAY = timedelta(minutes=5)
_SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "ES256K", "EdDSA"}
)


class _JwksFile:
    """The identity provider's keys from a local JWKS file, read again when the file changes
    (key rotation is a file sync, not a restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = -1
        self._keys: list[jwt.PyJWK] = []
        self._checked = 0.0
        self._reload()

    def _reload(self) -> None:
        stamp = self.path.stat().st_mtime_ns
        if stamp != self._stamp:
            self._keys = jwt.PyJWKSet.from_json(self.path.read_text()).keys
            self._stamp = stamp

    def key(self, kid: str | None, algorithm: str) -> Any:
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            with contextlib.suppress(OSError, jwt.PyJWTError, ValueError):  # keep the last good keys
                self._reload()
        usable = [k for k in self._keys if k.algorithm_name == algorithm and k.key_type != "oct"]
        if kid is not None:
            usable = [k for k in usable if k.key_id == kid]
        if len(usable) != 1:
            # No key, or several and the token did not say which: never guess.
            raise Unauthenticated(f"no key {kid!r} for {algorithm} in the JWKS")
        return usable[0].key


def development_secret_in_use(settings: Settings) -> bool:
    """Whether tokens signed with the secret every checkout shares would be accepted (or minted)."""
    hmac = any(algorithm in _SYMMETRIC for algorithm in settings.jwt_algorithms)
    return not settings.auth_disabled and hmac and settings.jwt_secret == DEVELOPMENT_JWT_SECRET


def unsafe_for_production(settings: Settings) -> list[str]:
    """What only belongs on a laptop, in these settings: a service refuses to start with any of it
    when OMNISTOCK_ENV=production, and warns about it loudly otherwise."""
    found = []
    if development_secret_in_use(settings):
        found.append(
            "OMNISTOCK_JWT_SECRET is the built-in development secret: anyone with a checkout can sign"
            " tokens for any role; set a secret of your own, or verify tokens with your identity provider's keys"
        )
    if settings.auth_disabled:
        found.append("OMNISTOCK_AUTH_DISABLED is set: every caller is treated as admin")
    return found


class TokenAuthority:
    """Verifies tokens, and mints them for local use and for calls between services.

    HS* tokens are checked with `jwt_secret`; RS*/PS*/ES*/EdDSA tokens with the public key in
    `jwt_public_key_file` or the key the token's `kid` names in `jwt_jwks_file`. Only the
    algorithms in `jwt_algorithms` are accepted, each with its own kind of key, so a token can
    never pick how it is checked (no `none`, no public key used as an HMAC secret).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        algorithms = tuple(settings.jwt_algorithms)
        unknown = set(algorithms) - _SYMMETRIC - _ASYMMETRIC
        if not algorithms or unknown:
            raise ValueError(f"jwt_algorithms: unsupported {sorted(unknown) or 'empty list'}")
        if settings.jwt_leeway > MAX_LEEWAY or settings.jwt_leeway < timedelta(0):
            raise ValueError(f"jwt_leeway must be between 0 and {MAX_LEEWAY}, not {settings.jwt_leeway}")
        self.algorithms = algorithms
        self._secret = settings.jwt_secret
        if any(a in _SYMMETRIC for a in algorithms) and not self._secret:
            raise ValueError("jwt_secret is empty but an HS algorithm is accepted")
        self._public_key = (
            settings.jwt_public_key_file.read_text() if settings.jwt_public_key_file is not None else None
        )
        self._jwks = _JwksFile(settings.jwt_jwks_file) if settings.jwt_jwks_file is not None else None
        if any(a in _ASYMMETRIC for a in algorithms) and self._public_key is None and self._jwks is None:
            raise ValueError("an RS/ES algorithm is accepted but neither jwt_public_key_file nor jwt_jwks_file is set")
        self._signing_key, self._signing_algorithm = self._signer(settings)

    def _signer(self, settings: Settings) -> tuple[str, str]:
        if settings.jwt_private_key_file is not None:
            asymmetric = [a for a in self.algorithms if a in _ASYMMETRIC]
            if not asymmetric:
                raise ValueError("jwt_private_key_file is set but jwt_algorithms has no RS/ES algorithm")
            return settings.jwt_private_key_file.read_text(), asymmetric[0]
        symmetric = [a for a in self.algorithms if a in _SYMMETRIC]
        # Without an HS algorithm accepted, minted tokens would be refused; mint() says so.
        return self._secret, symmetric[0] if symmetric else ""

    def _verification_key(self, header: dict[str, Any]) -> tuple[Any, str]:
        algorithm = str(header.get("alg", ""))
        if algorithm not in self.algorithms:
            raise Unauthenticated(f"tokens signed with {algorithm or 'no algorithm'!r} are not accepted")
        if algorithm in _SYMMETRIC:
            return self._secret, algorithm
        kid = header.get("kid")
        if self._jwks is not None and (kid is not None or self._public_key is None):
            return self._jwks.key(None if kid is None else str(kid), algorithm), algorithm
        return self._public_key, algorithm

    def verify(self, token: str) -> Principal:
        try:
            key, algorithm = self._verification_key(jwt.get_unverified_header(token))
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway,
                options={"require": ["exp", "iat", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("token has expired", reason=Reason.TOKEN_EXPIRED) from error
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"invalid token: {error}") from error
        except (ValueError, TypeError) as error:  # a key that does not fit the algorithm
            raise Unauthenticated("invalid token: the key does not match its algorithm") from error
        try:
            role = Role(claims["role"])
        except (ValueError, TypeError) as error:
            raise Unauthenticated(f"unknown role {claims['role']!r}") from error
        locations = claims.get("locations", [])
        if not isinstance(locations, list):
            raise Unauthenticated("invalid token: locations must be a list")
        return Principal(
            subject=str(claims["sub"]),
            role=role,
            channel=str(claims.get("channel", "")),
            locations=frozenset(str(location) for location in locations),
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
        if not self._signing_algorithm:
            raise ValueError("cannot mint tokens: set jwt_private_key_file, or accept an HS algorithm with jwt_secret")
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
        headers = {"kid": self.settings.jwt_key_id} if self.settings.jwt_key_id else None
        return jwt.encode(claims, self._signing_key, algorithm=self._signing_algorithm, headers=headers)
