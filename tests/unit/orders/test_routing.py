"""The order router: concrete cases for every rule, then properties over random stock."""

# Plans spell quantities with the multiplication sign (U+00D7), so the expected texts do too.
# ruff: noqa: RUF001

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnistock_orders.domain.routing import (
    CRITERIA,
    EXACT_SEARCH_LIMIT,
    Candidate,
    Criterion,
    Method,
    PassedOver,
    PassReason,
    Plan,
    RoutingPolicy,
    RoutingRequest,
    plan_route,
    serving_order,
    settled_whole,
)
from omnistock_platform.geo import Point, distance_km

BERLIN = Point(52.5200, 13.4050)
POTSDAM = Point(52.3906, 13.0645)
SPANDAU = Point(52.5351, 13.1990)
HAMBURG = Point(53.5511, 9.9937)
BREMEN = Point(53.0793, 8.8017)
LEIPZIG = Point(51.3397, 12.3731)
MUNICH = Point(48.1351, 11.5820)

SHIP_ANYWHERE = RoutingPolicy()


def location(
    location_id: str,
    *,
    stock: Mapping[str, int],
    at: Point | None = BERLIN,
    warehouse: bool | None = None,
    rank: int = 1,
    ships: bool = True,
    pickup: bool = True,
    till_sales: bool = True,
    active: bool = True,
    safety: Mapping[str, int] | None = None,
) -> Candidate:
    """A location; `safety` is stock held back from remote channels on top of `stock`."""
    is_warehouse = location_id.startswith("WH-") if warehouse is None else warehouse
    safety = safety or {}
    skus = sorted({*stock, *safety})
    return Candidate(
        location_id=location_id,
        name=location_id.title(),
        is_warehouse=is_warehouse,
        point=at,
        routing_rank=rank,
        ships=ships,
        pickup=pickup and not is_warehouse,
        till_sales=till_sales and not is_warehouse,
        active=active,
        available=dict(stock),
        available_ignoring_safety={sku: stock.get(sku, 0) + safety.get(sku, 0) for sku in skus},
        versions={sku: 7 for sku in skus},
    )


def ship(lines: Mapping[str, int], to: Point | None = POTSDAM, exclude: frozenset[str] = frozenset()) -> RoutingRequest:
    return RoutingRequest(lines=lines, method=Method.SHIP, destination=to, store_id=None, exclude=exclude)


def allocated(plan: Plan) -> dict[str, dict[str, int]]:
    return {allocation.location_id: dict(allocation.lines) for allocation in plan.allocations}


def passed(plan: Plan) -> dict[str, PassedOver]:
    return {entry.location_id: entry for entry in plan.passed_over}


def reasons(plan: Plan) -> dict[str, PassReason]:
    return {entry.location_id: entry.reason for entry in plan.passed_over}


# --- keeping the order whole ----------------------------------------------------------------------


