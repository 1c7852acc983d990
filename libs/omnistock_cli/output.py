"""Where the CLI writes: data on stdout (as a rich table or as JSON), everything
else (progress, warnings, errors) on stderr, so `--json` output can be piped."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def as_data(value: Any) -> Any:
    """Protobuf messages (also inside lists and dicts) as plain JSON-ready data."""
    if isinstance(value, Message):
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, Mapping):
        return {str(key): as_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_data(item) for item in value]
    return value


def print_json(value: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON for the next program.
    print(json.dumps(as_data(value), indent=2, sort_keys=False, default=str))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column)
    for row in rows:
        result.add_row(*("" if cell is None else str(cell) for cell in row))
    return result


def emit(data: Any, *, as_json: bool, render: Any) -> None:
    """One way for a command to print data: JSON when asked, else `render` (a rich renderable)."""
    if as_json:
        print_json(data)
    else:
        console.print(render)
