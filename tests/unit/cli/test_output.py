"""How the CLI prints: tables that never cut an id at any terminal width, and JSON with 64-bit
integers as numbers."""

from __future__ import annotations

import io
import json
import uuid

from google.protobuf import timestamp_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_cli.output import card, message_data, print_json, table

ID = st.one_of(
    st.builds(lambda: str(uuid.uuid4())),
    st.from_regex(r"(STORE|WH|SKU|SOFA)-[A-Z]{2,12}(-[A-Z0-9]{2,10}){0,2}", fullmatch=True),
)
WORDS = st.lists(st.from_regex(r"[a-z]{1,12}", fullmatch=True), min_size=0, max_size=8).map(" ".join)


def render(renderable: object, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, highlight=False).print(renderable)
    return out.getvalue().splitlines()


@settings(max_examples=120, deadline=None)
@given(
    rows=st.lists(st.tuples(ID, WORDS, ID, WORDS, st.integers(-(10**6), 10**9)), min_size=1, max_size=6),
    width=st.integers(min_value=52, max_value=200),
)
def test_an_id_is_printed_whole_on_one_line_at_any_width(
    rows: list[tuple[str, str, str, str, int]], width: int
) -> None:
    columns = ["reservation", "items", "location", "customer", "on hand"]
    lines = render(table("A title", columns, [list(row) for row in rows], optional=("customer",)), width)
    assert all(len(line.rstrip()) <= width for line in lines), "\n".join(lines)
    for row in rows:
        for identifier in (row[0], row[2]):
            assert any(identifier in line for line in lines), f"{identifier} cut at {width}:\n" + "\n".join(lines)
    assert not any("…" in line for line in lines)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(ID, min_size=1, max_size=4),
    words=WORDS,
    width=st.integers(min_value=52, max_value=200),
)
def test_an_id_inside_a_sentence_stays_whole_too(ids: list[str], words: str, width: int) -> None:
    text = " ".join([words, *ids, words]).strip()
    lines = render(card("Card", [("for", text), ("status", "open")]), width)
    lines += render(table(None, ["items", "kind"], [[text, "pick"]]), width)
    for identifier in ids:
        assert sum(identifier in line for line in lines) >= 2, "\n".join(lines)


def test_a_wide_table_keeps_its_columns_where_it_fits_and_says_what_it_left_out() -> None:
    rows = [["STORE-BER-KREUZBERG", "Omnistock Berlin Kreuzberg", "Berlin", 12, 0, 1, 11, ""]]
    columns = ["location", "name", "city", "on hand", "held", "safety", "available", "incoming"]
    wide = render(table("stock", columns, rows, optional=("name", "city")), 200)
    assert any("Omnistock Berlin Kreuzberg" in line and "STORE-BER-KREUZBERG" in line for line in wide)
    narrow = render(table("stock", columns, rows, optional=("name", "city")), 72)
    assert not any("Omnistock" in line for line in narrow)
    assert any("STORE-BER-KREUZBERG" in line and "Berlin" in line for line in narrow)
    assert any("not shown at this width: name" in line for line in narrow)


def test_json_has_64_bit_integers_as_numbers_everywhere_in_a_message() -> None:
    order = opb.Order(
        order_id="o-1",
        total_minor=129900,
        created_at=timestamp_pb2.Timestamp(seconds=42),
        lines=[opb.OrderLine(line_no=1, sku="SOFA", quantity=2, allocated=2)],
        allocations=[opb.Allocation(location_id="WH", lines=[common_pb2.SkuQuantity(sku="SOFA", quantity=2)])],
    )
    data = message_data(order)
    assert data["total_minor"] == 129900
    assert data["lines"][0]["quantity"] == 2 and data["lines"][0]["allocated"] == 2
    assert data["allocations"][0]["lines"][0]["quantity"] == 2
    assert data["lines"][0]["fulfilled"] == 0  # every field, zeros included
    assert data["created_at"] == "1970-01-01T00:00:42Z"  # a timestamp keeps its RFC 3339 form
    level = ipb.StockLevel(on_hand=-(2**62), held=2**62, version=2**63 - 1)
    assert message_data(level)["on_hand"] == -(2**62) and message_data(level)["version"] == 2**63 - 1


def test_print_json_turns_messages_inside_plain_data_into_numbers_too(capsys: object) -> None:
    print_json({"levels": [ipb.StockLevel(sku="X", on_hand=12)], "count": 1})
    printed = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert printed["levels"][0]["on_hand"] == 12 and printed["levels"][0]["sku"] == "X"


# What callers type into names, reasons and notes, markup-looking or not: brackets, slashes, rich's
# own tags ("[/]", "[link=...]", "[bold]"), backslashes before brackets.
TYPED = st.lists(
    st.one_of(
        st.sampled_from(["[", "]", "[/]", "[/bold]", "[bold]", "[link=https://evil.example]", "[/link]", "\\[", "/"]),
        st.from_regex(r"[A-Za-z ]{1,8}", fullmatch=True),
    ),
    min_size=1,
    max_size=8,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(name=TYPED, reason=TYPED)
def test_what_a_caller_typed_is_printed_as_it_is_never_as_markup(name: str, reason: str) -> None:
    """A cell, a title or a printed line holds the caller's words: never read as rich markup, which
    would end the command with an error ("[/]") or hide a link in a staff member's terminal."""
    out = io.StringIO()
    console = Console(file=out, width=400, color_system="truecolor", highlight=False)
    console.print(card(f"Reservation for {name}", [("customer", name), ("reason", reason)]))
    console.print(table(None, ["name", "reason"], [[name, reason]]))
    printed = out.getvalue()
    assert "\x1b]8;" not in printed, "a hyperlink was made of what the caller typed"
    plain = Console(file=io.StringIO(), width=400, color_system=None, highlight=False)
    with plain.capture() as captured:
        plain.print(card(f"Reservation for {name}", [("customer", name), ("reason", reason)]))
    words = " ".join(captured.get().split())  # a card's title wraps at the card's width
    for shown in (f"Reservation for {name}", f"customer {name}", f"reason {reason}"):
        assert " ".join(shown.split()) in words, captured.get()
    with plain.capture() as captured:
        plain.print(table(None, ["name", "reason"], [[name, reason]]))
    assert any(name.strip() in line and reason.strip() in line for line in captured.get().splitlines())