def test_whole_order_beats_a_nearer_split() -> None:
    candidates = [
        location("STORE-SPANDAU", stock={"SKU-A": 1}, at=SPANDAU),
        location("STORE-BERLIN", stock={"SKU-B": 1}, at=BERLIN),
        location("WH-LEIPZIG", stock={"SKU-A": 5, "SKU-B": 5}, at=LEIPZIG),
    ]

    plan = plan_route(ship({"SKU-A": 1, "SKU-B": 1}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-LEIPZIG": {"SKU-A": 1, "SKU-B": 1}}
    assert plan.complete and plan.splits == 1 and plan.unfilled == {}
    assert plan.explanation == "Whole order from WH-LEIPZIG (warehouse, 126.1 km)."
    assert passed(plan)["STORE-SPANDAU"] == PassedOver("STORE-SPANDAU", PassReason.NOT_ENOUGH_STOCK, "has 0 of 1 SKU-B")
    assert passed(plan)["STORE-BERLIN"] == PassedOver("STORE-BERLIN", PassReason.NOT_ENOUGH_STOCK, "has 0 of 1 SKU-A")


def test_nearest_location_that_can_fill_everything_wins() -> None:
    candidates = [
        location("WH-HAMBURG", stock={"SKU-A": 2}, at=HAMBURG),
        location("WH-BERLIN", stock={"SKU-A": 2}, at=BERLIN),
        location("WH-LEIPZIG", stock={"SKU-A": 2}, at=LEIPZIG),
    ]

    plan = plan_route(ship({"SKU-A": 2}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-BERLIN": {"SKU-A": 2}}
    assert plan.total_distance_km == pytest.approx(27.2, abs=0.05)
    assert passed(plan)["WH-LEIPZIG"] == PassedOver("WH-LEIPZIG", PassReason.FARTHER, "98.9 km farther than WH-BERLIN")
    assert passed(plan)["WH-HAMBURG"].reason is PassReason.FARTHER


def test_rank_breaks_a_distance_tie() -> None:
    candidates = [
        location("WH-A", stock={"SKU-A": 1}, rank=2),
        location("WH-B", stock={"SKU-A": 1}, rank=1),
    ]

    plan = plan_route(ship({"SKU-A": 1}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-B": {"SKU-A": 1}}
    assert passed(plan)["WH-A"] == PassedOver("WH-A", PassReason.LOWER_RANK, "routing rank 2; WH-B has rank 1")


def test_a_tie_on_everything_is_broken_by_id() -> None:
    candidates = [location("WH-B", stock={"SKU-A": 1}), location("WH-A", stock={"SKU-A": 1})]

    plan = plan_route(ship({"SKU-A": 1}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-A": {"SKU-A": 1}}
    assert passed(plan)["WH-B"].reason is PassReason.LOWER_RANK
    assert "tie broken by id" in passed(plan)["WH-B"].detail


def test_unknown_distance_sorts_after_any_known_distance() -> None:
    candidates = [
        location("WH-NOWHERE", stock={"SKU-A": 1}, at=None),
        location("WH-MUNICH", stock={"SKU-A": 1}, at=MUNICH),
    ]

    plan = plan_route(ship({"SKU-A": 1}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-MUNICH": {"SKU-A": 1}}
    assert passed(plan)["WH-NOWHERE"].reason is PassReason.FARTHER
    assert passed(plan)["WH-NOWHERE"].detail.startswith("distance unknown")


def test_shipping_prefers_a_warehouse_over_a_nearer_store() -> None:
    candidates = [
        location("STORE-POTSDAM", stock={"SKU-A": 1}, at=POTSDAM),
        location("WH-MUNICH", stock={"SKU-A": 1}, at=MUNICH),
    ]

    plan = plan_route(ship({"SKU-A": 1}), candidates, RoutingPolicy(prefer_warehouses=True))

    assert allocated(plan) == {"WH-MUNICH": {"SKU-A": 1}}
    assert reasons(plan) == {"STORE-POTSDAM": PassReason.NOT_A_WAREHOUSE}


def test_without_warehouse_preference_the_nearer_store_ships() -> None:
    candidates = [
        location("STORE-POTSDAM", stock={"SKU-A": 1}, at=POTSDAM),
        location("WH-MUNICH", stock={"SKU-A": 1}, at=MUNICH),
    ]

    plan = plan_route(ship({"SKU-A": 1}), candidates, RoutingPolicy(prefer_warehouses=False))

    assert allocated(plan) == {"STORE-POTSDAM": {"SKU-A": 1}}
    assert plan.explanation == "Whole order from STORE-POTSDAM (store, 0.0 km)."
    assert passed(plan)["WH-MUNICH"] == PassedOver(
        "WH-MUNICH", PassReason.FARTHER, "484.8 km farther than STORE-POTSDAM"
    )


# --- who may serve ------------------------------------------------------------------------------------


def test_pickup_is_served_only_by_the_chosen_store() -> None:
    candidates = [
        location("STORE-POTSDAM", stock={"SKU-A": 1}, at=POTSDAM),
        location("STORE-SPANDAU", stock={"SKU-A": 5}, at=SPANDAU),
        location("WH-BERLIN", stock={"SKU-A": 5}),
    ]
    request = RoutingRequest(lines={"SKU-A": 1}, method=Method.PICKUP, destination=POTSDAM, store_id="STORE-POTSDAM")

    plan = plan_route(request, candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"STORE-POTSDAM": {"SKU-A": 1}}
    detail = "only the chosen store STORE-POTSDAM can serve a pickup order"
    assert passed(plan)["STORE-SPANDAU"] == PassedOver("STORE-SPANDAU", PassReason.METHOD_NOT_SERVED, detail)
    assert passed(plan)["WH-BERLIN"].reason is PassReason.METHOD_NOT_SERVED


def test_pickup_at_a_store_without_pickup_is_not_served_even_with_stock_nearby() -> None:
    candidates = [
        location("STORE-POTSDAM", stock={"SKU-A": 1}, at=POTSDAM, pickup=False),
        location("STORE-SPANDAU", stock={"SKU-A": 5}, at=SPANDAU),
    ]
    request = RoutingRequest(lines={"SKU-A": 1}, method=Method.PICKUP, destination=POTSDAM, store_id="STORE-POTSDAM")

    plan = plan_route(request, candidates, RoutingPolicy(allow_partial=True))

    assert plan.allocations == () and not plan.complete
    assert plan.unfilled == {"SKU-A": 1}
    detail = "does not offer in-store pickup"
    assert passed(plan)["STORE-POTSDAM"] == PassedOver("STORE-POTSDAM", PassReason.METHOD_NOT_SERVED, detail)
    assert plan.explanation == "Cannot fill the order: no location both serves it and has any of SKU-A."


def test_pickup_store_short_only_by_safety_stock_says_so() -> None:
    candidates = [location("STORE-POTSDAM", stock={"SKU-A": 1}, safety={"SKU-A": 2}, at=POTSDAM)]
    request = RoutingRequest(lines={"SKU-A": 2}, method=Method.PICKUP, destination=POTSDAM, store_id="STORE-POTSDAM")

    plan = plan_route(request, candidates, SHIP_ANYWHERE)

    assert plan.allocations == () and plan.unfilled == {"SKU-A": 1}
    detail = "has 1 of 2 SKU-A; the rest is safety stock, held back from this channel"
    assert plan.passed_over == (PassedOver("STORE-POTSDAM", PassReason.SAFETY_STOCK, detail),)


def test_carry_out_needs_a_till_at_the_chosen_store() -> None:
    candidates = [location("STORE-POTSDAM", stock={"SKU-A": 1}, at=POTSDAM, till_sales=False)]
    request = RoutingRequest(lines={"SKU-A": 1}, method=Method.CARRY_OUT, destination=POTSDAM, store_id="STORE-POTSDAM")

    plan = plan_route(request, candidates, SHIP_ANYWHERE)

    assert passed(plan)["STORE-POTSDAM"].detail == "does not sell at a till"


def test_shipping_skips_locations_that_do_not_ship() -> None:
    candidates = [
        location("STORE-POTSDAM", stock={"SKU-A": 1}, at=POTSDAM, ships=False),
        location("WH-BERLIN", stock={"SKU-A": 1}),
    ]

    plan = plan_route(ship({"SKU-A": 1}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-BERLIN": {"SKU-A": 1}}
    assert passed(plan)["STORE-POTSDAM"] == PassedOver(
        "STORE-POTSDAM", PassReason.METHOD_NOT_SERVED, "does not ship orders"
    )


def test_too_far_locations_are_passed_over() -> None:
    candidates = [
        location("WH-HAMBURG", stock={"SKU-A": 1}, at=HAMBURG),
        location("WH-NOWHERE", stock={"SKU-A": 1}, at=None),
    ]

    plan = plan_route(ship({"SKU-A": 1}, to=BERLIN), candidates, RoutingPolicy(max_distance_km=100.0))

    # An unknown distance cannot prove a location too far.
    assert allocated(plan) == {"WH-NOWHERE": {"SKU-A": 1}}
    detail = "255.3 km away; the limit is 100.0 km"
    assert passed(plan)["WH-HAMBURG"] == PassedOver("WH-HAMBURG", PassReason.TOO_FAR, detail)


def test_inactive_and_excluded_locations_are_passed_over() -> None:
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 1}, active=False),
        location("WH-LEIPZIG", stock={"SKU-A": 1}, at=LEIPZIG),
        location("WH-MUNICH", stock={"SKU-A": 1}, at=MUNICH),
    ]

    plan = plan_route(ship({"SKU-A": 1}, exclude=frozenset({"WH-LEIPZIG"})), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-MUNICH": {"SKU-A": 1}}
    assert passed(plan)["WH-BERLIN"] == PassedOver("WH-BERLIN", PassReason.INACTIVE, "location is inactive")
    assert passed(plan)["WH-LEIPZIG"] == PassedOver("WH-LEIPZIG", PassReason.EXCLUDED, "excluded by the caller")


def test_safety_stock_is_named_when_it_is_all_a_location_has() -> None:
    candidates = [
        location("STORE-POTSDAM", stock={"SKU-A": 0}, safety={"SKU-A": 2}, at=POTSDAM),
        location("STORE-SPANDAU", stock={}, at=SPANDAU),
        location("WH-MUNICH", stock={"SKU-A": 1}, at=MUNICH),
    ]

    plan = plan_route(ship({"SKU-A": 1}), candidates, RoutingPolicy(prefer_warehouses=False))

    assert allocated(plan) == {"WH-MUNICH": {"SKU-A": 1}}
    safety = passed(plan)["STORE-POTSDAM"]
    assert safety.reason is PassReason.SAFETY_STOCK
    assert safety.detail == "all it has is safety stock, held back from this channel: SKU-A×2"
    assert passed(plan)["STORE-SPANDAU"] == PassedOver(
        "STORE-SPANDAU", PassReason.NOT_ENOUGH_STOCK, "has none of SKU-A"
    )


def test_safety_stock_is_named_when_it_alone_keeps_a_location_from_the_whole_order() -> None:
    candidates = [
        location("STORE-POTSDAM", stock={"SKU-A": 1}, safety={"SKU-A": 1}, at=POTSDAM),
        location("WH-MUNICH", stock={"SKU-A": 2}, at=MUNICH),
    ]

    plan = plan_route(ship({"SKU-A": 2}), candidates, RoutingPolicy(prefer_warehouses=False))

    assert allocated(plan) == {"WH-MUNICH": {"SKU-A": 2}}
    detail = "has 1 of 2 SKU-A; the rest is safety stock, held back from this channel"
    assert passed(plan)["STORE-POTSDAM"] == PassedOver("STORE-POTSDAM", PassReason.SAFETY_STOCK, detail)


# --- splitting ------------------------------------------------------------------------------------------


def test_journey_ship_to_home_split_across_two_locations() -> None:
    """A customer in Potsdam orders three SKUs; no location has all three, two are needed."""
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 1, "SKU-B": 2}, at=BERLIN),
        location("STORE-HAMBURG", stock={"SKU-C": 1}, at=HAMBURG),
        location("STORE-BREMEN", stock={"SKU-C": 4}, at=BREMEN),
        location("WH-MUNICH", stock={"SKU-A": 3}, at=MUNICH),
        location("STORE-POTSDAM", stock={"SKU-A": 1, "SKU-B": 2, "SKU-C": 1}, at=POTSDAM, ships=False),
        location("STORE-LEIPZIG", stock={"SKU-A": 1, "SKU-B": 2, "SKU-C": 1}, at=LEIPZIG, active=False),
    ]

    plan = plan_route(ship({"SKU-C": 1, "SKU-A": 1, "SKU-B": 2}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-BERLIN": {"SKU-A": 1, "SKU-B": 2}, "STORE-HAMBURG": {"SKU-C": 1}}
    assert [allocation.location_id for allocation in plan.allocations] == ["WH-BERLIN", "STORE-HAMBURG"]
    assert plan.complete and plan.splits == 2 and plan.unfilled == {}
    assert plan.total_distance_km == pytest.approx(27.2 + 242.7, abs=0.1)
    assert plan.explanation == (
        "Split across 2 locations: WH-BERLIN (SKU-A×1, SKU-B×2), STORE-HAMBURG (SKU-C×1); "
        "no single location had every line."
    )
    assert reasons(plan) == {
        "STORE-BREMEN": PassReason.FARTHER,
        "STORE-LEIPZIG": PassReason.INACTIVE,
        "STORE-POTSDAM": PassReason.METHOD_NOT_SERVED,
        "WH-MUNICH": PassReason.MORE_SPLITS,
    }
    assert passed(plan)["STORE-BREMEN"].detail == (
        "the best plan with it (WH-BERLIN + STORE-BREMEN) is 54.3 km farther in total"
    )
    assert passed(plan)["WH-MUNICH"].detail == "no plan of 2 locations can use it; it has SKU-A×3"
    assert ("STORE-HAMBURG", "SKU-C", 7) in plan.versions
    assert plan.versions == tuple(sorted(plan.versions))


def test_split_prefers_warehouses_then_distance() -> None:
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 1}),
        location("STORE-SPANDAU", stock={"SKU-B": 1}, at=SPANDAU),
        location("WH-MUNICH", stock={"SKU-B": 1}, at=MUNICH),
    ]
    request = ship({"SKU-A": 1, "SKU-B": 1})

    preferring = plan_route(request, candidates, RoutingPolicy(prefer_warehouses=True))
    not_preferring = plan_route(request, candidates, RoutingPolicy(prefer_warehouses=False))

    assert set(allocated(preferring)) == {"WH-BERLIN", "WH-MUNICH"}
    assert passed(preferring)["STORE-SPANDAU"].reason is PassReason.NOT_A_WAREHOUSE
    assert set(allocated(not_preferring)) == {"WH-BERLIN", "STORE-SPANDAU"}
    assert passed(not_preferring)["WH-MUNICH"].reason is PassReason.FARTHER


def test_fewest_splits_beat_distance() -> None:
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 1}),
        location("WH-SPANDAU", stock={"SKU-B": 1}, at=SPANDAU),
        location("WH-POTSDAM", stock={"SKU-C": 1}, at=POTSDAM),
        location("WH-MUNICH", stock={"SKU-B": 1, "SKU-C": 1}, at=MUNICH),
    ]

    plan = plan_route(ship({"SKU-A": 1, "SKU-B": 1, "SKU-C": 1}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-BERLIN": {"SKU-A": 1}, "WH-MUNICH": {"SKU-B": 1, "SKU-C": 1}}
    assert reasons(plan) == {"WH-POTSDAM": PassReason.MORE_SPLITS, "WH-SPANDAU": PassReason.MORE_SPLITS}


def test_one_line_may_be_split_nearest_first() -> None:
    candidates = [location("WH-MUNICH", stock={"SKU-A": 3}, at=MUNICH), location("WH-BERLIN", stock={"SKU-A": 2})]

    plan = plan_route(ship({"SKU-A": 4}), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-BERLIN": {"SKU-A": 2}, "WH-MUNICH": {"SKU-A": 2}}


def test_max_splits_limits_the_plan() -> None:
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 1}),
        location("WH-LEIPZIG", stock={"SKU-B": 1}, at=LEIPZIG),
        location("WH-MUNICH", stock={"SKU-C": 2}, at=MUNICH),
    ]
    request = ship({"SKU-A": 1, "SKU-B": 1, "SKU-C": 2})

    three = plan_route(request, candidates, RoutingPolicy(max_splits=3))
    two = plan_route(request, candidates, RoutingPolicy(max_splits=2))

    assert three.complete and three.splits == 3
    assert not two.complete and two.allocations == ()
    # The best two locations cover SKU-A and SKU-C (more units), so SKU-B is what is missing.
    assert two.unfilled == {"SKU-B": 1}
    assert reasons(two) == dict.fromkeys(["WH-BERLIN", "WH-LEIPZIG", "WH-MUNICH"], PassReason.MORE_SPLITS)
    assert passed(two)["WH-BERLIN"].detail == (
        "has 0 of 1 SKU-B, 0 of 2 SKU-C; covering every line would take more than 2 location(s)"
    )
    assert two.explanation == (
        "Cannot fill the order: the best combination of up to 2 locations is still short SKU-B×1; "
        "covering every line would take more than 2 location(s)."
    )


def test_all_or_nothing_reports_the_exact_shortfall() -> None:
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 1, "SKU-B": 1}),
        location("WH-LEIPZIG", stock={"SKU-A": 1}, at=LEIPZIG),
    ]

    plan = plan_route(ship({"SKU-A": 3, "SKU-B": 1}), candidates, RoutingPolicy(allow_partial=False))

    assert plan.allocations == () and plan.splits == 0 and not plan.complete
    assert plan.unfilled == {"SKU-A": 1}
    assert plan.total_distance_km == 0.0
    assert reasons(plan) == {"WH-BERLIN": PassReason.NOT_ENOUGH_STOCK, "WH-LEIPZIG": PassReason.NOT_ENOUGH_STOCK}
    assert passed(plan)["WH-LEIPZIG"].detail == (
        "has 1 of 3 SKU-A, 0 of 1 SKU-B; even all eligible locations together cannot cover every line"
    )
    assert plan.explanation == (
        "Cannot fill the order: the best combination of up to 3 locations is still short SKU-A×1 "
        "(SKU-A: requested 3, available 2)."
    )


