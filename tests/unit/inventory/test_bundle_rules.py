"""A bundle's availability and the settling of its hold lines, on their own."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_inventory.domain.bundles import (
    HoldBundle,
    bundle_available,
    expand_sets,
    settling,
    shortening,
    whole_sets_arrived,
)
from omnistock_inventory.domain.holds import HoldLine, LineKey
from omnistock_inventory.domain.stock import Counters, Pool, channel_available
from omnistock_platform.errors import FailedPrecondition, InvalidArgument

parts = st.sampled_from(["SOFA", "CUSHION", "THROW", "LEG"])
definitions = st.dictionaries(parts, st.integers(1, 12), min_size=1, max_size=4)


@st.composite
def counters(draw: st.DrawFn) -> Counters:
    on_hand = draw(st.integers(0, 500))
    return Counters(on_hand, draw(st.integers(0, on_hand)), draw(st.integers(0, 50)), draw(st.integers(0, 50)))


pools = st.one_of(
    st.none(),
    st.lists(
        st.builds(Pool, st.sampled_from(["g1", "g2"]), st.integers(0, 100), st.integers(0, 20), st.booleans()),
        max_size=2,
    ),
)


@given(definitions, st.dictionaries(parts, counters()), pools, st.booleans(), st.booleans())
def test_a_bundle_is_available_exactly_as_far_as_each_component_allows(
    components: dict[str, int], rows: dict[str, Counters], channel_pools, safety: bool, backorder: bool
) -> None:
    """Through the one availability rule per component (pools included): n sets are available if
    and only if every component has n times its units available; a component without a row has none."""
    can = {
        sku: channel_available(row, channel_pools, use_safety_stock=safety, backorder=backorder)[0]
        for sku, row in rows.items()
    }
    sets = bundle_available(components, can)
    assert sets >= 0
    assert all(can.get(sku, 0) >= sets * units for sku, units in components.items())
    assert any(can.get(sku, 0) < (sets + 1) * units for sku, units in components.items())


@given(definitions, st.dictionaries(parts, st.integers(0, 1000)), parts, st.integers(1, 100))
def test_more_of_a_component_never_makes_fewer_sets(
    components: dict[str, int], can: dict[str, int], sku: str, more: int
) -> None:
    richer = {**can, sku: can.get(sku, 0) + more}
    assert bundle_available(components, richer) >= bundle_available(components, can)


def test_no_components_make_no_sets() -> None:
    assert bundle_available({}, {"SOFA": 5}) == 0


def _hold(sets: int, extra_cushions: int = 0) -> tuple[dict[LineKey, HoldLine], dict[LineKey, HoldBundle]]:
    lines = {
        LineKey("M", "SOFA"): HoldLine(LineKey("M", "SOFA"), sets),
        LineKey("M", "CUSHION"): HoldLine(LineKey("M", "CUSHION"), 2 * sets + extra_cushions),
    }
    bundles = {LineKey("M", "SET"): HoldBundle("M", "SET", sets, {"SOFA": 1, "CUSHION": 2})}
    return lines, bundles


def test_settling_a_bundle_line_settles_its_components() -> None:
    lines, bundles = _hold(2)
    changes, sets = settling(lines, bundles, [(LineKey("M", "SET"), 1)])
    assert dict(changes) == {LineKey("M", "SOFA"): 1, LineKey("M", "CUSHION"): 2}
    assert sets == [(LineKey("M", "SET"), 1)]


def test_settling_everything_settles_every_bundle_line() -> None:
    lines, bundles = _hold(2, extra_cushions=1)
    changes, sets = settling(lines, bundles, None)
    assert dict(changes) == {LineKey("M", "SOFA"): 2, LineKey("M", "CUSHION"): 5}
    assert sets == [(LineKey("M", "SET"), 2)]


def test_a_component_leaves_alone_only_beyond_what_its_bundles_keep() -> None:
    lines, bundles = _hold(1, extra_cushions=1)
    changes, sets = settling(lines, bundles, [(LineKey("M", "CUSHION"), 1)])
    assert changes == [(LineKey("M", "CUSHION"), 1)] and sets == []
    with pytest.raises(FailedPrecondition):
        settling(lines, bundles, [(LineKey("M", "CUSHION"), 2)])


def test_units_a_short_receipt_takes_go_alone_first_then_in_whole_sets() -> None:
    lines, bundles = _hold(2, extra_cushions=1)
    cushion, sofa, bundle = LineKey("M", "CUSHION"), LineKey("M", "SOFA"), LineKey("M", "SET")
    assert shortening(cushion, 1, lines, bundles) == ([(cushion, 1)], [])
    # Two cushions missing: the one held alone, then a whole set for the other (its sofa too).
    assert shortening(cushion, 2, lines, bundles) == ([(cushion, 3), (sofa, 1)], [(bundle, 1)])
    assert shortening(sofa, 2, lines, bundles) == ([(cushion, 4), (sofa, 2)], [(bundle, 2)])


def test_more_sets_than_are_open_is_refused_naming_the_line() -> None:
    lines, bundles = _hold(1)
    with pytest.raises(InvalidArgument) as refused:
        settling(lines, bundles, [(LineKey("M", "SOFA"), 0), (LineKey("M", "SET"), 2)])
    assert "lines[1].quantity" in str(refused.value.violations)


@given(
    sets=st.dictionaries(st.sampled_from(["SET-A", "SET-B"]), st.tuples(definitions, st.integers(1, 5)), max_size=2),
    plain=st.dictionaries(parts, st.integers(1, 20), max_size=3),
    lost=st.dictionaries(parts, st.integers(0, 60)),
)
def test_a_transfer_carries_sets_as_components_and_keeps_only_whole_sets_on_arrival(
    sets: dict[str, tuple[dict[str, int], int]], plain: dict[str, int], lost: dict[str, int]
) -> None:
    """Ship to store: the sets go as their components (merged with plain lines); on arrival every set
    kept is whole, no more sets and plain units are kept than were carried for them, and nothing is
    kept beyond what arrived. When everything arrives, everything is kept."""
    asked = [(sku, quantity) for sku, (_, quantity) in sets.items()] + list(plain.items())
    definitions_ = {sku: parts_ for sku, (parts_, _) in sets.items()}
    carried, bundles = expand_sets("WH", asked, definitions_)
    for sku in carried:
        assert carried[sku] == plain.get(sku, 0) + sum(q * d.get(sku, 0) for d, q in sets.values())
    assert [(b.sku, b.quantity, b.location_id) for b in bundles] == [(s, q, "WH") for s, (_, q) in sets.items()]

    everything, whole = whole_sets_arrived("STORE", bundles, carried, carried)
    assert everything == {sku: units for sku, units in carried.items() if units}
    assert [(b.sku, b.quantity) for b in whole] == [(b.sku, b.quantity) for b in bundles]

    arrived = {sku: max(0, units - lost.get(sku, 0)) for sku, units in carried.items()}
    kept, kept_sets = whole_sets_arrived("STORE", bundles, carried, arrived)
    for sku, units in kept.items():
        assert 0 < units <= arrived[sku]
        in_sets = sum(b.quantity * b.components.get(sku, 0) for b in kept_sets)
        assert in_sets <= units and units - in_sets <= plain.get(sku, 0)  # the rest is plain, as carried
    for kept_set in kept_sets:
        assert kept_set.location_id == "STORE"
        assert 0 < kept_set.quantity <= sets[kept_set.sku][1]


def test_one_cushion_lost_on_the_road_keeps_no_set_and_the_sofa_goes_on_sale() -> None:
    carried, bundles = expand_sets("WH", [("SET", 1)], {"SET": {"SOFA": 1, "CUSHION": 2}})
    assert carried == {"SOFA": 1, "CUSHION": 2}
    assert whole_sets_arrived("STORE", bundles, carried, {"SOFA": 1, "CUSHION": 1}) == ({}, [])
    kept, [kept_set] = whole_sets_arrived("STORE", bundles, carried, carried)
    assert kept == carried and (kept_set.sku, kept_set.quantity, kept_set.location_id) == ("SET", 1, "STORE")


@given(
    st.lists(definitions, min_size=1, max_size=3),
    st.lists(st.integers(1, 4), min_size=3, max_size=3),
    st.dictionaries(parts, st.integers(0, 5)),
    st.dictionaries(parts, st.integers(0, 60)),
)
def test_a_hold_with_sets_is_short_exactly_when_its_lines_together_ask_more_than_there_is(
    sets: list[dict[str, int]], quantities: list[int], alone: dict[str, int], there: dict[str, int]
) -> None:
    # Imported here: the service layer brings the database driver, which the rules above do not need.
    from omnistock_inventory.service_layer.bundles import bundle_shortfall

    bundles = [
        HoldBundle("ST", f"SET-{i}", quantity, components)
        for i, (components, quantity) in enumerate(zip(sets, quantities, strict=False))
    ]
    asked = dict(alone)
    for bundle in bundles:
        for part, units in bundle.components.items():
            asked[part] = asked.get(part, 0) + bundle.quantity * units
    lines = [(LineKey("ST", part), units) for part, units in sorted(asked.items()) if units]
    can_have = {LineKey("ST", part): units for part, units in there.items()}
    short = bundle_shortfall(lines, bundles, can_have)
    assert (short == []) == all(units <= there.get(part, 0) for part, units in asked.items())
