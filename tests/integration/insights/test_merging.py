"""Merging is order-tolerant: however the events of a journey come, the projection counts the same.

No database here: the facts and their contributions are plain Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields
from functools import reduce
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock_insights.adapters.events import TaskSeen, observe
from omnistock_insights.domain.journeys import OrderFact, ReservationFact, TaskFact
from omnistock_insights.domain.tally import Tally

from .journeys import store_day

EVENTS = [(event.envelope(), event.payload) for event in store_day("STORE-1", "WH-1")]
OBSERVED = [observation for envelope, payload in EVENTS if (observation := observe(envelope, payload)) is not None]


def journeys(observations: list[Any]) -> dict[str, list[Any]]:
    """The partial facts of each journey, in the order given."""
    found: dict[str, list[Any]] = defaultdict(list)
    for seen in observations:
        if isinstance(seen, ReservationFact):
            found[seen.reservation_id].append(seen)
        elif isinstance(seen, OrderFact):
            found[seen.order_id].append(seen)
        elif isinstance(seen, TaskSeen):
            found[seen.task.task_id].append(seen.task)
            if seen.shipment is not None:
                found[seen.shipment.order_id].append(seen.shipment)
    return found


def counted(observations: list[Any]) -> Tally:
    total = Tally()
    for facts in journeys(observations).values():
        # What the projection starts from: a bare fact, its id only.
        bare = type(facts[0])(getattr(facts[0], fields(facts[0])[0].name))
        merged = reduce(lambda fact, seen: fact.merge(seen), facts, bare)
        total.merge(merged.contribution("web") if isinstance(merged, TaskFact) else merged.contribution())
    return total


def as_cells(tally: Tally) -> dict[Any, dict[str, int]]:
    return dict(tally.nonzero())


@settings(max_examples=200, deadline=None)
@given(st.permutations(OBSERVED))
def test_any_order_of_events_counts_the_same(shuffled: list[Any]) -> None:
    assert as_cells(counted(list(shuffled))) == as_cells(counted(OBSERVED))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(OBSERVED), min_size=1, max_size=len(OBSERVED)))
def test_seeing_an_event_again_changes_nothing(repeated: list[Any]) -> None:
    assert as_cells(counted(OBSERVED + repeated)) == as_cells(counted(OBSERVED))


def test_a_moved_count_leaves_nothing_behind() -> None:
    order = OrderFact("O-1", channel="web", created_at=OBSERVED[0].created_at, units=1, revenue={"EUR": 100})
    allocated = order.merge(OrderFact("O-1", first_allocation=("WH-1",)))
    change = allocated.contribution() - order.contribution()
    buckets = {cell.bucket.location_id: counts for cell, counts in change.nonzero() if cell.sheet == "daily"}
    assert buckets[""]["orders"] == -1
    assert buckets["WH-1"]["orders"] == 1
