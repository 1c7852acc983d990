"""`omnistock token`: a bearer token for calling the services by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from omnistock_cli.context import DEFAULT_CHANNEL, JsonOption, fail, load_settings, mint_token
from omnistock_cli.output import err_console, print_json
from omnistock_platform.auth import LOCATION_SCOPED, Role
from omnistock_platform.settings import parse_duration


def parse_ttl(value: str) -> timedelta:
    parsed = parse_duration(value)
    if not isinstance(parsed, timedelta) or parsed <= timedelta(0):
        fail(f"--ttl {value!r} is not a duration", hint="write it like 90s, 15m, 8h or 7d")
    return parsed


def token(
    role: Annotated[Role, typer.Option("--role", "-r", case_sensitive=False, help="The caller's role.")],
    works_at: Annotated[
        list[str] | None,
        typer.Option("--works-at", help="A location the holder works at (pos, warehouse); repeat for more."),
    ] = None,
    channel: Annotated[
        str | None, typer.Option(help="Sales channel named in the token (default from the role: web, app, chat, pos).")
    ] = None,
    ttl: Annotated[str, typer.Option(help="How long the token is valid: 90s, 15m, 8h, 7d.")] = "8h",
    subject: Annotated[str, typer.Option(help="Who the token is for (appears in logs and audit fields).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Print a token signed with this environment's secret (OMNISTOCK_JWT_SECRET)."""
    lifetime = parse_ttl(ttl)
    locations = sorted(set(works_at or []))
    if role in LOCATION_SCOPED and not locations:
        err_console.print(f"[yellow]warning[/]: a {role} token without --works-at may act at no location")
    settings = load_settings()
    chosen_channel = DEFAULT_CHANNEL.get(role, "") if channel is None else channel
    value = mint_token(
        settings,
        role,
        locations=locations,
        channel=chosen_channel,
        subject=subject or f"omnistock-cli-{role}",
        ttl=lifetime,
    )
    if as_json:
        expires = datetime.now(UTC) + lifetime
        print_json(
            {
                "token": value,
                "role": str(role),
                "locations": locations,
                "channel": chosen_channel,
                "expires_at": expires.isoformat(timespec="seconds"),
            }
        )
    else:
        # Plain print: a token must come out on one line, whatever the terminal width.
        print(value)


EXAMPLES = ("omnistock token --role chat_agent",)


def register(app: typer.Typer) -> None:
    app.command("token")(token)