def test_allow_partial_allocates_what_it_can() -> None:
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 1, "SKU-B": 1}),
        location("WH-LEIPZIG", stock={"SKU-A": 1}, at=LEIPZIG),
        location("WH-MUNICH", stock={"SKU-B": 4}, at=MUNICH),
    ]

    plan = plan_route(ship({"SKU-A": 3, "SKU-B": 1}), candidates, RoutingPolicy(allow_partial=True))

    assert allocated(plan) == {"WH-BERLIN": {"SKU-A": 1, "SKU-B": 1}, "WH-LEIPZIG": {"SKU-A": 1}}
    assert plan.unfilled == {"SKU-A": 1} and not plan.complete and plan.splits == 2
    assert passed(plan)["WH-MUNICH"] == PassedOver(
        "WH-MUNICH",
        PassReason.NOT_ENOUGH_STOCK,
        "has none of the unfilled lines (SKU-A×1)",
    )
    assert plan.explanation == (
        "Partial plan from 2 location(s): WH-BERLIN (SKU-A×1, SKU-B×1), WH-LEIPZIG (SKU-A×1); still short SKU-A×1."
    )


def test_allow_partial_within_max_splits_names_the_location_it_had_no_room_for() -> None:
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 2}),
        location("WH-LEIPZIG", stock={"SKU-B": 1}, at=LEIPZIG),
    ]

    plan = plan_route(ship({"SKU-A": 2, "SKU-B": 1}), candidates, RoutingPolicy(max_splits=1, allow_partial=True))

    assert allocated(plan) == {"WH-BERLIN": {"SKU-A": 2}}
    assert plan.unfilled == {"SKU-B": 1}
    detail = "could add SKU-B×1, but the plan already uses the maximum of 1"
    assert passed(plan)["WH-LEIPZIG"] == PassedOver("WH-LEIPZIG", PassReason.MORE_SPLITS, detail)


