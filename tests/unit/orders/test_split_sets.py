"""A splittable set ordered as its parts: the lines, the price, and when a set stays whole."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_orders.domain.edits import in_part_lines, resize_sets
from omnistock_orders.domain.order import OrderLine, OrderSet, new_order, split_sets
from omnistock_orders.domain.routing import Method
from omnistock_platform.errors import FailedPrecondition

PARTS = [f"PART-{n}" for n in range(6)]
SETS = [f"SET-{n}" for n in range(4)]


@st.composite
def orders(draw: st.DrawFn) -> tuple[list[OrderLine], frozenset[str]]:
    """Lines of plain parts and sets (each set of 1 to 3 parts, 1 to 3 units each), and which sets split."""
    lines: list[OrderLine] = []
    for sku in draw(st.lists(st.sampled_from(PARTS + SETS), unique=True, min_size=1, max_size=6)):
        components: tuple[tuple[str, int], ...] = ()
        if sku in SETS:
            parts = draw(st.lists(st.sampled_from(PARTS), unique=True, min_size=1, max_size=3))
            components = tuple((part, draw(st.integers(1, 3))) for part in parts)
        quantity, price = draw(st.integers(1, 5)), draw(st.integers(0, 10_000))
        lines.append(OrderLine(len(lines) + 1, sku, quantity, price, "EUR", components=components))
    return lines, frozenset(draw(st.lists(st.sampled_from(SETS), unique=True)))


@given(orders())
def test_a_split_set_becomes_its_parts_and_keeps_its_price_once(case: tuple[list[OrderLine], frozenset[str]]) -> None:
    given_lines, splittable = case
    lines, sets = split_sets(given_lines, splittable)
    order = new_order("O", Method.SHIP, lines, sets)  # its own checks: one line per SKU, parts = sets x units
    assert order.total_minor == sum(line.quantity * line.unit_price_minor for line in given_lines)
    assert [line.line_no for line in lines] == list(range(1, len(lines) + 1))
    split = {found.sku for found in sets}
    assert split <= splittable
    for line in given_lines:
        if line.sku in split:
            parts = {part.sku: part.quantity for part in lines if part.part_of == line.sku}
            assert parts == {part: line.quantity * units for part, units in line.components}
            assert all(part.unit_price_minor == 0 for part in lines if part.part_of == line.sku)
        else:
            assert any(replace(kept, line_no=line.line_no) == line for kept in lines)
            # A splittable set stays whole only when a part of it is ordered otherwise.
            if line.sku in splittable and line.components:
                others = {other.sku for other in lines if other.sku != line.sku}
                assert {part for part, _ in line.components} & others


def test_a_set_with_a_part_on_its_own_line_stays_whole() -> None:
    set_line = OrderLine(1, "SOFA-SET", 1, 139900, "EUR", components=(("SOFA", 1), ("CUSHION", 2)))
    cushion = OrderLine(2, "CUSHION", 1, 2900, "EUR")
    assert split_sets([set_line, cushion], frozenset({"SOFA-SET"})) == ([set_line, cushion], [])
    # Two splittable sets sharing a part: the first splits, the second stays whole.
    other = OrderLine(2, "CHAIR-SET", 1, 9900, "EUR", components=(("CHAIR", 2), ("CUSHION", 2)))
    lines, sets = split_sets([set_line, other], frozenset({"SOFA-SET", "CHAIR-SET"}))
    assert [found.sku for found in sets] == ["SOFA-SET"]
    assert [(line.sku, line.part_of) for line in lines] == [
        ("SOFA", "SOFA-SET"),
        ("CUSHION", "SOFA-SET"),
        ("CHAIR-SET", ""),
    ]


def test_whole_sets_are_the_least_over_the_parts() -> None:
    found = OrderSet("SOFA-SET", 2, 139900, "EUR", (("SOFA", 1), ("CUSHION", 2)))
    assert found.whole({"SOFA": 2, "CUSHION": 3}) == 1
    assert found.whole({"SOFA": 2, "CUSHION": 4}) == 2
    assert found.whole({"CUSHION": 4}) == 0


def test_an_edit_names_the_set_and_never_a_part_alone() -> None:
    set_line = OrderLine(1, "SOFA-SET", 1, 139900, "EUR", components=(("SOFA", 1), ("CUSHION", 2)))
    lines, sets = split_sets([set_line, OrderLine(2, "LAMP", 1, 900, "EUR")], frozenset({"SOFA-SET"}))
    order = new_order("O", Method.SHIP, lines, sets)
    assert in_part_lines(order, {"SOFA-SET": 3, "LAMP": 2}) == {"SOFA": 3, "CUSHION": 6, "LAMP": 2}
    with pytest.raises(FailedPrecondition) as refused:
        in_part_lines(order, {"CUSHION": 4})
    assert [(v.type, v.subject) for v in refused.value.violations] == [("SET_PART", "SOFA-SET")]
    assert [found.quantity for found in resize_sets(order, {"SOFA-SET": 3}).sets] == [3]
    assert resize_sets(order, {"SOFA-SET": 0}).sets == ()
