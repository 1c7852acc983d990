"""Tokens: HS256 with a secret for local use; RS256/ES256 with a public key file or a local JWKS
file for production. Issuer, audience, expiry and the clock skew allowed are always checked, and
a token never chooses how it is checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.errors import Unauthenticated
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import Stack
from tests.integration.security.keys import PrivateKey, ec_key, private_pem, public_pem, rsa_key, write_jwks


def claims(**override: Any) -> dict[str, Any]:
    """Valid claims, with some replaced; a timedelta stands for that long from now."""
    now = datetime.now(UTC)
    override = {k: now + v if isinstance(v, timedelta) else v for k, v in override.items()}
    found = {
        "sub": "someone",
        "role": "storefront",
        "iss": "omnistock",
        "aud": "omnistock",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    found.update(override)
    return {key: value for key, value in found.items() if value is not None}


def signed(key: PrivateKey | str, algorithm: str, kid: str | None = None, **override: Any) -> str:
    secret = key if isinstance(key, str) else private_pem(key)
    return jwt.encode(claims(**override), secret, algorithm=algorithm, headers={"kid": kid} if kid else None)


def refused(authority: TokenAuthority, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        authority.verify(token)
    return caught.value.message


def written(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_hs256_with_the_secret_for_local_use() -> None:
    authority = TokenAuthority(Settings(jwt_secret="a-local-secret-of-at-least-32-bytes!"))
    principal = authority.verify(authority.mint(Role.POS, "clerk-7", locations=["STORE-A"]))
    assert (principal.subject, principal.role, principal.locations) == ("clerk-7", Role.POS, frozenset({"STORE-A"}))
    assert "Signature verification failed" in refused(authority, signed("another-secret-of-at-least-32-bytes", "HS256"))


def test_rs256_with_a_public_key_file(tmp_path: Path) -> None:
    key = rsa_key()
    settings = Settings(
        jwt_algorithms=("RS256",), jwt_public_key_file=written(tmp_path, "idp.pem", public_pem(key)), jwt_secret=""
    )
    authority = TokenAuthority(settings)
    assert authority.verify(signed(key, "RS256", role="chat_agent")).role is Role.CHAT_AGENT
    assert "Signature verification failed" in refused(authority, signed(rsa_key(), "RS256"))
    # Only the algorithms configured: no HS256 token, whatever its secret.
    assert "not accepted" in refused(authority, signed("omnistock-local-development-secret-change-me", "HS256"))
    assert "not accepted" in refused(authority, jwt.encode(claims(), None, algorithm="none"))  # type: ignore[arg-type]


def hmac_signed(secret: bytes, **override: Any) -> str:
    """An HS256 token made by hand: PyJWT itself refuses a PEM key as an HMAC secret."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims(**override).items()}
    signing_input = f"{part(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{part(json.dumps(body).encode())}"
    return f"{signing_input}.{part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def test_a_public_key_is_never_an_hmac_secret(tmp_path: Path) -> None:
    """Algorithm confusion: with RS256 and HS256 both accepted, a token HMAC-signed with the
    (public) RSA key must not pass; HS256 is checked with jwt_secret only."""
    key = rsa_key()
    public = written(tmp_path, "idp.pem", public_pem(key))
    authority = TokenAuthority(
        Settings(jwt_algorithms=("RS256", "HS256"), jwt_public_key_file=public, jwt_secret="s" * 40)
    )
    assert "Signature verification failed" in refused(authority, hmac_signed(public_pem(key), role="admin"))
    assert authority.verify(hmac_signed(b"s" * 40)).subject == "someone"
    assert authority.verify(signed(key, "RS256")).subject == "someone"


def test_es256_and_rs256_from_a_local_jwks_file_by_key_id(tmp_path: Path) -> None:
    ec_signer, rsa_signer = ec_key(), rsa_key()
    jwks = write_jwks(tmp_path / "jwks.json", {"ec-1": ec_signer, "rsa-1": rsa_signer})
    authority = TokenAuthority(Settings(jwt_algorithms=("ES256", "RS256"), jwt_jwks_file=jwks, jwt_secret=""))
    assert authority.verify(signed(ec_signer, "ES256", kid="ec-1")).subject == "someone"
    assert authority.verify(signed(rsa_signer, "RS256", kid="rsa-1")).subject == "someone"
    # A kid the file does not have, a key that is not the kid's, or the kid of a key of another kind.
    assert "no key 'ec-9'" in refused(authority, signed(ec_signer, "ES256", kid="ec-9"))
    assert "Signature verification failed" in refused(authority, signed(ec_key(), "ES256", kid="ec-1"))
    assert "no key 'rsa-1' for ES256" in refused(authority, signed(ec_signer, "ES256", kid="rsa-1"))
    # Without a kid, only a single candidate key is ever used.
    assert authority.verify(signed(ec_signer, "ES256")).subject == "someone"


