"""`omnistock`: run the system and work with it from a terminal.

Each area of commands is a small module with `register(app)` (and, optionally,
`EXAMPLES`, shown by `omnistock up` when the system is ready). To add an area,
write `omnistock_cli/<area>.py` and add it to AREAS below; an area with several
commands registers a sub-app: `app.add_typer(area_app, name="stock")`.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import typer

from omnistock_cli import (
    bench,
    console_command,
    counts,
    health,
    importing,
    insights,
    mcp_command,
    order_holds,
    orders,
    pos,
    reservations,
    seed,
    shell,
    stock,
    system,
    tasks,
    tokens,
    traces,
    verify,
    webhooks,
)

# pgserver asks platformdirs for a runtime dir; the warning says nothing a user can act on.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Omnistock: one view of stock across every sales channel. Start with `omnistock up`.",
)

AREAS: tuple[ModuleType, ...] = (
    system,
    health,
    tokens,
    seed,
    importing,
    stock,
    reservations,
    orders,
    order_holds,
    tasks,
    pos,
    counts,
    verify,
    insights,
    traces,
    webhooks,
    mcp_command,
    console_command,
    shell,
    bench,
)

for area in AREAS:
    area.register(app)


@app.command()
def version() -> None:
    """Print the installed version."""
    from importlib.metadata import version as installed

    typer.echo(installed("omnistock"))


def examples() -> list[str]:
    """Commands worth trying on a running system, from every area."""
    return [example for area in AREAS for example in getattr(area, "EXAMPLES", ())]
