"""A group of commands under one name (`omnistock count start`, `omnistock transfer ship`, ...):
the one way an area registers one, so that every group behaves alike (`--help` when called bare)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import typer


def add_group(app: typer.Typer, name: str, help: str, commands: Mapping[str, Callable[..., Any]]) -> None:
    """`omnistock <name> <command>` for each of `commands`, in their order; `help` describes the group."""
    group = typer.Typer(no_args_is_help=True, help=help)
    for command, function in commands.items():
        group.command(command)(function)
    app.add_typer(group, name=name)
