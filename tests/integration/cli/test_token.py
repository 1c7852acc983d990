"""`omnistock token` mints what the services accept: role, locations, channel, expiry."""

from __future__ import annotations

import json
import time

import jwt
from typer.testing import CliRunner

from omnistock_cli.main import app
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.settings import Settings

runner = CliRunner()


def test_token_verifies_with_role_and_locations() -> None:
    result = runner.invoke(
        app,
        [
            "token",
            "--role",
            "pos",
            "--works-at",
            "STORE-BER-MITTE",
            "--works-at",
            "STORE-BER-KREUZBERG",
            "--subject",
            "till-7",
        ],
    )
    assert result.exit_code == 0, result.output
    principal = TokenAuthority(Settings()).verify(result.stdout.strip())
    assert principal.role is Role.POS
    assert principal.locations == {"STORE-BER-MITTE", "STORE-BER-KREUZBERG"}
    assert principal.subject == "till-7"
    assert principal.channel == "pos"
    assert principal.may_act_at("STORE-BER-MITTE") and not principal.may_act_at("STORE-HAM-ALTONA")


def test_token_json_channel_and_ttl() -> None:
    result = runner.invoke(app, ["token", "--role", "chat_agent", "--ttl", "90s", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["role"] == "chat_agent" and data["channel"] == "chat" and data["locations"] == []
    principal = TokenAuthority(Settings()).verify(data["token"])
    assert principal.role is Role.CHAT_AGENT and principal.channel == "chat"
    claims = jwt.decode(data["token"], options={"verify_signature": False})
    assert 80 <= claims["exp"] - time.time() <= 95


def test_token_refuses_unknown_role_and_bad_ttl() -> None:
    unknown = runner.invoke(app, ["token", "--role", "janitor"])
    assert unknown.exit_code == 2
    bad_ttl = runner.invoke(app, ["token", "--role", "admin", "--ttl", "soon"])
    assert bad_ttl.exit_code == 1
    assert "is not a duration" in bad_ttl.output
    assert "Traceback" not in bad_ttl.output
