"""What every command that talks to the services shares: the settings, who the
caller is (a token, minted for a role or given), a connected client, and the
turning of failures into clear messages instead of tracebacks.

A command in an area module takes its shared options (--request-id, --role, --works-at,
--token, --json) through `acting.acting` and calls through the `Call` it is handed, so that it
is only its request and its output. `call_services` is what that runs on; a command calls it
itself only where it calls as no role of its own (`seed` and `verify` take a token but no --role).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, NoReturn, TypeVar

import grpc
import jwt
import pydantic
import typer
from omnistock_client import OmnistockClient
from omnistock_client.client import RetryPolicy

from omnistock_cli import profiles
from omnistock_cli.failures import Failure, from_rpc_error
from omnistock_cli.output import err_console, print_json
from omnistock_platform.auth import LOCATION_SCOPED, Role, TokenAuthority
from omnistock_platform.settings import Settings

T = TypeVar("T")

# The channel a role's token names when none is given.
DEFAULT_CHANNEL: dict[Role, str] = {
    Role.STOREFRONT: "web",
    Role.APP: "app",
    Role.CHAT_AGENT: "chat",
    Role.POS: "pos",
}
DEFAULT_TTL = timedelta(hours=8)


def cli_retry(settings: Settings) -> RetryPolicy:
    """A person is waiting: a few quick retries (same request id), then the error."""
    return RetryPolicy(
        attempts=3, first_backoff=0.1, max_backoff=0.5, deadline=settings.default_deadline.total_seconds()
    )


WorksAtOption = Annotated[
    list[str] | None,
    typer.Option(
        "--works-at",
        help="Where the caller works (pos, warehouse staff): the locations its token names; repeat for more. "
        "Default: the location the command acts at.",
    ),
]

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="OMNISTOCK_TOKEN", show_envvar=True, help="Call with this token instead of minting one."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the chosen profile (which wins over the environment);
    a bad value is a clear message, not a traceback."""
    profile = profiles.active()
    try:
        chosen = {**(profile.settings_overrides() if profile is not None else {}), **overrides}
    except profiles.ProfileError as error:
        fail(str(error), hint=f"profiles are read from {profiles.config_path()}")
    try:
        return Settings(**chosen)
    except pydantic.ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
        fail(
            f"invalid settings: {problems}",
            hint="settings come from OMNISTOCK_* variables, DATABASE_URL, NATS_URL and the chosen profile",
        )


def fail(message: str, *, hint: str = "", code: int = 1, lines: list[str] | None = None) -> NoReturn:
    """End the command with an expected error: one clear message (and `lines` under it) on stderr."""
    report(Failure(code="error", message=message, lines=list(lines or []), hint=hint))
    raise typer.Exit(code)


def mint_token(
    settings: Settings,
    role: Role,
    *,
    locations: list[str] | tuple[str, ...] = (),
    channel: str | None = None,
    subject: str = "",
    ttl: timedelta = DEFAULT_TTL,
) -> str:
    return TokenAuthority(settings).mint(
        role,
        subject or f"omnistock-cli-{role}",
        locations=list(locations),
        channel=DEFAULT_CHANNEL.get(role, "") if channel is None else channel,
        ttl=ttl,
    )


@dataclass(frozen=True)
class Caller:
    """Who a command calls as: a role (a token is minted for it), or a given token."""

    role: Role | None = None
    locations: tuple[str, ...] = ()
    token: str | None = None
    subject: str = ""
    channel: str | None = None

    # The role a token is minted for when neither --role nor a token (given, or the profile's) says.
    default: Role = Role.ADMIN

    @classmethod
    def of(cls, role: Role | None = None, locations: list[str] | None = None, token: str | None = None) -> Caller:
        return cls(role=role, locations=tuple(locations or ()), token=token or None)

    def given_token(self) -> str:
        """The token to call with as it is: --token / OMNISTOCK_TOKEN, else the profile's; ""
        when a token is to be minted (an explicit --role wins over both)."""
        if self.role is not None:
            return ""
        if self.token:
            return self.token
        profile = profiles.active()
        try:
            return profile.bearer() if profile is not None else ""
        except profiles.ProfileError as error:
            fail(str(error), hint="fix the profile, or pass --token")

    @property
    def chosen(self) -> bool:
        """True when the caller was chosen (--role, a token, the profile's token), not defaulted."""
        return self.role is not None or bool(self.given_token())

    def acting_role(self) -> Role | None:
        """The role the call is made as: the chosen or default one, or the one a given token
        names (read, not verified: the services verify it)."""
        token = self.given_token()
        if not token:
            return self.role or self.default
        try:
            named = jwt.decode(token, options={"verify_signature": False}).get("role", "")
            return Role(named)
        except (jwt.PyJWTError, ValueError):
            return None

    def bearer(self, settings: Settings) -> str:
        given = self.given_token()
        if given:
            return given
        role = self.role or self.default
        if role in LOCATION_SCOPED and not self.locations:
            err_console.print(f"[yellow]warning[/]: a {role} token without --works-at may act at no location")
        return mint_token(settings, role, locations=self.locations, channel=self.channel, subject=self.subject)

    def token_source(self, settings: Settings) -> Callable[[], str]:
        """For calls that last (live views): a given token as it is, a minted one minted again
        when half its life has gone."""
        given = self.given_token()
        if given:
            return lambda: given
        current = {"token": self.bearer(settings), "at": time.monotonic()}

        def token() -> str:
            if time.monotonic() - current["at"] > DEFAULT_TTL.total_seconds() / 2:  # type: ignore[operator]
                current.update(token=self.bearer(settings), at=time.monotonic())
            return str(current["token"])

        return token


ADMIN = Caller(role=Role.ADMIN)


def report(failure: Failure, *, as_json: bool = False) -> None:
    # Never wrapped by us: a path, an id or a phrase of the message stays on one line to copy or grep
    # (the terminal folds what is wider than it).
    err_console.print(failure.render(), soft_wrap=True)
    if as_json:
        print_json(failure.as_dict())


def run_async(coroutine: Coroutine[Any, Any, T], *, as_json: bool = False) -> T:
    """Run a command's async body; a failed gRPC call ends the command with exit code 1."""
    try:
        return asyncio.run(coroutine)
    except grpc.RpcError as error:
        report(from_rpc_error(error), as_json=as_json)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # Ctrl-C ends a watch or a wait: the usual exit code, no traceback
        raise typer.Exit(130) from None


def call_services(
    work: Callable[[OmnistockClient], Awaitable[T]],
    caller: Caller = ADMIN,
    *,
    as_json: bool = False,
    settings: Settings | None = None,
) -> T:
    """Connect to the services as `caller`, run `work(client)`, close, and return its result."""
    chosen = settings or load_settings()
    token = caller.bearer(chosen)

    async def main() -> T:
        async with OmnistockClient.connect(chosen, token, retry=cli_retry(chosen)) as client:
            return await work(client)

    return run_async(main(), as_json=as_json)
