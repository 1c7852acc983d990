"""A hold's set changed in place, on its own: which line changes are in sets, and what they move."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_inventory.domain.bundles import HoldBundle
from omnistock_inventory.domain.hold_edits import plan_set_edits
from omnistock_inventory.domain.holds import LineKey
from omnistock_platform.errors import FailedPrecondition

STORE, OTHER = "ST-1", "ST-2"
definitions = st.dictionaries(st.sampled_from(["SOFA", "CUSHION", "THROW"]), st.integers(1, 12), min_size=1)


def violations(error: FailedPrecondition) -> list[tuple[str, str]]:
    return [(v.type, v.subject) for v in error.violations]


@given(
    components=definitions,
    quantity=st.integers(1, 50),
    committed=st.integers(0, 50),
    released=st.integers(0, 50),
    open_after=st.integers(0, 100),
)
def test_a_set_moves_each_component_by_its_units_per_set_and_keeps_its_sold_sets(
    components: dict[str, int], quantity: int, committed: int, released: int, open_after: int
) -> None:
    quantity += committed + released
    held = HoldBundle(STORE, "SET", quantity, components, committed, released)
    plain, edits = plan_set_edits("h", {held.key: held}, [(held.key, open_after, held.open)], {})
    assert plain == []
    if open_after == held.open:
        assert edits == []
        return
    (edit,) = edits
    assert edit.delta == open_after - held.open
    assert dict(edit.parts()) == {LineKey(STORE, part): edit.delta * units for part, units in components.items()}
    assert (edit.bundle.committed, edit.bundle.released) == (committed, released)


def test_a_set_not_held_there_takes_the_holds_own_components_before_its_definition() -> None:
    held = HoldBundle(STORE, "SET", 1, {"SOFA": 1, "CUSHION": 2})
    lamp = (LineKey(STORE, "LAMP"), 0, 1)
    plain, edits = plan_set_edits(
        "h",
        {held.key: held},
        [lamp, (LineKey(OTHER, "SET"), 2, 0), (LineKey(OTHER, "RUG-SET"), 1, 0)],
        {"SET": {"SOFA": 1, "CUSHION": 4}, "RUG-SET": {"RUG": 1}},
    )
    assert plain == [lamp]
    assert [(e.key, e.bundle.components, e.delta) for e in edits] == [
        (LineKey(OTHER, "SET"), {"SOFA": 1, "CUSHION": 2}, 2),  # as held at the store, not as redefined
        (LineKey(OTHER, "RUG-SET"), {"RUG": 1}, 1),
    ]


def test_an_unchanged_set_is_no_edit_and_a_stale_one_is_refused() -> None:
    held = HoldBundle(STORE, "SET", 3, {"SOFA": 1}, committed=1)
    assert plan_set_edits("h", {held.key: held}, [(held.key, 2, 2)], {}) == ([], [])
    with pytest.raises(FailedPrecondition) as refused:
        plan_set_edits("h", {held.key: held}, [(held.key, 1, 3)], {})
    assert violations(refused.value) == [("HOLD_LINE_CHANGED", f"h/{STORE}/SET")]


def test_a_component_changed_with_its_set_is_refused_unless_it_stays() -> None:
    held = HoldBundle(STORE, "SET", 1, {"SOFA": 1, "CUSHION": 2})
    cushion = LineKey(STORE, "CUSHION")
    with pytest.raises(FailedPrecondition) as refused:
        plan_set_edits("h", {held.key: held}, [(held.key, 2, 1), (cushion, 5, 3)], {})
    assert violations(refused.value) == [("BUNDLE_COMPONENT", f"{STORE}/CUSHION")]
    plain, edits = plan_set_edits("h", {held.key: held}, [(held.key, 2, 1), (cushion, 3, 3)], {})
    assert plain == [(cushion, 3, 3)] and [e.delta for e in edits] == [1]
    # Elsewhere, the same component is another line: it changes as any line.
    plain, _ = plan_set_edits("h", {held.key: held}, [(held.key, 2, 1), (LineKey(OTHER, "CUSHION"), 1, 0)], {})
    assert plain == [(LineKey(OTHER, "CUSHION"), 1, 0)]