def test_a_rotated_jwks_file_is_read_again_without_a_restart(tmp_path: Path) -> None:
    old, new = ec_key(), ec_key()
    jwks = write_jwks(tmp_path / "jwks.json", {"2024": old})
    authority = TokenAuthority(Settings(jwt_algorithms=("ES256",), jwt_jwks_file=jwks, jwt_secret=""))
    assert authority.verify(signed(old, "ES256", kid="2024")).subject == "someone"
    write_jwks(jwks, {"2025": new})
    stamp = time.time() + 5  # a different mtime, whatever the file system's resolution
    os.utime(jwks, (stamp, stamp))
    time.sleep(1.1)  # the file is looked at no more than once a second
    assert authority.verify(signed(new, "ES256", kid="2025")).subject == "someone"
    assert "no key '2024'" in refused(authority, signed(old, "ES256", kid="2024"))


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"iss": "someone-else"}, "Invalid issuer"),
        ({"aud": "another-api"}, "Audience doesn't match"),
        ({"exp": -timedelta(seconds=40)}, "token has expired"),
        ({"iat": timedelta(seconds=40)}, "not yet valid"),
        ({"nbf": timedelta(seconds=40)}, "not yet valid"),
        ({"exp": None}, 'Token is missing the "exp" claim'),
        ({"role": None}, 'Token is missing the "role" claim'),
        ({"role": "superuser"}, "unknown role 'superuser'"),
        ({"locations": "STORE-A"}, "locations must be a list"),
    ],
)
def test_issuer_audience_expiry_and_claims_are_checked(tmp_path: Path, override: dict[str, Any], why: str) -> None:
    key = ec_key()
    authority = TokenAuthority(
        Settings(
            jwt_algorithms=("ES256",),
            jwt_public_key_file=written(tmp_path, "idp.pem", public_pem(key)),
            jwt_leeway=timedelta(seconds=30),
        )
    )
    assert why in refused(authority, signed(key, "ES256", **override))


def test_clock_skew_is_allowed_up_to_the_leeway_and_the_leeway_is_bounded() -> None:
    secret = "a-local-secret-of-at-least-32-bytes!"
    authority = TokenAuthority(Settings(jwt_secret=secret, jwt_leeway=timedelta(seconds=30)))
    a_little_late = signed(secret, "HS256", exp=-timedelta(seconds=20))
    a_little_early = signed(secret, "HS256", iat=timedelta(seconds=20))
    assert authority.verify(a_little_late).subject == authority.verify(a_little_early).subject == "someone"
    with pytest.raises(ValueError, match="jwt_leeway"):
        TokenAuthority(Settings(jwt_leeway=timedelta(hours=1)))


def test_misconfigurations_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither jwt_public_key_file nor jwt_jwks_file"):
        TokenAuthority(Settings(jwt_algorithms=("RS256",)))
    with pytest.raises(ValueError, match="unsupported"):
        TokenAuthority(Settings(jwt_algorithms=("none",)))
    with pytest.raises(ValueError, match="jwt_secret is empty"):
        TokenAuthority(Settings(jwt_secret=""))


def test_services_sign_their_own_tokens_with_a_private_key(tmp_path: Path) -> None:
    """In production services mint their `service` tokens with a key whose public half the
    others verify (here: by kid, from the JWKS), and no shared secret is needed."""
    key = ec_key()
    settings = Settings(
        jwt_algorithms=("ES256",),
        jwt_jwks_file=write_jwks(tmp_path / "jwks.json", {"services-1": key}),
        jwt_private_key_file=written(tmp_path, "services.key", private_pem(key)),
        jwt_key_id="services-1",
        jwt_secret="",
    )
    authority = TokenAuthority(settings)
    token = authority.mint(Role.SERVICE, "reservations")
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": "services-1", "typ": "JWT"}
    assert authority.verify(token).role is Role.SERVICE


async def test_a_service_started_with_a_jwks_accepts_its_tokens_only(omnistock_settings: Settings, tmp_path: Path):
    """Through the interceptor: inventory verifies ES256 tokens by kid and refuses the local secret."""
    key = ec_key()
    settings = omnistock_settings.model_copy(
        update={
            "jwt_algorithms": ("ES256",),
            "jwt_jwks_file": write_jwks(tmp_path / "jwks.json", {"k1": key}),
            "jwt_private_key_file": written(tmp_path, "k1.key", private_pem(key)),
            "jwt_key_id": "k1",
        }
    )
    stack = Stack(settings)
    await stack.start("inventory")
    try:
        known = stack.stub("inventory", token=stack.token(Role.STOREFRONT))
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await known.GetSku(ipb.GetSkuRequest(sku="NO-SUCH-SKU"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND  # past the door
        local = TokenAuthority(omnistock_settings).mint(Role.ADMIN, "mallory")
        with pytest.raises(grpc.aio.AioRpcError) as refused_call:
            await stack.stub("inventory", token=local).GetSku(ipb.GetSkuRequest(sku="NO-SUCH-SKU"))
        assert refused_call.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await stack.close()
