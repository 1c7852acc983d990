"""Routing with real stock: gather candidates from inventory, run the router, explain the result.

QuoteRouting, CreateOrder and every re-route plan through `Planner.plan`, so a quote and the
order placed right after it on the same stock come out the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import plan_message
from omnistock_orders.domain.routing import Candidate, Method, Plan, RoutingPolicy, RoutingRequest, plan_route
from omnistock_platform.errors import Alternative, Shortfall, ShortLine
from omnistock_platform.geo import Point, distance_km
from omnistock_platform.settings import Settings

MAX_ALTERNATIVES = 5


@dataclass(frozen=True)
class RouteQuery:
    """What to route: the lines, how they reach the customer, and the caller's options."""

    lines: Mapping[str, int]
    method: Method
    channel: common_pb2.Channel.ValueType
    ship_to: Point | None
    store_id: str
    options: orders_pb2.RoutingOptions = field(default_factory=orders_pb2.RoutingOptions)
    # Locations left out on top of the caller's (where a short pick just happened).
    exclude: frozenset[str] = frozenset()
    # Re-routes take what they can and backorder the rest, whatever the caller asked.
    allow_partial: bool | None = None

    @property
    def selling_location_id(self) -> str:
        """A till sells into its own store's safety stock (inventory allows it for CHANNEL_POS only)."""
        return self.store_id if self.method is Method.CARRY_OUT else ""


@dataclass(frozen=True)
class Planned:
    query: RouteQuery
    plan: Plan
    candidates: tuple[Candidate, ...]
    locations: Mapping[str, inventory_pb2.Location]
    destination: Point | None

    @property
    def message(self) -> orders_pb2.RoutingPlan:
        return plan_message(self.plan)

    @property
    def usable(self) -> bool:
        """The plan can be held: complete, or partial where the caller allows it."""
        return bool(self.plan.allocations) and (self.plan.complete or self.query_allows_partial)

    @property
    def query_allows_partial(self) -> bool:
        if self.query.allow_partial is not None:
            return self.query.allow_partial
        return self.query.options.allow_partial

    def shortfall(self) -> Shortfall:
        """The caller's answer when the plan cannot be held: which lines, where, how many could be had
        there, and where else. A shipment is short at the location that had the most of the SKU."""
        single_store = self.query.method is not Method.SHIP
        short = []
        for sku, missing in sorted(self.plan.unfilled.items()):
            if missing <= 0:
                continue
            requested = self.query.lines[sku]
            if single_store:
                short.append(ShortLine(self.query.store_id, sku, requested, max(0, requested - missing)))
                continue
            best = self._best_source(sku)
            short.append(
                ShortLine(best.location_id if best else "", sku, requested, best.available.get(sku, 0) if best else 0)
            )
        if not short:  # nothing unfilled, yet no allocation: cannot happen with positive lines
            short = [
                ShortLine(self.query.store_id, sku, quantity, 0) for sku, quantity in sorted(self.query.lines.items())
            ]
        named = {line.location_id for line in short}
        return Shortfall(short, self._alternatives({line.sku for line in short}, named))

    def _eligible(self, candidate: Candidate) -> bool:
        """A location that could serve this order's method at all."""
        excluded = frozenset(self.query.options.exclude_location_ids) | self.query.exclude
        if not candidate.active or candidate.location_id in excluded:
            return False
        if self.query.method is Method.SHIP:
            return candidate.ships
        return not (self.query.method is Method.PICKUP and not candidate.pickup)

    def _distance(self, candidate: Candidate) -> float:
        if self.destination is None or candidate.point is None:
            return 0.0
        return distance_km(self.destination, candidate.point)

    def _best_source(self, sku: str) -> Candidate | None:
        """Where most of the SKU could be had for this order (nearest first among equals)."""
        eligible = [candidate for candidate in self.candidates if self._eligible(candidate)]
        return min(
            eligible,
            key=lambda c: (-c.available.get(sku, 0), self._distance(c), c.location_id),
            default=None,
        )

    def _alternatives(self, skus: set[str], named: set[str]) -> list[Alternative]:
        found = []
        for candidate in self.candidates:
            if candidate.location_id in named or not self._eligible(candidate):
                continue
            available = {sku: candidate.available.get(sku, 0) for sku in sorted(skus)}
            available = {sku: units for sku, units in available.items() if units > 0}
            if not available:
                continue
            location = self.locations.get(candidate.location_id)
            found.append(
                Alternative(
                    location_id=candidate.location_id,
                    location_name=candidate.name,
                    city=location.city if location is not None else "",
                    distance_km=round(self._distance(candidate), 3),
                    available=available,
                )
            )
        found.sort(key=lambda alternative: (alternative.distance_km, alternative.location_id))
        return found[:MAX_ALTERNATIVES]


def point_of(location: inventory_pb2.Location) -> Point | None:
    if not location.HasField("point"):
        return None
    return Point(location.point.latitude, location.point.longitude)


def candidate_of(location: inventory_pb2.Location, levels: list[inventory_pb2.StockLevel]) -> Candidate:
    return Candidate(
        location_id=location.location_id,
        name=location.name,
        is_warehouse=location.kind == inventory_pb2.LOCATION_KIND_WAREHOUSE,
        point=point_of(location),
        routing_rank=location.routing_rank,
        ships=location.ships,
        pickup=location.pickup,
        till_sales=location.till_sales,
        active=location.active,
        available={level.sku: level.available for level in levels},
        available_ignoring_safety={level.sku: max(0, level.on_hand - level.held) for level in levels},
        versions={level.sku: level.version for level in levels},
    )


class Planner:
    def __init__(self, inventory: InventoryClient, settings: Settings) -> None:
        self.inventory = inventory
        self.settings = settings

    def policy(self, query: RouteQuery) -> RoutingPolicy:
        options = query.options
        return RoutingPolicy(
            max_distance_km=options.max_distance_km or self.settings.routing_max_distance_km,
            max_splits=options.max_splits or self.settings.routing_max_splits,
            prefer_warehouses=(
                options.prefer_warehouses
                if options.HasField("prefer_warehouses")
                else self.settings.routing_prefer_warehouses
            ),
            allow_partial=query.options.allow_partial if query.allow_partial is None else query.allow_partial,
        )

    async def plan(self, query: RouteQuery) -> Planned:
        levels = await self.inventory.stock(query.lines, query.channel, selling_location_id=query.selling_location_id)
        by_location: dict[str, list[inventory_pb2.StockLevel]] = {}
        for level in levels:
            by_location.setdefault(level.location_id, []).append(level)
        wanted = set(by_location)
        if query.store_id:
            wanted.add(query.store_id)  # the chosen store is judged even when it never stocked these SKUs
        locations = await self.inventory.locations(wanted)
        candidates = tuple(
            candidate_of(locations[location_id], by_location.get(location_id, [])) for location_id in sorted(locations)
        )
        if query.method is Method.SHIP:
            destination = query.ship_to
        else:
            store = locations.get(query.store_id)
            destination = point_of(store) if store is not None else None
        request = RoutingRequest(
            lines=dict(query.lines),
            method=query.method,
            destination=destination,
            store_id=query.store_id or None,
            exclude=frozenset(query.options.exclude_location_ids) | query.exclude,
        )
        plan = plan_route(request, candidates, self.policy(query))
        return Planned(query, plan, candidates, locations, destination)
