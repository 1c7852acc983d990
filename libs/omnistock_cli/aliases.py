"""Old spellings of commands and options, still taken for one release (hidden from --help).

Each use says on stderr what the new spelling is. docs/cli.md lists them all; the next release
drops them. The vocabulary they give way to: a list is the plural noun (`reservations`), one
record is `show-<noun> ID`, a change to one is `<verb>-<noun> ID` where the verb could apply to
more than one kind (`cancel-reservation`, `cancel-order`); `--location`/`-l` and `--store`/`-s`
are always the place a command acts at, `--works-at` where the caller works."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from typer.core import TyperGroup

from omnistock_cli.output import err_console

# old command name -> new one
COMMANDS: Mapping[str, str] = {
    "reservation": "show-reservation",
    "extend": "extend-reservation",
    "cancel": "cancel-reservation",
    "order-status": "show-order",
}

_WORKS_AT = {"--location": "--works-at", "-l": "--works-at"}
# command -> old option -> new option
OPTIONS: Mapping[str, Mapping[str, str]] = {
    **dict.fromkeys(
        (
            "stock",
            "receive",
            "adjust",
            "reserve",
            "reservations",
            "show-reservation",
            "extend-reservation",
            "cancel-reservation",
            "collect",
            "quote",
            "order",
            "show-order",
            "cancel-order",
            "sell",
            "return",
            "pick",
            "pack",
            "ship",
            "ready",
            "token",
        ),
        _WORKS_AT,
    ),
    "handover": {"--location": "--store", "-l": "--store"},
    "up": {"-s": "--service"},
    "health": {"-s": "--service"},
}


def deprecated(old: str, new: str) -> None:
    err_console.print(f"[yellow]note[/]: `{old}` is now `{new}`; the old spelling goes in the next release")


def rewrite_options(command: str, args: list[str]) -> list[str]:
    """`args` with the old option spellings of `command` replaced by the new ones."""
    renamed = OPTIONS.get(command, {})
    if not renamed:
        return args
    result: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            return result + args[index:]
        name, sep, value = arg.partition("=")
        if name in renamed:
            deprecated(f"{command} {name}", f"{command} {renamed[name]}")
            arg = f"{renamed[name]}{sep}{value}"
        result.append(arg)
    return result


class AliasGroup(TyperGroup):
    """The `omnistock` command group, taking the old spellings too."""

    # (typer brings its own copy of click: the types are left open here.)
    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        if args and args[0] in COMMANDS:
            old, new = args[0], COMMANDS[args[0]]
            deprecated(f"omnistock {old}", f"omnistock {new}")
            args = [new, *args[1:]]
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and command.name:
            rest = rewrite_options(command.name, rest)
        return name, command, lift_profile(ctx, rest)


def lift_profile(ctx: Any, args: list[str]) -> list[str]:
    """`omnistock stock SKU --profile prod` as `omnistock --profile prod stock SKU`: the option
    belongs to `omnistock`, but people put it at the end. (Resolved before `omnistock`'s own
    callback runs, so that it sees the profile.)"""
    kept: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return kept + args[index:]
        if arg == "--profile" and index + 1 < len(args):
            ctx.params["profile"] = args[index + 1]
            index += 2
            continue
        if arg.startswith("--profile="):
            ctx.params["profile"] = arg.partition("=")[2]
        else:
            kept.append(arg)
        index += 1
    return kept
