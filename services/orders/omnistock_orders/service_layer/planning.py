"""Routing with real stock: gather candidates from inventory, run the router, explain the result.

QuoteRouting, CreateOrder and every re-route plan through `Planner.plan`, so a quote and the
order placed right after it on the same stock come out the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import plan_message
from omnistock_orders.domain.routing import (
    Candidate,
    Method,
    Plan,
    RoutingPolicy,
    RoutingRequest,
    plan_route,
    serving_order,
    settled_whole,
)
from omnistock_orders.settings import OrdersSettings
from omnistock_platform import promising
from omnistock_platform.errors import Alternative, Shortfall, ShortLine
from omnistock_platform.geo import Point, distance_km
from omnistock_platform.promise_messages import (
    Awaited,
    awaited,
    beyond_shelf,
    calendar_of,
    promise_message,
    sets_on_the_way,
)

MAX_ALTERNATIVES = 5
# Routing first reads the stock of this many locations, the best ranked that stock any of the
# order's SKUs: enough for the whole-order plan of nearly every order and an explanation of the
# runners-up, a tenth of the rows of every location. A split or a shortfall reads every location.
FIRST_WEIGHED = 8
# What one BatchGetStock call may name.
MAX_LOCATIONS_PER_READ = 1000


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
    # The delivery address's region and country (Address.region, .country): the carrier lead time.
    region: str = ""
    country: str = ""

    @property
    def selling_location_id(self) -> str:
        """A till sells into its own store's safety stock (inventory allows it for CHANNEL_POS only)."""
        return self.store_id if self.method is Method.CARRY_OUT else ""


@dataclass(frozen=True)
class OnTheWay:
    """Units a plan allocates at a location that are not on its shelf yet, and where they come from."""

    awaited: Awaited
    origin_name: str = ""


def pickup_promise(
    store: inventory_pb2.Location, at: datetime, on_the_way: OnTheWay | None = None
) -> promising.Promise:
    """Ready at the store for an order handled from ``at`` (once what is on its way has arrived)."""
    calendar = calendar_of(store.promise_settings)
    if on_the_way is None or on_the_way.awaited.arrival is None:
        return promising.pickup(calendar, at, location_id=store.location_id, place=store.name)
    return promising.pickup(
        calendar,
        at,
        location_id=store.location_id,
        place=store.name,
        arrival=on_the_way.awaited.arrival,
        kind=on_the_way.awaited.kind,
        via=on_the_way.origin_name,
    )


def delivery_promise(
    location: inventory_pb2.Location, at: datetime, region: str, country: str, arrival: datetime | None = None
) -> promising.Promise:
    """Delivered from the location to the region (else the country) for an order handled from ``at``
    (dispatched once units on their way there have arrived)."""
    calendar = calendar_of(location.promise_settings)
    lead = calendar.carrier_lead(region, country)
    return promising.delivery(calendar, at, location_id=location.location_id, lead_days=lead, arrival=arrival)


@dataclass(frozen=True)
class Planned:
    query: RouteQuery
    plan: Plan
    candidates: tuple[Candidate, ...]
    locations: Mapping[str, inventory_pb2.Location]
    destination: Point | None
    # The clock the plan was made at: its promise is as of then.
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Locations where the plan allocates units beyond the shelf (a pool's units in transit, a
    # backorder): they are promised from their arrival, never from the shelf.
    on_the_way: Mapping[str, OnTheWay] = field(default_factory=dict)

    @property
    def message(self) -> orders_pb2.RoutingPlan:
        message = plan_message(self.plan)
        promise = self.promise()
        if promise is not None:
            message.promise.CopyFrom(promise_message(promise))
        return message

    def promise(self) -> promising.Promise | None:
        """When the customer can have what the plan allocates: ready at the pickup store, or
        delivered (the last of its ship-from locations' dates). None for a till's carry-out (taken
        home at once), for a plan that allocates nothing, and for one that leaves units unfilled
        (backordered with allow_partial): nothing says when those come, as a re-route that leaves
        units unfilled withdraws the promise, so no date is said of the whole order."""
        if not self.plan.allocations or self.plan.unfilled or self.query.method is Method.CARRY_OUT:
            return None
        if any(waiting.awaited.arrival is None for waiting in self.on_the_way.values()):
            return None  # units on their way that nothing says when: no date can be promised
        if self.query.method is Method.PICKUP:
            store = self.locations.get(self.query.store_id)
            return pickup_promise(store, self.at, self.on_the_way.get(store.location_id)) if store is not None else None
        deliveries = []
        for allocation in self.plan.allocations:
            location = self.locations.get(allocation.location_id)
            if location is not None:
                waiting = self.on_the_way.get(location.location_id)
                arrival = waiting.awaited.arrival if waiting is not None else None
                deliveries.append(delivery_promise(location, self.at, self.query.region, self.query.country, arrival))
        return promising.latest(deliveries)

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
        pool_kept={level.sku: level.pool_kept for level in levels},
        pools={level.sku: level.pool_group_id for level in levels},
    )


def levels_by_location(levels: Iterable[inventory_pb2.StockLevel]) -> dict[str, list[inventory_pb2.StockLevel]]:
    by_location: dict[str, list[inventory_pb2.StockLevel]] = {}
    for level in levels:
        by_location.setdefault(level.location_id, []).append(level)
    return by_location


# A plan, and the stock levels it was made from, by location.
Read = tuple[Planned, Mapping[str, list[inventory_pb2.StockLevel]]]


