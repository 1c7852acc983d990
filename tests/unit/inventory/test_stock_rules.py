"""The stock arithmetic and the hold state rules, on their own."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_inventory.domain.holds import HoldLine, HoldState, LineKey, merge_lines, settled_state, take_from_open
from omnistock_inventory.domain.stock import Channel, Counters, available, invariant_holds, may_use_safety_stock
from omnistock_platform.errors import InvalidArgument

counts = st.integers(min_value=0, max_value=10_000)


@st.composite
def valid_counters(draw: st.DrawFn) -> Counters:
    on_hand = draw(counts)
    return Counters(on_hand, draw(st.integers(0, on_hand)), draw(counts), draw(counts))


@given(valid_counters(), st.booleans(), st.booleans())
def test_available_is_never_negative_and_never_exceeds_what_is_free(c: Counters, safety: bool, backorder: bool) -> None:
    free = available(c, use_safety_stock=safety, backorder=backorder)
    assert 0 <= free <= c.on_hand - c.held + (c.incoming if backorder else 0)


@given(valid_counters())
def test_remote_channels_never_see_safety_stock(c: Counters) -> None:
    remote = available(c, use_safety_stock=False)
    till = available(c, use_safety_stock=True)
    assert remote == max(0, c.on_hand - c.held - c.safety_stock)
    assert till == c.on_hand - c.held
    assert remote <= till


@given(valid_counters(), st.integers(1, 100))
def test_holding_what_is_available_keeps_the_invariant(c: Counters, wanted: int) -> None:
    free = available(c, use_safety_stock=False)
    if wanted <= free:
        after = Counters(c.on_hand, c.held + wanted, c.safety_stock, c.incoming)
        assert invariant_holds(after)


@pytest.mark.parametrize(
    ("channel", "selling", "location", "expected"),
    [
        (Channel.POS, "STORE-A", "STORE-A", True),
        (Channel.POS, "STORE-A", "STORE-B", False),
        (Channel.POS, "", "STORE-A", False),
        (Channel.WEB, "STORE-A", "STORE-A", False),
        (Channel.CHAT, "STORE-A", "STORE-A", False),
    ],
)
def test_only_a_stores_own_till_sells_into_safety_stock(channel, selling, location, expected) -> None:
    assert may_use_safety_stock(channel, selling, location) is expected


@given(st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from("XYZ"), st.integers(1, 5)), min_size=1))
def test_merged_lines_are_sorted_unique_and_keep_the_total(lines: list[tuple[str, str, int]]) -> None:
    merged = merge_lines(lines)
    keys = [key for key, _ in merged]
    assert keys == sorted(set(keys))
    assert sum(q for _, q in merged) == sum(q for *_, q in lines)


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=4))
def test_settled_state_follows_what_is_open(raw: list[tuple[int, int, int]]) -> None:
    lines = []
    for index, (quantity, committed, released) in enumerate(raw):
        committed = min(committed, quantity)
        released = min(released, quantity - committed)
        lines.append(HoldLine(LineKey("L", str(index)), quantity, committed, released))
    state = settled_state(lines)
    if any(line.open for line in lines):
        assert state is HoldState.ACTIVE
    elif any(line.committed for line in lines):
        assert state is HoldState.COMMITTED
    else:
        assert state is HoldState.RELEASED


def test_taking_more_than_is_open_names_the_line() -> None:
    key = LineKey("STORE", "SKU")
    lines = {key: HoldLine(key, 3, committed=1)}
    assert take_from_open(lines, None) == [(key, 2)]
    assert take_from_open(lines, [(key, 2)]) == [(key, 2)]
    with pytest.raises(InvalidArgument) as refused:
        take_from_open(lines, [(key, 3)])
    assert refused.value.violations[0].field == "lines[0].quantity"
    with pytest.raises(InvalidArgument):
        take_from_open(lines, [(LineKey("OTHER", "SKU"), 1)])
