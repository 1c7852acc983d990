"""Who may use the MCP server over HTTP: a caller sends `Authorization: Bearer <JWT>`, the same
tokens the services take, verified with the same settings (secret or keys, algorithms, issuer,
audience, leeway). The tools then act as that caller: its token is what they pass on.

Without authentication (`--no-auth`, for a laptop) the server may listen on a loopback address
only, and the tools act with the configured token."""

from __future__ import annotations

import ipaddress
import socket

import jwt
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl

from omnistock_platform.auth import TokenAuthority
from omnistock_platform.errors import Unauthenticated
from omnistock_platform.logging import get_logger
from omnistock_platform.settings import Settings

log = get_logger(__name__)


class OmnistockTokenVerifier:
    """The MCP SDK's TokenVerifier over Omnistock's TokenAuthority. A refused token makes the
    request 401; an accepted one names its principal as (role, issuer, subject), so an MCP
    session opened by one caller cannot be used with another caller's token."""

    def __init__(self, settings: Settings) -> None:
        self.authority = TokenAuthority(settings)
        # The SDK refuses a token at its `exp`; the services allow the configured clock skew.
        self.leeway = int(settings.jwt_leeway.total_seconds())

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            principal = self.authority.verify(token)
        except Unauthenticated as refused:
            log.info("mcp.token_refused", reason=str(refused))
            return None
        # Verified just above: these are the token's own claims.
        claims = jwt.decode(token, options={"verify_signature": False})
        return AccessToken(
            token=token,
            client_id=str(principal.role),
            scopes=[str(principal.role)],
            expires_at=int(claims["exp"]) + self.leeway,
            subject=principal.subject,
            claims={
                "iss": claims.get("iss"),
                "channel": principal.channel,
                "locations": sorted(principal.locations),
            },
        )


def auth_settings(settings: Settings) -> AuthSettings:
    # The SDK asks for the authorization server's URL; it serves no OAuth metadata here (no
    # resource_server_url), so this is only recorded. Tokens come from `omnistock token` or the
    # identity provider the services trust; the audience is checked by the verifier.
    issuer = settings.jwt_issuer if settings.jwt_issuer.startswith(("http://", "https://")) else "http://localhost"
    return AuthSettings(issuer_url=AnyHttpUrl(issuer), resource_server_url=None, validate_token_resource=False)


def bearer_token() -> str:
    """The token the MCP request being served was authenticated with ("" outside of one)."""
    access = get_access_token()
    return access.token if access is not None else ""


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses)
