"""Sets (bundle SKUs) as the plain units they move: one expansion for holds, transfers, returns and
`omnistock verify`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_platform.sets import InvalidSet, components, expand, parts

PLAIN = st.sampled_from(["SOFA", "CUSHION", "LAMP", "RUG", "TABLE"])
SETS = st.sampled_from(["SOFA-SET", "DINING-SET", "LAMP-PAIR"])
DEFINITIONS = st.dictionaries(SETS, st.dictionaries(PLAIN, st.integers(1, 5), min_size=1, max_size=4))
LINES = st.lists(st.tuples(PLAIN | SETS, st.integers(1, 50)), max_size=8)


@given(LINES, DEFINITIONS)
def test_expanding_keeps_every_unit_and_lets_plain_skus_through(
    lines: list[tuple[str, int]], definitions: dict[str, dict[str, int]]
) -> None:
    units = expand(lines, definitions)
    # Units in all: each line's quantity times the units of its SKU (its components' per set for a set).
    assert sum(units.values()) == sum(
        quantity * sum(definitions.get(sku, {sku: 1}).values()) for sku, quantity in lines
    )
    # No set is left among the units; a plain SKU's units are its own lines plus what sets bring of it.
    assert not units.keys() & definitions.keys()
    for sku in units:
        alone = sum(quantity for named, quantity in lines if named == sku)
        in_sets = sum(quantity * definitions[named].get(sku, 0) for named, quantity in lines if named in definitions)
        assert units[sku] == alone + in_sets
    # Lines as a mapping and as pairs expand the same.
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        merged[sku] = merged.get(sku, 0) + quantity
    assert expand(merged, definitions) == units


def test_a_set_is_its_components_and_a_plain_sku_itself() -> None:
    definitions = {"SOFA-SET": {"SOFA": 1, "CUSHION": 2}}
    assert components("SOFA-SET", definitions) == {"SOFA": 1, "CUSHION": 2}
    assert components("SOFA", definitions) is None
    assert components("EMPTY", {"EMPTY": {}}) is None  # no components: a plain SKU
    assert parts("SOFA-SET", 3, definitions) == {"SOFA": 3, "CUSHION": 6}
    assert expand({"SOFA-SET": 1, "CUSHION": 1}, definitions) == {"SOFA": 1, "CUSHION": 3}


@pytest.mark.parametrize(
    ("definition", "problem"),
    [({"SOFA": 0}, "has 0 units of SOFA per set"), ({"SOFA-SET": 1}, "names itself as a component")],
)
def test_a_definition_that_cannot_expand_is_refused_naming_the_set(definition: dict[str, int], problem: str) -> None:
    with pytest.raises(InvalidSet) as refused:
        expand([("SOFA-SET", 1)], {"SOFA-SET": definition})
    assert (refused.value.sku, refused.value.problem) == ("SOFA-SET", problem)
    assert str(refused.value) == f"set SOFA-SET {problem}"