def test_many_candidates_use_the_greedy_search_and_still_pick_the_nearest() -> None:
    spread = [Point(48.0 + index * 0.3, 11.0) for index in range(EXACT_SEARCH_LIMIT + 6)]
    candidates = [location(f"WH-{index:02d}", stock={"SKU-A": 1}, at=point) for index, point in enumerate(spread)]

    plan = plan_route(ship({"SKU-A": 3}, to=Point(48.0, 11.0)), candidates, SHIP_ANYWHERE)

    assert allocated(plan) == {"WH-00": {"SKU-A": 1}, "WH-01": {"SKU-A": 1}, "WH-02": {"SKU-A": 1}}
    assert {entry.reason for entry in plan.passed_over} == {PassReason.FARTHER}
    assert len(plan.passed_over) == len(candidates) - 3


# --- criteria ---------------------------------------------------------------------------------------------

# A rule a retailer might add: ship from where the stock runs deep, so that thin shelves keep theirs.
# It is one entry, placed after the warehouse preference and before the distance.
DEEPEST_STOCK = Criterion(
    key="deepest_stock",
    reason=PassReason.LOWER_RANK,
    value=lambda site, job: -sum(site.stock.values()),
    alone=lambda c: f"holds {-c.mine} unit(s) of the order; {c.other} holds {-c.theirs}",
    together=lambda c: f"the best plan {c.with_it} holds {-c.mine} unit(s) of the order instead of {-c.theirs}",
)
WITH_DEEPEST_STOCK = (CRITERIA[0], DEEPEST_STOCK, *CRITERIA[1:])


