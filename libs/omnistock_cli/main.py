"""`omnistock`: run the system and work with it from a terminal.

Each area of commands is a small module with `register(app)` (and, optionally,
`EXAMPLES`, shown by `omnistock up` when the system is ready). To add an area,
write `omnistock_cli/<area>.py`, add it to AREAS below and give its commands a
panel in PANELS (`--help` groups the commands by panel). An area whose commands
sit under one name (`omnistock count start`) registers them with
`groups.add_group`.
"""

from __future__ import annotations

import sys
import warnings
from importlib.metadata import version as installed
from inspect import cleandoc, getdoc
from types import ModuleType
from typing import Annotated

import structlog
import typer

from omnistock_cli import (
    bench,
    bundles,
    console_command,
    counts,
    health,
    importing,
    insights,
    lifecycle,
    locations,
    mcp_command,
    order_edits,
    order_holds,
    orders,
    pools,
    pos,
    profile_command,
    profiles,
    reservations,
    returns,
    seed,
    shell,
    stock,
    system,
    tasks,
    tokens,
    traces,
    transfers,
    verify,
    webhooks,
)
from omnistock_cli.aliases import AliasGroup, deprecated
from omnistock_cli.context import fail
from omnistock_platform.logging import configure_logging

# pgserver asks platformdirs for a runtime dir; the warning says nothing a user can act on.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

app = typer.Typer(
    cls=AliasGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Omnistock: one view of stock across every sales channel. Start with `omnistock up`.",
)

AREAS: tuple[ModuleType, ...] = (
    system,
    lifecycle,
    health,
    tokens,
    profile_command,
    seed,
    importing,
    stock,
    locations,
    bundles,
    reservations,
    orders,
    order_edits,
    order_holds,
    returns,
    tasks,
    pos,
    counts,
    transfers,
    pools,
    verify,
    insights,
    traces,
    webhooks,
    mcp_command,
    console_command,
    shell,
    bench,
)

SYSTEM = "Run the system"
STOCK = "Stock"
RESERVATIONS = "Reservations"
ORDERS = "Orders"
FULFILMENT = "Fulfilment (store and warehouse staff)"
TILL = "Till"
INSIGHTS = "Insights"
ACCESS = "Access, agents and scripts"
# The help panel of every command; a command missing here shows under "Other".
PANELS: dict[str, str] = {
    "up": SYSTEM,
    "status": SYSTEM,
    "down": SYSTEM,
    "health": SYSTEM,
    "migrate": SYSTEM,
    "seed": SYSTEM,
    "import": SYSTEM,
    "verify": SYSTEM,
    "trace": SYSTEM,
    "console": SYSTEM,
    "bench": SYSTEM,
    "stock": STOCK,
    "skus": STOCK,
    "bundle": STOCK,
    "watch": STOCK,
    "receive": STOCK,
    "adjust": STOCK,
    "movements": STOCK,
    "count": STOCK,
    "transfer": STOCK,
    "groups": STOCK,
    "pools": STOCK,
    "locations": STOCK,
    "reserve": RESERVATIONS,
    "reservations": RESERVATIONS,
    "show-reservation": RESERVATIONS,
    "extend-reservation": RESERVATIONS,
    "cancel-reservation": RESERVATIONS,
    "collect": RESERVATIONS,
    "quote": ORDERS,
    "order": ORDERS,
    "orders": ORDERS,
    "show-order": ORDERS,
    "cancel-order": ORDERS,
    "edit-order": ORDERS,
    "hold-order": ORDERS,
    "release-order": ORDERS,
    "returns": ORDERS,
    "tasks": FULFILMENT,
    "show-task": FULFILMENT,
    "pick": FULFILMENT,
    "pack": FULFILMENT,
    "ship": FULFILMENT,
    "ready": FULFILMENT,
    "handover": FULFILMENT,
    "sell": TILL,
    "return": TILL,
    "insights": INSIGHTS,
    "insights-rebuild": INSIGHTS,
    "token": ACCESS,
    "profiles": ACCESS,
    "mcp": ACCESS,
    "field": ACCESS,
    "webhooks": ACCESS,
}
# Commands that work but are not listed: `run` is what `make run` calls (the same as `up`).
HIDDEN = frozenset({"run"})

for area in AREAS:
    area.register(app)


def _prose(text: str) -> str:
    """Each paragraph of a docstring as one line: rich help keeps single line breaks, so a description
    broke where its source line ended instead of where the terminal does. A paragraph marked `\\b`
    (click's "keep these lines", a table of columns) stays as it is."""
    return "\n\n".join(
        part if part.startswith("\b") else " ".join(line.strip() for line in part.splitlines())
        for part in cleandoc(text).split("\n\n")
    )


def reflow_help(commands: typer.Typer) -> None:
    for command in commands.registered_commands:
        text = command.help or (getdoc(command.callback) if command.callback else None)
        if text:
            command.help = _prose(text)
    for group in commands.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


reflow_help(app)


def version_text() -> str:
    return f"omnistock {installed('omnistock')}"


@app.command("version", hidden=True)
def version() -> None:
    """Print the installed version (now `omnistock --version`)."""
    deprecated("omnistock version", "omnistock --version")
    typer.echo(version_text())


ORDER = [SYSTEM, STOCK, RESERVATIONS, ORDERS, FULFILMENT, TILL, INSIGHTS, ACCESS, "Other"]
for info in app.registered_commands:
    if info.name in HIDDEN:
        info.hidden = True
    elif not info.hidden:
        info.rich_help_panel = PANELS.get(info.name or "", "Other")
for group in app.registered_groups:
    if not group.hidden:
        group.rich_help_panel = PANELS.get(group.name or "", "Other")
# --help shows the panels in the order their first command was registered: this order.
app.registered_commands.sort(key=lambda info: ORDER.index(info.rich_help_panel or "Other"))


class CurrentStderr:
    """Whatever sys.stderr is when a line is logged (a test runner swaps it per command)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def omnistock(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            envvar=profiles.PROFILE_ENV,
            show_envvar=True,
            help=f"Use this profile of the configuration file ({profiles.CONFIG_ENV}, default "
            "~/.config/omnistock/config.toml): where the services are, TLS files and the token.",
        ),
    ] = None,
    show_version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_show_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Omnistock: one view of stock across every sales channel. Start with `omnistock up`."""
    ctx.ensure_object(dict)[system.READY_EXAMPLES] = examples()
    # What the libraries log (an embedded server starting, ...) is no news to a person at a
    # terminal: warnings and errors only, on stderr, so that stdout stays the command's data.
    # (A program that runs commands in-process has configured its own logging already.)
    if not structlog.is_configured():
        configure_logging("WARNING", json=False, stream=CurrentStderr())  # type: ignore[arg-type]
    try:
        profiles.activate(profiles.select(profile))
    except profiles.ProfileError as error:
        profiles.activate(None)
        fail(str(error), hint="see `omnistock profiles` and docs/cli.md")


def examples() -> list[str]:
    """Commands worth trying on a running system, from every area."""
    return [example for area in AREAS for example in getattr(area, "EXAMPLES", ())]
