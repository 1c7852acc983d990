"""A set (bundle) is promised as its components: asking FindAvailability's promises for sets gives
the same promises as asking for the components' units they stand for (a set lacking a component is
ready when that component's announced units arrive). `can` is as FindAvailability gives it: per
component, and the set's as many as its components allow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.domain.bundles import bundle_available
from omnistock_inventory.service_layer.promises import PromiseQuestion, location_promises
from omnistock_platform.sets import expand

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
STORE = pb.Location(
    location_id="STORE-MITTE",
    name="Mitte",
    pickup=True,
    ships=True,
    promise_settings=pb.PromiseSettings(time_zone="Europe/Berlin", pickup_preparation_minutes=45),
)
PARTS = ["SOFA", "CUSHION", "THROW"]


@settings(max_examples=300, deadline=None)
@given(
    per_set=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    sets=st.integers(1, 3),
    shelf=st.lists(st.integers(0, 8), min_size=3, max_size=3),
    announced=st.lists(
        st.tuples(st.integers(0, 8), st.none() | st.integers(-60, 20 * 24 * 60)), min_size=3, max_size=3
    ),
)
def test_a_set_is_promised_as_the_components_it_stands_for(
    per_set: list[int], sets: int, shelf: list[int], announced: list[tuple[int, int | None]]
) -> None:
    components = dict(zip(PARTS, per_set, strict=False))
    definitions = {"SET": components}
    can = dict(zip(PARTS, shelf, strict=True))
    incoming = {
        part: (units, None if minutes is None else NOW + timedelta(minutes=minutes))
        for part, (units, minutes) in zip(PARTS, announced, strict=True)
    }
    wanted = {"SET": sets}
    with_set = {**can, "SET": bundle_available(components, can)}
    question = PromiseQuestion(wanted=wanted, can=with_set, incoming=incoming, region="DE-BE", sets=definitions)
    asked = location_promises(STORE, question, now=NOW)
    parts = PromiseQuestion(wanted=expand(wanted, definitions), can=can, incoming=incoming, region="DE-BE")
    as_parts = location_promises(STORE, parts, now=NOW)
    assert asked == as_parts
