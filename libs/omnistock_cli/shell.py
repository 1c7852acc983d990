"""`omnistock field PATH`: one value out of a command's `--json` output, for shell scripts
(and the README's walkthrough) on machines without jq:

    omnistock reserve SOFA-VELVET-GREEN --store STORE-BER-MITTE --customer Ada --json > reservation.json
    CODE=$(omnistock field pickup_code < reservation.json)
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from omnistock_cli.context import fail


def pluck(document: Any, path: str) -> Any:
    """`tasks.0.task_id`: keys of objects and indexes of lists, separated by dots."""
    value = document
    for part in filter(None, path.split(".")):
        if isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(part)
    return value


def field(
    path: Annotated[
        str, typer.Argument(metavar="PATH", help="Dotted path into the JSON, e.g. pickup_code or tasks.0.task_id.")
    ],
) -> None:
    """Print one value of the JSON on standard input (strings plain, anything else as JSON)."""
    text = sys.stdin.read()
    try:
        document = json.loads(text)
    except ValueError:
        fail("standard input is not JSON", hint="pipe a command's --json output into `omnistock field`")
    try:
        value = pluck(document, path)
    except KeyError as missing:
        fail(f"the JSON has no {path!r} (no {missing.args[0]!r})")
    print(value if isinstance(value, str) else json.dumps(value))


def register(app: typer.Typer) -> None:
    app.command("field")(field)
