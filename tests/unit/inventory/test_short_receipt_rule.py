"""A short receipt gives back exactly what held would otherwise exceed: after it, held fits on hand
plus incoming (backorderable SKU) plus the promisable units still in transit, and nothing is given
back when it already fits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from omnistock_inventory.service_layer.transit_promises import excess_after_receipt

small = st.integers(min_value=0, max_value=50)


@st.composite
def receipts(draw: st.DrawFn) -> tuple[dict[str, int], int, int, bool, bool]:
    """A row that keeps the invariant, with a shipped transfer of `shipped` units in its in transit."""
    shipped = draw(st.integers(min_value=1, max_value=30))
    reserved = draw(st.booleans())  # a ship-to-store transfer's units, for its own owner
    other_transit, other_reserved = draw(small), draw(small)
    other_reserved = min(other_reserved, other_transit)
    on_hand, incoming, backorder = draw(small), draw(small), draw(st.booleans())
    in_transit = other_transit + shipped
    in_transit_reserved = other_reserved + (shipped if reserved else 0)
    room = on_hand + (incoming if backorder else 0) + in_transit - in_transit_reserved
    held = draw(st.integers(min_value=0, max_value=room))
    received = draw(st.integers(min_value=0, max_value=shipped + 5))
    row = {
        "on_hand": on_hand,
        "held": held,
        "incoming": incoming,
        "in_transit": in_transit,
        "in_transit_reserved": in_transit_reserved,
    }
    return row, shipped, received, reserved, backorder


@given(receipts())
def test_the_excess_is_exactly_what_would_not_fit(case: tuple[dict[str, int], int, int, bool, bool]) -> None:
    row, shipped, received, reserved, backorder = case
    arrival = min(received, shipped) if reserved else 0
    excess = excess_after_receipt(
        row, received=received, shipped=shipped, reserved=reserved, arrival_held=arrival, backorder=backorder
    )
    held = row["held"] - excess + arrival
    on_hand = row["on_hand"] + received
    promisable = (row["in_transit"] - shipped) - (row["in_transit_reserved"] - (shipped if reserved else 0))
    room = on_hand + (row["incoming"] if backorder else 0) + promisable
    assert 0 <= excess <= row["held"]
    assert held <= room  # the invariant after the receipt
    assert excess == 0 or held == room  # nothing given back beyond what did not fit
    if received >= shipped:
        assert excess == 0  # a full receipt never shortens a promise
