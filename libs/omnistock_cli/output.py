"""Where the CLI writes: data on stdout (as a rich table or as JSON), everything
else (progress, warnings, errors) on stderr, so `--json` output can be piped.

Tables never cut an id: a column that holds ids (SKUs, locations, reservations, orders,
tasks, holds) keeps its full width, the other columns wrap to make room, and when even that
does not fit the terminal, every row is printed as a block of `name value` lines instead.
`--wide` prints every table at its natural width, one line per row.

JSON is the proto3 JSON mapping of the messages (field names as in the .proto files, enum
values by name, times in RFC 3339), with one change: 64-bit integers are numbers, not
strings. docs/cli.md describes the shape of every command's output."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# Wide enough for any table's natural width: with --wide nothing wraps or folds.
WIDE = 100_000
# Column headers whose cells are ids: printed whole, never wrapped (see FittedTable).
ID_COLUMNS = frozenset(
    {"sku", "location", "store", "task", "reservation", "order", "hold", "code", "service", "address", "subject"}
)
# The narrowest a wrapping column is made before the table turns into blocks of lines.
MIN_WRAP = 4

_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def message_data(message: Message) -> dict[str, Any]:
    """A message as JSON data: every field, zeros included (a script finds every key), and
    64-bit integers as numbers (protobuf's JSON mapping writes them as strings)."""
    raw = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _numbers(message.DESCRIPTOR, raw)


def _numbers(descriptor: Any, value: Any) -> Any:
    if not isinstance(value, dict) or descriptor.full_name.startswith("google.protobuf."):
        return value  # well-known types have JSON forms of their own (times, durations, Any)
    for field in descriptor.fields:
        if field.name not in value:
            continue
        item = value[field.name]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            inner = field.message_type.fields_by_name["value"]
            value[field.name] = {key: _field_value(inner, entry) for key, entry in item.items()}
        elif field.is_repeated:
            value[field.name] = [_field_value(field, entry) for entry in item]
        else:
            value[field.name] = _field_value(field, item)
    return value


def _field_value(field: FieldDescriptor, item: Any) -> Any:
    if field.type in _INT64 and isinstance(item, str):
        return int(item)
    if field.message_type is not None:
        return _numbers(field.message_type, item)
    return item


def as_data(value: Any) -> Any:
    """Protobuf messages (also inside lists and dicts) as plain JSON-ready data."""
    if isinstance(value, Message):
        return message_data(value)
    if isinstance(value, Mapping):
        return {str(key): as_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_data(item) for item in value]
    return value


def print_json(value: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON for the next program.
    print(json.dumps(as_data(value), indent=2, sort_keys=False, default=str))


def print_json_line(value: Any) -> None:
    """One JSON document on one line (live views print one per change)."""
    print(json.dumps(as_data(value), default=str), flush=True)


def styled(text: object, style: str) -> Text:
    """`text` in a rich style (a colour, bold): what it says is shown as it is, never read as markup."""
    return Text(str(text), style=style)


def _text(cell: Any) -> Text:
    """A cell as it is shown: its words exactly. Cells carry what callers typed (a customer's or a
    location's name, a reason), and read as rich markup "[/]" would end the command with an error and
    "[link=...]" would put a link of the sender's on a staff member's screen; a styled cell is a Text."""
    if isinstance(cell, Text):
        return cell
    return Text("" if cell is None else str(cell))


def _title(title: str | Text | None) -> Text | None:
    return Text(title) if isinstance(title, str) else title


def _longest_word(text: Text) -> int:
    return max((len(word) for line in text.plain.splitlines() for word in line.split()), default=0)


def _widest_line(text: Text) -> int:
    return max((Text(line).cell_len for line in text.plain.splitlines()), default=0)


@dataclass(frozen=True)
class Style:
    """How a table is drawn: boxed, or (to fit a narrow terminal) columns set apart by spaces."""

    box: box.Box | None
    padding: tuple[int, int]

    def overhead(self, count: int) -> int:
        """Columns of the terminal a table of `count` columns spends on borders and padding."""
        if self.box is not None:  # edges, a rule between columns, and padding on both sides of each
            return 2 + count - 1 + count * 2 * self.padding[1]
        return (count - 1) * 2 * self.padding[1]  # padding between columns only


BOXED = Style(box.HEAVY_HEAD, (0, 1))
PLAIN = Style(None, (0, 1))


class FittedTable:
    """A table that fits the console without cutting an id.

    Id columns (by default, those whose header is in ID_COLUMNS) are never wrapped. Other
    columns wrap between words, but never narrower than their longest word (an id inside a
    sentence stays whole too) or their header. A boxed table that cannot fit that way is drawn
    without borders, then without its optional columns (a note says which); when even that does
    not fit, each row is printed as a block of `header value` lines, which fits any terminal an
    id fits in."""

    def __init__(
        self,
        title: str | Text | None,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        ids: Collection[str] | None = None,
        optional: Sequence[str] = (),
        show_header: bool = True,
        styles: Sequence[Style] = (BOXED, PLAIN),
        label_style: str = "",
    ) -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = [[_text(cell) for cell in row] for row in rows]
        self.ids = {name.lower() for name in (ID_COLUMNS if ids is None else ids)}
        self.optional = [name for name in optional if name in self.columns]
        self.show_header = show_header
        self.styles = list(styles)
        self.label_style = label_style

    def _bounds(self, shown: list[int]) -> tuple[list[int], list[int]]:
        natural, minimum = [], []
        for index in shown:
            column = self.columns[index]
            cells = [row[index] for row in self.rows if index < len(row)]
            texts = [Text(column), *cells] if self.show_header else cells
            widest = max((_widest_line(text) for text in texts), default=0)
            if column.lower() in self.ids:
                least = widest
            else:  # headers stay on one line; cells wrap between words
                least = max([min(MIN_WRAP, widest), len(column) if self.show_header else 0])
                least = max([least] + [_longest_word(text) for text in cells])
            natural.append(max(widest, 1))
            minimum.append(max(least, 1))
        return natural, minimum

    def layout(self, max_width: int) -> tuple[Style, list[int], list[int]] | None:
        """The style, the columns shown (by index) and their widths for `max_width` columns of
        terminal: every column if they fit, else without the optional ones, one after the
        other. None: print the rows as blocks of lines."""
        shown = list(range(len(self.columns)))
        for dropped in range(len(self.optional) + 1):
            left_out = set(self.optional[:dropped])
            shown = [index for index, column in enumerate(self.columns) if column not in left_out]
            natural, minimum = self._bounds(shown)
            for style in self.styles:
                room = max_width - style.overhead(len(shown))
                if sum(natural) <= room:
                    return style, shown, natural
                if sum(minimum) <= room:
                    return style, shown, _share(room, natural, minimum)
        return None

    def as_table(self, style: Style, shown: list[int], widths: list[int]) -> RenderableType:
        table = Table(
            title=_title(self.title),
            title_justify="left",
            header_style="bold",
            show_header=self.show_header,
            box=style.box,
            padding=style.padding,
            pad_edge=style.box is not None,
        )
        for position, index in enumerate(shown):
            column = self.columns[index]
            table.add_column(
                column,
                width=widths[position],
                no_wrap=column.lower() in self.ids,
                overflow="fold",
                style=self.label_style if position == 0 else "",
            )
        for row in self.rows:
            table.add_row(*(row[index] if index < len(row) else Text("") for index in shown))
        left_out = [column for index, column in enumerate(self.columns) if index not in shown]
        if not left_out:
            return table
        note = Text(f"not shown at this width: {', '.join(left_out)} (--wide shows every column)", style="dim")
        return Group(table, note)

    def as_blocks(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self.title:
            parts.append(Text.assemble(self.title, style="italic"))
        label = max((len(column) for column in self.columns), default=0)
        for row in self.rows:
            # One space between a name and its value (padding on both sides would be two): an id as wide
            # as the terminal less its longest name and that space fits whole.
            block = Table(show_header=False, box=None, padding=(0, 1), pad_edge=False, collapse_padding=True)
            block.add_column(style="dim", min_width=label, no_wrap=True)
            block.add_column(overflow="fold")
            for column, cell in zip(self.columns, row, strict=False):
                block.add_row(column, cell)
            parts.extend([block, Text("")])
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        chosen = self.layout(options.max_width)
        yield self.as_blocks() if chosen is None else self.as_table(*chosen)


def _share(room: int, natural: list[int], minimum: list[int]) -> list[int]:
    """Every column at its minimum, and what is left of `room` shared in proportion to what
    each would still like to have."""
    widths = list(minimum)
    wants = [most - least for most, least in zip(natural, minimum, strict=True)]
    spare, total = room - sum(widths), sum(wants)
    for index, want in enumerate(wants):
        widths[index] += min(want, spare * want // total) if total else 0
    leftover = room - sum(widths)
    for index in sorted(range(len(wants)), key=lambda i: -wants[i]):
        give = max(0, min(leftover, natural[index] - widths[index]))
        widths[index] += give
        leftover -= give
    return widths


def table(
    title: str | Text | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    ids: Collection[str] | None = None,
    optional: Sequence[str] = (),
) -> FittedTable:
    """A table of rows under `columns`; see FittedTable for how it fits the terminal (`optional`
    columns are left out, in that order, where the terminal is too narrow for them)."""
    return FittedTable(title, columns, rows, ids=ids, optional=optional)


def card(title: str | Text | None, rows: Sequence[tuple[str, Any]]) -> FittedTable:
    """One record as `name  value` lines (values wrap; ids in them stay whole)."""
    return FittedTable(title, ["name", "value"], rows, ids=(), show_header=False, styles=(PLAIN,), label_style="dim")


def emit(data: Any, *, as_json: bool, render: Any, wide: bool = False) -> None:
    """One way for a command to print data: JSON when asked, else `render` (a rich renderable),
    at its natural width with `wide`. A string is printed as it is, like a table's cells."""
    if isinstance(render, str):
        render = Text(render)
    if as_json:
        print_json(data)
    elif wide:  # a console of its own: a console never prints wider than it is
        Console(highlight=False, width=WIDE).print(render, crop=False)
    else:
        console.print(render)


WideOption = Annotated[
    bool, typer.Option("--wide", help="Print tables at their full width, one line per row (for wide terminals).")
]