def test_a_new_criterion_is_one_entry_that_ranks_single_locations_and_explains() -> None:
    candidates = [
        location("WH-BERLIN", stock={"SKU-A": 1}, at=BERLIN),
        location("WH-LEIPZIG", stock={"SKU-A": 5}, at=LEIPZIG),
    ]

    usual = plan_route(ship({"SKU-A": 1}), candidates, SHIP_ANYWHERE)
    plan = plan_route(ship({"SKU-A": 1}), candidates, SHIP_ANYWHERE, WITH_DEEPEST_STOCK)

    assert allocated(usual) == {"WH-BERLIN": {"SKU-A": 1}}
    assert allocated(plan) == {"WH-LEIPZIG": {"SKU-A": 1}}
    assert plan.passed_over == (
        PassedOver("WH-BERLIN", PassReason.LOWER_RANK, "holds 1 unit(s) of the order; WH-LEIPZIG holds 5"),
    )


def test_a_new_criterion_is_one_entry_that_ranks_plans_and_explains() -> None:
    candidates = [
        location("WH-SPANDAU", stock={"SKU-A": 1}, at=SPANDAU),
        location("WH-BERLIN", stock={"SKU-B": 1}, at=BERLIN),
        location("WH-LEIPZIG", stock={"SKU-A": 3}, at=LEIPZIG),
        location("WH-HAMBURG", stock={"SKU-B": 3}, at=HAMBURG),
    ]
    order = ship({"SKU-A": 1, "SKU-B": 1})

    usual = plan_route(order, candidates, SHIP_ANYWHERE)
    plan = plan_route(order, candidates, SHIP_ANYWHERE, WITH_DEEPEST_STOCK)

    assert set(allocated(usual)) == {"WH-BERLIN", "WH-SPANDAU"}
    assert allocated(plan) == {"WH-HAMBURG": {"SKU-B": 1}, "WH-LEIPZIG": {"SKU-A": 1}}
    assert passed(plan)["WH-BERLIN"] == PassedOver(
        "WH-BERLIN",
        PassReason.LOWER_RANK,
        "the best plan with it (WH-LEIPZIG + WH-BERLIN) holds 4 unit(s) of the order instead of 6",
    )
    assert passed(plan)["WH-SPANDAU"].detail == (
        "the best plan with it (WH-HAMBURG + WH-SPANDAU) holds 4 unit(s) of the order instead of 6"
    )


def test_criteria_need_distinct_keys() -> None:
    with pytest.raises(ValueError, match="distinct keys"):
        plan_route(ship({"SKU-A": 1}), [location("WH-A", stock={"SKU-A": 1})], SHIP_ANYWHERE, (*CRITERIA, CRITERIA[0]))


# --- bad input --------------------------------------------------------------------------------------------


