"""FindAvailability weighs the stock of locations in order of distance only until its page is full:
its answer is the one a search that weighs every location and then sorts them gives."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import changes, messages
from omnistock_inventory.domain.stock import Pool, channel_available, may_use_safety_stock
from omnistock_inventory.service_layer.pools import at
from omnistock_inventory.service_layer.stock import METHOD_FLAGS, StockLevels, channel_of, facts
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.settings import InventorySettings
from omnistock_platform.geo import Point, distance_km

LOCATIONS = [f"loc-{index:02d}" for index in range(12)]
SKUS = ["sofa", "lamp", "rug"]
# Few points, so that distances tie and the rank and the id decide.
POINTS = [(52.52, 13.40), (52.53, 13.41), (48.14, 11.58), (52.52, 13.40001)]
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def catalogues(draw: st.DrawFn) -> StockView:
    view = StockView(None, InventorySettings())  # type: ignore[arg-type]
    for location_id in draw(st.lists(st.sampled_from(LOCATIONS), min_size=1, unique=True)):
        latitude, longitude = draw(st.sampled_from(POINTS))
        view._locations[location_id] = {  # type: ignore[assignment]
            "location_id": location_id,
            "name": location_id.title(),
            "kind": "store",
            "city": "Berlin",
            "latitude": latitude,
            "longitude": longitude,
            "routing_rank": draw(st.integers(0, 2)),
            "ships": draw(st.booleans()),
            "pickup": draw(st.booleans()),
            "till_sales": draw(st.booleans()),
            "active": draw(st.booleans() | st.just(True)),
        }
    for sku in SKUS:
        view._skus[sku] = draw(st.booleans())
        # Rows may be at a location the view has not read (yet): such rows are never answered.
        for location_id in draw(st.lists(st.sampled_from(LOCATIONS), unique=True)):
            on_hand = draw(st.integers(0, 6))
            view._stock.setdefault(sku, {})[location_id] = {  # type: ignore[assignment]
                "location_id": location_id,
                "sku": sku,
                "on_hand": on_hand,
                "held": draw(st.integers(0, on_hand)),
                "safety_stock": draw(st.integers(0, 2)),
                "incoming": draw(st.integers(0, 3)),
                "next_incoming_at": None,
                "version": 1,
                "updated_at": WHEN,
                "in_transit": 0,
            }
    return view


requests = st.builds(
    pb.FindAvailabilityRequest,
    items=st.lists(
        st.builds(common_pb2.SkuQuantity, sku=st.sampled_from(SKUS), quantity=st.integers(1, 4)), min_size=1, max_size=3
    ),
    channel=st.sampled_from([common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_POS]),
    selling_location_id=st.sampled_from(["", *LOCATIONS[:3]]),
    near=st.one_of(
        st.none(), st.sampled_from(POINTS).map(lambda p: common_pb2.GeoPoint(latitude=p[0], longitude=p[1]))
    ),
    radius_km=st.sampled_from([0.0, 0.5, 2.0]),
    method=st.sampled_from([0, *METHOD_FLAGS]),
    complete_only=st.booleans(),
)
channel_pools = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(LOCATIONS), st.lists(st.builds(Pool, st.sampled_from(["a", "b"])), max_size=2)),
)


def weigh_everything(
    view: StockView, request: pb.FindAvailabilityRequest, wanted: dict[str, int], limit: int, pools: Any, only: Any
) -> list[pb.LocationAvailability]:
    """Every location weighed, then sorted: complete ones first, then by distance, rank and id."""
    by_location: dict[str, list[Any]] = {}
    for sku in wanted:
        for row in view.rows(sku, ordered=False):
            by_location.setdefault(row.stock["location_id"], []).append(row)
    chosen = channel_of(request.channel)
    near = Point(request.near.latitude, request.near.longitude) if request.HasField("near") else None
    found = []
    for location_id, here in by_location.items():
        place = here[0].place
        if place is None or not place["active"] or (request.method and not place[METHOD_FLAGS[request.method]]):
            continue
        if only is not None and location_id not in only:
            continue
        use_safety_stock = may_use_safety_stock(chosen, request.selling_location_id, location_id)
        can = {}
        for row in here:
            sku, counters, backorder = facts(row)
            can[sku] = channel_available(
                counters, at(pools, location_id), use_safety_stock=use_safety_stock, backorder=backorder
            )[0]
        if not any(units > 0 for units in can.values()):
            continue
        complete = all(can.get(sku, 0) >= quantity for sku, quantity in wanted.items())
        if request.complete_only and not complete:
            continue
        distance = distance_km(near, Point(place["latitude"], place["longitude"])) if near is not None else 0.0
        if request.radius_km and distance > request.radius_km:
            continue
        rounded = round(distance, 3)
        found.append(((not complete, rounded, place["routing_rank"], location_id), complete, rounded, here))
    found.sort(key=lambda entry: entry[0])
    return [
        pb.LocationAvailability(
            location=messages.location(here[0].place),
            distance_km=rounded,
            levels=StockLevels._levels(here, request.channel, request.selling_location_id, pools),
            complete=complete,
        )
        for _, complete, rounded, here in found[:limit]
    ]


# No deadline: an example's time on a loaded machine is not what this test is about.
@settings(max_examples=300, deadline=None)
@given(
    view=catalogues(),
    request=requests,
    limit=st.integers(1, 6),
    pools=channel_pools,
    only=st.one_of(st.none(), st.sets(st.sampled_from(LOCATIONS))),
)
def test_the_page_is_the_one_weighing_every_location_gives(
    view: StockView, request: pb.FindAvailabilityRequest, limit: int, pools: Any, only: set[str] | None
) -> None:
    wanted = {item.sku: item.quantity for item in request.items}
    stock_levels = StockLevels.__new__(StockLevels)
    stock_levels.view = view
    rows_at = functools.partial(view.rows_at, list(wanted))
    ranked = stock_levels._ranked(request, wanted, view.places_of(wanted), rows_at, limit, pools, only, clock=CLOCK)
    # The page is the question here; the promises on it are docs/promises.md's (tests/unit/platform).
    assert without_promises(ranked) == weigh_everything(view, request, wanted, limit, pools, only)
    # The second search answers from the location messages the first one made: still the same.
    again = stock_levels._ranked(request, wanted, view.places_of(wanted), rows_at, limit, pools, only, clock=CLOCK)
    assert again == ranked
    # From the order of every location the view keeps for the question: the same page.
    near = Point(request.near.latitude, request.near.longitude) if request.HasField("near") else None
    flag = METHOD_FLAGS.get(request.method)
    ranking = view.ranking(near, flag, request.radius_km, len(view._locations))
    assert ranking is not None and view.ranking(near, flag, request.radius_km, 0) is ranking  # kept
    kept = stock_levels._ranked(
        request, wanted, view.places_of(wanted), rows_at, limit, pools, only, clock=CLOCK, ranking=ranking
    )
    assert kept == ranked


def test_a_changed_location_is_ranked_again() -> None:
    view = StockView(None, InventorySettings())  # type: ignore[arg-type]
    here, there = (52.52, 13.40), (48.14, 11.58)

    def place(location_id: str, point: tuple[float, float], change_seq: int) -> dict[str, Any]:
        return {
            "location_id": location_id,
            "latitude": point[0],
            "longitude": point[1],
            "routing_rank": 0,
            "active": True,
            "ships": True,
            "change_seq": change_seq,
        }

    view._apply(
        changes.Changes(SNAPSHOT, WHEN, [place("near", here, 1), place("far", there, 2)], [], []), unasked=False
    )  # type: ignore[list-item]
    near = Point(*here)
    assert [ranked[2] for ranked in view.ranking(near, "ships", 0.0, 2) or []] == ["near", "far"]
    # "near" moves away, "far" closes: the kept order is dropped with the round that reads them.
    moved = place("near", there, 3)
    closed = {**place("far", there, 4), "active": False}
    view._apply(changes.Changes(SNAPSHOT, WHEN, [moved, closed], [], []), unasked=False)  # type: ignore[list-item]
    ranking = view.ranking(near, "ships", 0.0, 2)
    assert ranking == [(round(distance_km(near, Point(*there)), 3), 0, "near")]
    # A search that draws from few of the locations ranks only its own (nothing kept for it).
    assert view.ranking(Point(*there), "ships", 0.0, 0) is None


SNAPSHOT = changes.Snapshot.parse("10:10:")


CLOCK = datetime(2026, 1, 1, 12, tzinfo=UTC)


def without_promises(answers: list[pb.LocationAvailability]) -> list[pb.LocationAvailability]:
    stripped = []
    for answer in answers:
        copy = pb.LocationAvailability()
        copy.CopyFrom(answer)
        copy.ClearField("promises")
        stripped.append(copy)
    return stripped