class Planner:
    def __init__(
        self,
        inventory: InventoryClient,
        settings: OrdersSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        first_weighed: int = FIRST_WEIGHED,
    ) -> None:
        self.inventory = inventory
        self.settings = settings
        # What promises are computed as of: the wall clock, or a fixed one a test or simulation passes.
        self.clock = clock
        # 0: every plan reads every location's stock.
        self.first_weighed = first_weighed
        # Every location without stock, for ranking, made once per listing of the locations.
        self._unstocked: tuple[Mapping[str, inventory_pb2.Location], tuple[Candidate, ...]] | None = None

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
        """The plan of every location's stock; read, when one of the first ranked locations can fill
        the whole order, from theirs alone (`serving_order`, `settled_whole`)."""
        at = self.clock()
        policy = self.policy(query)
        read = await self._plan_first_weighed(query, policy, at)
        planned, by_location = read if read is not None else await self._plan_everywhere(query, policy, at)
        if query.method is Method.CARRY_OUT:
            return planned
        return replace(planned, on_the_way=await self._on_the_way(query, planned.plan, by_location))

    async def _plan_first_weighed(self, query: RouteQuery, policy: RoutingPolicy, at: datetime) -> Read | None:
        if self.first_weighed <= 0:
            return None
        outdated = None
        for _ in range(2):  # a second time with a new listing when the first missed a location
            locations = await self.inventory.all_locations(outdated=outdated)
            request = self._request(query, locations)
            ranked = serving_order(request, self._without_stock(locations), policy)
            if not ranked:
                return None
            levels, unlisted = await self.inventory.first_stock(
                query.lines,
                query.channel,
                ranked[:MAX_LOCATIONS_PER_READ],
                self.first_weighed,
                selling_location_id=query.selling_location_id,
            )
            if any(location_id not in locations for location_id in unlisted):
                outdated = locations  # a location opened since the listing: it may rank first
                continue
            by_location = levels_by_location(levels)
            planned = self._planned(query, request, policy, at, by_location, locations)
            return (planned, by_location) if settled_whole(planned.plan) else None
        return None

    async def _plan_everywhere(self, query: RouteQuery, policy: RoutingPolicy, at: datetime) -> Read:
        levels = await self.inventory.stock(query.lines, query.channel, selling_location_id=query.selling_location_id)
        by_location = levels_by_location(levels)
        wanted = set(by_location)
        if query.store_id:
            wanted.add(query.store_id)  # the chosen store is judged even when it never stocked these SKUs
        locations = await self.inventory.locations(wanted)
        return self._planned(query, self._request(query, locations), policy, at, by_location, locations), by_location

    def _planned(
        self,
        query: RouteQuery,
        request: RoutingRequest,
        policy: RoutingPolicy,
        at: datetime,
        by_location: Mapping[str, list[inventory_pb2.StockLevel]],
        locations: Mapping[str, inventory_pb2.Location],
    ) -> Planned:
        """The plan of the locations that stock the order's SKUs (those read) and the chosen store."""
        wanted = {*by_location, query.store_id} & locations.keys()
        candidates = tuple(
            candidate_of(locations[location_id], by_location.get(location_id, [])) for location_id in sorted(wanted)
        )
        plan = plan_route(request, candidates, policy)
        used = {location_id: locations[location_id] for location_id in wanted}
        return Planned(query, plan, candidates, used, request.destination, at)

    @staticmethod
    def _request(query: RouteQuery, locations: Mapping[str, inventory_pb2.Location]) -> RoutingRequest:
        if query.method is Method.SHIP:
            destination = query.ship_to
        else:
            store = locations.get(query.store_id)
            destination = point_of(store) if store is not None else None
        return RoutingRequest(
            lines=dict(query.lines),
            method=query.method,
            destination=destination,
            store_id=query.store_id or None,
            exclude=frozenset(query.options.exclude_location_ids) | query.exclude,
        )

    def _without_stock(self, locations: Mapping[str, inventory_pb2.Location]) -> tuple[Candidate, ...]:
        if self._unstocked is None or self._unstocked[0] is not locations:
            self._unstocked = (locations, tuple(candidate_of(location, []) for location in locations.values()))
        return self._unstocked[1]

    async def _on_the_way(
        self, query: RouteQuery, plan: Plan, levels: Mapping[str, list[inventory_pb2.StockLevel]]
    ) -> dict[str, OnTheWay]:
        """Where the plan takes units beyond the shelf, when they arrive. Transfers are asked only
        for such a location, so a plan on stock that is there costs no call."""
        found: dict[str, OnTheWay] = {}
        for allocation in plan.allocations:
            location_id = allocation.location_id
            here = levels.get(location_id, [])
            # A set is judged by its components' rows: its definition is asked only where one of
            # them may be held beyond the shelf.
            sets = sets_on_the_way(here, allocation.lines)
            known = await self.inventory.skus(sets) if sets else {}
            definitions = {sku: {part.sku: part.quantity for part in each.components} for sku, each in known.items()}
            missing = beyond_shelf(here, allocation.lines, definitions)
            if not missing:
                continue
            waiting = await on_the_way(self.inventory, location_id, missing, levels.get(location_id, []))
            if waiting is not None:
                found[location_id] = waiting
        return found


async def on_the_way(
    inventory: InventoryClient,
    location_id: str,
    missing: Mapping[str, int],
    levels: list[inventory_pb2.StockLevel],
) -> OnTheWay | None:
    """When the units ``missing`` from the location's shelf arrive, from the transfers on their way
    there (asked only now: a plan on the shelf costs no call) or its announced deliveries."""
    transfers = await inventory.transfers_on_the_way(location_id)
    waiting = awaited(location_id, missing, levels, transfers)
    if waiting is None:
        return None
    origin = await inventory.location(waiting.origin_location_id) if waiting.origin_location_id else None
    return OnTheWay(waiting, origin.name if origin is not None else waiting.origin_location_id)