def test_bad_requests_and_policies_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least one line"):
        ship({})
    with pytest.raises(ValueError, match="must be positive"):
        ship({"SKU-A": 0})
    with pytest.raises(ValueError, match="store_id"):
        RoutingRequest(lines={"SKU-A": 1}, method=Method.PICKUP, destination=None, store_id=None)
    with pytest.raises(ValueError, match="max_splits"):
        RoutingPolicy(max_splits=0)
    with pytest.raises(ValueError, match="max_distance_km"):
        RoutingPolicy(max_distance_km=-1.0)


def test_a_location_listed_twice_is_rejected() -> None:
    twice = [location("WH-BERLIN", stock={"SKU-A": 1}), location("WH-BERLIN", stock={"SKU-A": 2})]
    with pytest.raises(ValueError, match="listed twice"):
        plan_route(ship({"SKU-A": 1}), twice, SHIP_ANYWHERE)


# --- properties -------------------------------------------------------------------------------------------

SKUS = ("SKU-A", "SKU-B", "SKU-C")
PLACES = (None, BERLIN, POTSDAM, SPANDAU, HAMBURG, LEIPZIG, MUNICH)
# `make fuzz` raises this through OMNISTOCK_FUZZ_EXAMPLES; the default keeps the file to a few seconds.
EXAMPLES = int(os.environ.get("OMNISTOCK_FUZZ_EXAMPLES", "200"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def candidate_lists(draw: st.DrawFn, min_size: int = 0, max_size: int = 8, min_stock: int = 0) -> list[Candidate]:
    count = draw(st.integers(min_size, max_size))
    return [draw(candidates_named(f"L{index:02d}", min_stock)) for index in range(count)]


@st.composite
def candidates_named(draw: st.DrawFn, location_id: str, min_stock: int = 0) -> Candidate:
    available = {sku: draw(st.integers(min_stock, 3)) for sku in SKUS}
    safety = {sku: draw(st.integers(0, 2)) for sku in SKUS}
    return Candidate(
        location_id=location_id,
        name=location_id,
        is_warehouse=draw(st.booleans()),
        point=draw(st.sampled_from(PLACES)),
        routing_rank=draw(st.integers(0, 2)),
        ships=draw(st.booleans()),
        pickup=draw(st.booleans()),
        till_sales=draw(st.booleans()),
        active=draw(st.integers(0, 5)) > 0,
        available=available,
        available_ignoring_safety={sku: available[sku] + safety[sku] for sku in SKUS},
        versions={sku: draw(st.integers(1, 9)) for sku in SKUS},
    )


@st.composite
def requests_for(draw: st.DrawFn, candidates: Sequence[Candidate]) -> RoutingRequest:
    ids = [candidate.location_id for candidate in candidates]
    method = draw(st.sampled_from([Method.SHIP, Method.SHIP, Method.PICKUP, Method.CARRY_OUT]))
    store_id = None if method is Method.SHIP else draw(st.sampled_from([*ids, "L99"]))
    return RoutingRequest(
        lines=draw(st.dictionaries(st.sampled_from(SKUS), st.integers(1, 4), min_size=1)),
        method=method,
        destination=draw(st.sampled_from(PLACES)),
        store_id=store_id,
        exclude=frozenset(draw(st.lists(st.sampled_from(ids), max_size=2))) if ids else frozenset(),
    )


policies = st.builds(
    RoutingPolicy,
    max_distance_km=st.sampled_from([0.0, 30.0, 200.0]),
    max_splits=st.integers(1, 4),
    prefer_warehouses=st.booleans(),
    allow_partial=st.booleans(),
)


@st.composite
def scenarios(
    draw: st.DrawFn, min_size: int = 0, max_size: int = 8
) -> tuple[RoutingRequest, list[Candidate], RoutingPolicy]:
    candidates = draw(candidate_lists(min_size, max_size))
    return draw(requests_for(candidates)), candidates, draw(policies)


def eligible(request: RoutingRequest, candidate: Candidate, policy: RoutingPolicy) -> bool:
    """Rule 1 written out again, independently of the router, as the oracle for the properties."""
    if not candidate.active or candidate.location_id in request.exclude:
        return False
    if request.method is Method.SHIP and not candidate.ships:
        return False
    if request.method is not Method.SHIP and candidate.location_id != request.store_id:
        return False
    if request.method is Method.PICKUP and not candidate.pickup:
        return False
    if request.method is Method.CARRY_OUT and not candidate.till_sales:
        return False
    if policy.max_distance_km and request.destination and candidate.point:
        return distance_km(request.destination, candidate.point) <= policy.max_distance_km
    return True


def covers(request: RoutingRequest, group: Sequence[Candidate]) -> bool:
    return all(sum(c.available.get(sku, 0) for c in group) >= quantity for sku, quantity in request.lines.items())


def allocated_units(plan: Plan) -> dict[str, int]:
    totals: dict[str, int] = {}
    for allocation in plan.allocations:
        for sku, quantity in allocation.lines.items():
            totals[sku] = totals.get(sku, 0) + quantity
    return totals


def assert_sound(request: RoutingRequest, candidates: Sequence[Candidate], policy: RoutingPolicy, plan: Plan) -> None:
    """What must hold of every plan, whatever the search found."""
    by_id = {candidate.location_id: candidate for candidate in candidates}
    for allocation in plan.allocations:
        candidate = by_id[allocation.location_id]
        assert eligible(request, candidate, policy)
        assert allocation.lines, "an allocation must allocate something"
        for sku, quantity in allocation.lines.items():
            assert sku in request.lines
            assert 0 < quantity <= candidate.available[sku]
    totals = allocated_units(plan)
    assert all(totals.get(sku, 0) <= quantity for sku, quantity in request.lines.items())
    if plan.allocations:
        missing = {sku: quantity - totals.get(sku, 0) for sku, quantity in request.lines.items()}
        assert plan.unfilled == {sku: quantity for sku, quantity in missing.items() if quantity > 0}
    assert plan.complete == (not plan.unfilled)
    assert plan.splits == len(plan.allocations)
    if plan.complete:
        assert plan.splits <= policy.max_splits
    planned = [allocation.location_id for allocation in plan.allocations]
    passed_over = [entry.location_id for entry in plan.passed_over]
    assert sorted(planned + passed_over) == sorted(by_id), "every location is either in the plan or passed over"


@PROPERTY
@given(scenarios())
def test_plans_never_over_allocate_and_account_for_every_location(
    scenario: tuple[RoutingRequest, list[Candidate], RoutingPolicy],
) -> None:
    request, candidates, policy = scenario
    assert_sound(request, candidates, policy, plan_route(request, candidates, policy))


@PROPERTY
@given(scenarios())
def test_all_or_nothing_reports_the_shortfall_of_the_best_partial_plan(
    scenario: tuple[RoutingRequest, list[Candidate], RoutingPolicy],
) -> None:
    request, candidates, policy = scenario
    strict = plan_route(request, candidates, RoutingPolicy(max_splits=policy.max_splits, allow_partial=False))
    lenient = plan_route(request, candidates, RoutingPolicy(max_splits=policy.max_splits, allow_partial=True))

    if strict.complete:
        assert strict == lenient
    else:
        assert strict.allocations == ()
        assert strict.unfilled == lenient.unfilled
        assert sum(lenient.unfilled.values()) + sum(allocated_units(lenient).values()) == sum(request.lines.values())


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_same_input_gives_the_same_plan_in_any_candidate_order(
    scenario: tuple[RoutingRequest, list[Candidate], RoutingPolicy], shuffler: random.Random
) -> None:
    request, candidates, policy = scenario
    shuffled = list(candidates)
    shuffler.shuffle(shuffled)
    reordered_lines = dict(reversed(list(request.lines.items())))
    reordered = RoutingRequest(reordered_lines, request.method, request.destination, request.store_id, request.exclude)

    first = plan_route(request, candidates, policy)

    assert plan_route(request, candidates, policy) == first
    assert plan_route(reordered, shuffled, policy) == first


@PROPERTY
@given(scenarios())
def test_one_location_that_can_fill_everything_takes_the_whole_order(
    scenario: tuple[RoutingRequest, list[Candidate], RoutingPolicy],
) -> None:
    request, candidates, policy = scenario
    can_fill = [c for c in candidates if eligible(request, c, policy) and covers(request, [c])]

    plan = plan_route(request, candidates, policy)

    if can_fill:
        assert plan.complete and plan.splits == 1
        assert plan.allocations[0].lines == dict(request.lines)


@PROPERTY
@given(scenarios())
def test_a_complete_plan_uses_the_fewest_locations_possible(
    scenario: tuple[RoutingRequest, list[Candidate], RoutingPolicy],
) -> None:
    request, candidates, policy = scenario
    usable = [c for c in candidates if eligible(request, c, policy)]
    fewest = next(
        (
            size
            for size in range(1, len(usable) + 1)
            for group in itertools.combinations(usable, size)
            if covers(request, group)
        ),
        None,
    )

    plan = plan_route(request, candidates, policy)

    if fewest is not None and fewest <= policy.max_splits:
        assert plan.complete and plan.splits == fewest
    else:
        assert not plan.complete


@settings(max_examples=max(20, EXAMPLES // 4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    candidate_lists(min_size=EXACT_SEARCH_LIMIT + 1, max_size=EXACT_SEARCH_LIMIT + 8, min_stock=1),
    st.dictionaries(st.sampled_from(SKUS), st.integers(1, 12), min_size=1),
    st.sampled_from(PLACES),
    policies,
    st.randoms(use_true_random=False),
)
def test_greedy_search_over_many_locations_is_sound_and_deterministic(
    drawn: list[Candidate],
    lines: dict[str, int],
    destination: Point | None,
    policy: RoutingPolicy,
    shuffler: random.Random,
) -> None:
    # Every location ships, is active and holds stock, so the search really has more than the exact limit.
    candidates = [replace(candidate, ships=True, active=True) for candidate in drawn]
    policy = replace(policy, max_distance_km=0.0)
    request = ship(lines, to=destination)
    shuffled = list(candidates)
    shuffler.shuffle(shuffled)

    plan = plan_route(request, candidates, policy)

    assert_sound(request, candidates, policy, plan)
    assert plan_route(request, shuffled, policy) == plan


# --- reading only the first locations routing ranks ---------------------------------------------------


def without_rows(candidate: Candidate, skus: set[str]) -> Candidate:
    """The location with no stock row at all of the given SKUs (inventory answers none for them)."""
    return replace(
        candidate,
        available={sku: units for sku, units in candidate.available.items() if sku not in skus},
        available_ignoring_safety={
            sku: units for sku, units in candidate.available_ignoring_safety.items() if sku not in skus
        },
        versions={sku: version for sku, version in candidate.versions.items() if sku not in skus},
    )


def stocks_any(candidate: Candidate, request: RoutingRequest) -> bool:
    return any(sku in candidate.versions for sku in request.lines)


def read_everywhere(request: RoutingRequest, locations: Sequence[Candidate]) -> list[Candidate]:
    """What routing weighs reading every row of the order's SKUs: the locations with one, and the chosen store."""
    return [c for c in locations if stocks_any(c, request) or c.location_id == request.store_id]


def read_first(
    request: RoutingRequest, locations: Sequence[Candidate], policy: RoutingPolicy, count: int
) -> list[Candidate]:
    """What routing weighs reading the first `count` locations of `serving_order` that have a row of the
    order's SKUs (BatchGetStock's first_locations), ranked knowing nothing of their stock, and the chosen store."""
    bare = [replace(c, available={}, available_ignoring_safety={}, versions={}) for c in locations]
    by_id = {c.location_id: c for c in locations}
    first = [
        location_id for location_id in serving_order(request, bare, policy) if stocks_any(by_id[location_id], request)
    ]
    weighed = set(first[:count])
    return [c for c in locations if c.location_id in weighed or c.location_id == request.store_id]


@st.composite
def layouts(draw: st.DrawFn) -> tuple[RoutingRequest, list[Candidate], RoutingPolicy, int]:
    """Locations (more than the exact search takes, at times) missing rows of some SKUs, and how many to read first."""
    drawn = draw(candidate_lists(0, EXACT_SEARCH_LIMIT + 3))
    locations = [without_rows(c, draw(st.sets(st.sampled_from(SKUS), max_size=len(SKUS)))) for c in drawn]
    return draw(requests_for(locations)), locations, draw(policies), draw(st.integers(1, 4))


@PROPERTY
@given(layouts())
def test_the_first_ranked_locations_give_the_plan_of_every_location_when_one_fills_the_order(
    layout: tuple[RoutingRequest, list[Candidate], RoutingPolicy, int],
) -> None:
    request, locations, policy, count = layout
    weighed = read_first(request, locations, policy, count)

    everywhere = plan_route(request, read_everywhere(request, locations), policy)
    first = plan_route(request, weighed, policy)

    if settled_whole(first):
        assert first.allocations == everywhere.allocations
        assert first.explanation == everywhere.explanation
        assert (first.unfilled, first.complete, first.splits) == (everywhere.unfilled, everywhere.complete, 1)
        assert first.total_distance_km == everywhere.total_distance_km
        # The explanation names the locations weighed, each exactly as the plan of every location does.
        assert set(first.passed_over) <= set(everywhere.passed_over)
        chosen = first.allocations[0].location_id
        assert {p.location_id for p in first.passed_over} == {c.location_id for c in weighed} - {chosen}
        assert set(first.versions) <= set(everywhere.versions)
        assert {location_id for location_id, _, _ in first.versions} <= {c.location_id for c in weighed}
    else:
        # Reading every location is only needed when none of those read first could take the whole order.
        whole_from_weighed = settled_whole(everywhere) and everywhere.allocations[0].location_id in {
            c.location_id for c in weighed
        }
        assert not whole_from_weighed


def test_serving_order_ranks_by_what_locations_are_not_what_they_hold() -> None:
    locations = [
        location("STORE-POTSDAM", stock={}, at=POTSDAM),
        location("WH-LEIPZIG", stock={}, at=LEIPZIG),
        location("WH-SPANDAU", stock={}, at=SPANDAU),
        location("WH-NOWHERE", stock={}, at=None),
        location("WH-CLOSED", stock={}, at=POTSDAM, active=False),
        location("STORE-NOSHIP", stock={}, at=POTSDAM, ships=False),
        location("WH-MUNICH", stock={}, at=MUNICH),
    ]
    order = ship({"SKU-A": 1}, exclude=frozenset({"WH-MUNICH"}))

    assert serving_order(order, locations, SHIP_ANYWHERE) == [
        "WH-SPANDAU",
        "WH-LEIPZIG",
        "WH-NOWHERE",
        "STORE-POTSDAM",
    ]
    assert serving_order(order, locations, RoutingPolicy(prefer_warehouses=False, max_distance_km=200))[:2] == [
        "STORE-POTSDAM",
        "WH-SPANDAU",
    ]
    pickup = RoutingRequest({"SKU-A": 1}, Method.PICKUP, POTSDAM, "STORE-POTSDAM")
    assert serving_order(pickup, locations, SHIP_ANYWHERE) == ["STORE-POTSDAM"]


def test_a_pickup_that_cannot_be_filled_names_the_store_and_each_short_line() -> None:
    """As CreateOrder's refusal does: the chosen store, each short line, requested and available,
    and no talk of combining locations a pickup cannot use."""
    candidates = [
        location("STORE-POTSDAM", stock={"SKU-A": 2, "SKU-B": 1}, at=POTSDAM),
        location("STORE-SPANDAU", stock={"SKU-B": 5}, at=SPANDAU),
    ]
    request = RoutingRequest(
        lines={"SKU-A": 1, "SKU-B": 3}, method=Method.PICKUP, destination=POTSDAM, store_id="STORE-POTSDAM"
    )

    plan = plan_route(request, candidates, SHIP_ANYWHERE)

    assert plan.allocations == () and plan.unfilled == {"SKU-B": 2}
    assert plan.explanation == "Cannot fill the order at STORE-POTSDAM: SKU-B: requested 3, available 1."


def test_a_shipment_that_cannot_be_filled_says_what_each_short_line_could_have() -> None:
    candidates = [location("WH-BERLIN", stock={"SKU-A": 2, "SKU-B": 1}), location("WH-LEIPZIG", stock={"SKU-B": 1})]

    plan = plan_route(ship({"SKU-A": 1, "SKU-B": 3}), candidates, RoutingPolicy(allow_partial=False))

    assert plan.unfilled == {"SKU-B": 1}
    assert plan.explanation == (
        "Cannot fill the order: the best combination of up to 3 locations is still short SKU-B×1 "
        "(SKU-B: requested 3, available 2)."
    )
