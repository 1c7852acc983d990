"""Order routing: which locations fill which lines, and why every other location was passed over.

The rules, in the order they decide (design.md, "Routing rules"):

1. only locations that are active, not excluded, serve the fulfilment method, are within reach
   and hold some of the requested stock take part;
2. keep the order whole where one location can;
3. otherwise use the fewest locations (at most ``max_splits``);
4. then the criteria of ``CRITERIA``, in their order: for shipping and when configured,
   warehouses before stores; then nearest to the customer (unknown distance last); then routing
   rank (lower routes first); then location id, so that no tie is left to chance. The same entry
   that ranks locations (and plans of several) explains every location it passed over, so a new
   rule is one entry there.

The router is pure: the caller brings stock from inventory and holds what the plan says. Since the
criteria rank locations by what they are, not by what they hold, a caller may bring only the stock
of the first locations of `serving_order`: when one of them fills the whole order, the plan is the
one every location's stock would give (`settled_whole`), and only a split or a shortfall needs all.
Everything is sorted before it is used, so the same input gives the same plan whatever order
the candidates arrive in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from omnistock_platform.geo import Point, distance_km

# Up to this many usable locations every combination is tried (4095 at most, instantly).
# Beyond it the count explodes, so a greedy search refined by swaps takes over.
EXACT_SEARCH_LIMIT = 12

# The multiplication sign of "SKU-A times 2", escaped so that no one mistakes it for the letter x.
_TIMES = "\u00d7"


class Method(Enum):
    SHIP = "ship"
    PICKUP = "pickup"
    CARRY_OUT = "carry_out"


class PassReason(Enum):
    METHOD_NOT_SERVED = "method_not_served"
    TOO_FAR = "too_far"
    NOT_ENOUGH_STOCK = "not_enough_stock"
    SAFETY_STOCK = "safety_stock"
    LOWER_RANK = "lower_rank"
    FARTHER = "farther"
    MORE_SPLITS = "more_splits"
    EXCLUDED = "excluded"
    NOT_A_WAREHOUSE = "not_a_warehouse"
    INACTIVE = "inactive"
    CHANNEL_POOL = "channel_pool"


@dataclass(frozen=True)
class Candidate:
    """One location as inventory reports it for the requested SKUs."""

    location_id: str
    name: str
    is_warehouse: bool
    point: Point | None
    routing_rank: int  # lower routes first
    ships: bool
    pickup: bool
    till_sales: bool
    active: bool
    # Units this channel may take now: net of held and, for remote channels, of safety stock.
    available: Mapping[str, int]
    # on_hand - held; only used to tell "held back as safety stock" from "not there".
    available_ignoring_safety: Mapping[str, int]
    versions: Mapping[str, int]
    # Units of on hand the channel's pools keep from it here (all of them outside its location
    # groups), and the group it sells through here ("" outside them, or without pools).
    pool_kept: Mapping[str, int] = field(default_factory=dict)
    pools: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingPolicy:
    max_distance_km: float = 0.0  # 0 = unlimited
    max_splits: int = 3  # most locations one plan may use
    prefer_warehouses: bool = True  # shipping only: warehouses before stores at equal split count
    allow_partial: bool = False

    def __post_init__(self) -> None:
        if self.max_distance_km < 0:
            raise ValueError(f"max_distance_km must not be negative, got {self.max_distance_km}")
        if self.max_splits < 1:
            raise ValueError(f"max_splits must be at least 1, got {self.max_splits}")


@dataclass(frozen=True)
class RoutingRequest:
    lines: Mapping[str, int]  # sku -> quantity
    method: Method
    destination: Point | None  # ship-to point, or the store's point for PICKUP / CARRY_OUT
    store_id: str | None  # PICKUP / CARRY_OUT: the only location that may serve
    exclude: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError("an order needs at least one line")
        for sku, quantity in self.lines.items():
            if quantity <= 0:
                raise ValueError(f"quantity of {sku} must be positive, got {quantity}")
        if self.method is not Method.SHIP and not self.store_id:
            raise ValueError(f"{self.method.name} needs the store_id of the store that serves it")


@dataclass(frozen=True)
class PlannedAllocation:
    location_id: str
    lines: Mapping[str, int]
    distance_km: float | None
    routing_rank: int
    is_warehouse: bool


@dataclass(frozen=True)
class PassedOver:
    location_id: str
    reason: PassReason
    detail: str


@dataclass(frozen=True)
class Plan:
    allocations: tuple[PlannedAllocation, ...]
    passed_over: tuple[PassedOver, ...]
    unfilled: Mapping[str, int]
    complete: bool
    splits: int
    total_distance_km: float
    versions: tuple[tuple[str, str, int], ...]  # (location_id, sku, version) behind every number used
    explanation: str


def plan_route(
    request: RoutingRequest,
    candidates: Sequence[Candidate],
    policy: RoutingPolicy,
    criteria: Sequence[Criterion] | None = None,
) -> Plan:
    """Plan which locations fill which lines of the order; see the module docstring for the rules.

    `criteria` ranks the locations that may serve, best first (``CRITERIA`` unless given).
    """
    _require_unique_ids(candidates)
    job = _job(request, policy, criteria)
    sites, screened_out = _screen(request, candidates, policy, job)
    outcome = _route(job, sites)
    allocations = tuple(_planned(site, lines) for site, lines in outcome.allocations)
    return Plan(
        allocations=allocations,
        passed_over=tuple(sorted([*screened_out, *outcome.passed_over], key=lambda p: p.location_id)),
        unfilled=outcome.unfilled,
        complete=not outcome.unfilled,
        splits=len(allocations),
        total_distance_km=sum((a.distance_km for a in allocations if a.distance_km is not None), start=0.0),
        versions=_versions(candidates, job.lines),
        explanation=outcome.explanation,
    )


def serving_order(request: RoutingRequest, locations: Iterable[Candidate], policy: RoutingPolicy) -> list[str]:
    """The locations that may serve the order whatever they hold, in the order ``CRITERIA`` ranks them.

    Only what a location is decides here (active, excluded, method, distance, and the criteria,
    none of which looks at stock), so `locations` may carry no stock. The first of them that can
    fill the whole order is the one `plan_route` chooses: planning with the stock of a prefix of
    this list gives the plan of every location whenever it keeps the order whole
    (`settled_whole`).
    """
    job = _job(request, policy, CRITERIA)
    ranked = []
    for candidate in locations:
        distance = _distance(request.destination, candidate.point)
        if _location_rejection(request, policy, candidate, distance) is None:
            ranked.append((job.site_key(Site(candidate, distance, {})), candidate.location_id))
    ranked.sort()
    return [location_id for _, location_id in ranked]


def settled_whole(plan: Plan) -> bool:
    """Whether a plan made from a prefix of `serving_order` (and the chosen store) is the plan of
    every location: it is when one location fills the whole order, for every location ranked
    before that one was weighed and could not, and what the others hold changes nothing in a
    whole-order choice. Its passed-over locations and versions are then those weighed, each as
    the plan of every location has it. A split or a shortfall depends on every location's stock."""
    return plan.complete and plan.splits == 1


def _job(request: RoutingRequest, policy: RoutingPolicy, criteria: Sequence[Criterion] | None) -> Job:
    return Job(
        lines={sku: request.lines[sku] for sku in sorted(request.lines)},
        prefer_warehouses=policy.prefer_warehouses and request.method is Method.SHIP,
        max_splits=policy.max_splits,
        allow_partial=policy.allow_partial,
        criteria=_checked(CRITERIA if criteria is None else criteria),
        store_id=request.store_id if request.method is not Method.SHIP else None,
    )


# --- the model the search works on ---------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """The request and policy as the search needs them."""

    lines: Mapping[str, int]  # sorted by sku
    prefer_warehouses: bool  # already false unless shipping
    max_splits: int
    allow_partial: bool
    criteria: tuple[Criterion, ...]
    # PICKUP / CARRY_OUT: the one store that may serve (the plan never combines locations).
    store_id: str | None = None

    def site_key(self, site: Site) -> tuple[Any, ...]:
        """The location's value on each criterion: smaller routes first."""
        return tuple([criterion.value(site, self) for criterion in self.criteria])

    def set_key(self, members: Sequence[Site]) -> tuple[Any, ...]:
        """A plan's value on each criterion, made from its locations' values: smaller routes first."""
        ordered = _by_key(members)  # a fixed summation order keeps float totals reproducible
        return tuple(
            [criterion.total([site.key[index] for site in ordered]) for index, criterion in enumerate(self.criteria)]
        )


@dataclass(frozen=True)
class Site:
    """A location that passed the filters, with what it can give this order."""

    candidate: Candidate
    distance_km: float | None
    stock: Mapping[str, int]  # requested sku -> units it may give, 0 when none
    key: tuple[Any, ...] = ()  # Job.site_key, once the site is known

    @property
    def location_id(self) -> str:
        return self.candidate.location_id


# --- the criteria: how locations are ranked, and how each choice is explained -------------------------


@dataclass(frozen=True)
class Contest:
    """A location that lost on one criterion, and what beat it there.

    For an order one location can fill, `loser` is that location and `winner` the chosen one; for a
    split, `loser` is the best plan that uses the location and `winner` the chosen plan. `mine` and
    `theirs` are the criterion's values of the two (a plan's is its total).
    """

    mine: Any
    theirs: Any
    loser: tuple[Site, ...]
    winner: tuple[Site, ...]

    @property
    def other(self) -> str:
        """The chosen location, or the chosen plan's locations."""
        return _plan_ids(self.winner)

    @property
    def with_it(self) -> str:
        return f"with it ({_plan_ids(self.loser)})"


@dataclass(frozen=True)
class Criterion:
    """One ranking rule: a value per location (smaller routes first) and the words for a loss on it."""

    key: str
    reason: PassReason
    value: Callable[[Site, Job], Any]
    # Why a location that could fill the whole order lost to the chosen one.
    alone: Callable[[Contest], str]
    # Why the best plan that uses a location lost to the chosen plan.
    together: Callable[[Contest], str]
    # A plan's value from its locations' values, in routing order.
    total: Callable[[list[Any]], Any] = sum


def _checked(criteria: Sequence[Criterion]) -> tuple[Criterion, ...]:
    keys = [criterion.key for criterion in criteria]
    if not keys or len(set(keys)) != len(keys):
        raise ValueError(f"routing needs criteria with distinct keys, got {keys}")
    return tuple(criteria)


_PREFERRED = "warehouses are preferred for shipping"

# The ranking, first criterion first: a location's values decide between single locations, a plan's
# totals between plans of as many locations, and the first criterion that differs names the reason.
# The last one tells any two locations apart, so that no tie is left to chance. None of them looks
# at a location's stock: `serving_order` ranks the locations before their stock is read.
CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        key="warehouse_first",
        reason=PassReason.NOT_A_WAREHOUSE,
        value=lambda site, job: int(job.prefer_warehouses and not site.candidate.is_warehouse),
        alone=lambda c: f"is a store; warehouse {c.other} can fill the whole order and {_PREFERRED}",
        together=lambda c: f"the best plan {c.with_it} uses {c.mine} store(s) instead of {c.theirs}; {_PREFERRED}",
    ),
    Criterion(
        key="known_distance",
        reason=PassReason.FARTHER,
        value=lambda site, job: site.distance_km is None,
        alone=lambda c: (
            f"distance unknown; {c.other} can fill the whole order {_km(c.winner[0].distance_km or 0.0)} away"
        ),
        together=lambda c: (
            f"the best plan {c.with_it} has {c.mine} location(s) of unknown distance instead of {c.theirs}"
        ),
    ),
    Criterion(
        key="nearest",
        reason=PassReason.FARTHER,
        value=lambda site, job: site.distance_km or 0.0,
        alone=lambda c: f"{_km(c.mine - c.theirs)} farther than {c.other}",
        together=lambda c: f"the best plan {c.with_it} is {_km(c.mine - c.theirs)} farther in total",
    ),
    Criterion(
        key="routing_rank",
        reason=PassReason.LOWER_RANK,
        value=lambda site, job: site.candidate.routing_rank,
        alone=lambda c: f"routing rank {c.mine}; {c.other} has rank {c.theirs}",
        together=lambda c: f"the best plan {c.with_it} has rank sum {c.mine} instead of {c.theirs}",
    ),
    Criterion(
        key="location_id",
        reason=PassReason.LOWER_RANK,
        value=lambda site, job: site.location_id,
        alone=lambda c: f"tie broken by id: {c.other} comes first",
        together=lambda c: f"tie broken by id: {c.other} comes first",
        total=lambda ids: tuple(sorted(ids)),
    ),
)


_Allocation = tuple[Site, dict[str, int]]


@dataclass(frozen=True)
class _Cover:
    """The chosen set of locations that covers every line, and the runner-up for each one left out."""

    members: tuple[Site, ...]
    alternatives: Mapping[str, tuple[Site, ...]]  # left-out location id -> best same-size cover using it
    exhaustive: bool  # every combination was tried, so a missing alternative proves there is none


@dataclass(frozen=True)
class _Outcome:
    allocations: list[_Allocation]
    passed_over: list[PassedOver]
    unfilled: dict[str, int]
    explanation: str


def _require_unique_ids(candidates: Sequence[Candidate]) -> None:
    # Two rows for one location would make the plan depend on which one came first.
    seen: set[str] = set()
    for candidate in candidates:
        if candidate.location_id in seen:
            raise ValueError(f"location {candidate.location_id} is listed twice")
        seen.add(candidate.location_id)


def _versions(candidates: Sequence[Candidate], lines: Mapping[str, int]) -> tuple[tuple[str, str, int], ...]:
    return tuple(
        sorted(
            (candidate.location_id, sku, candidate.versions[sku])
            for candidate in candidates
            for sku in lines
            if sku in candidate.versions
        )
    )


def _planned(site: Site, lines: Mapping[str, int]) -> PlannedAllocation:
    return PlannedAllocation(
        location_id=site.location_id,
        lines=dict(lines),
        distance_km=site.distance_km,
        routing_rank=site.candidate.routing_rank,
        is_warehouse=site.candidate.is_warehouse,
    )


# --- rule 1: who may take part ----------------------------------------------------------------


def _screen(
    request: RoutingRequest, candidates: Sequence[Candidate], policy: RoutingPolicy, job: Job
) -> tuple[list[Site], list[PassedOver]]:
    """Split the candidates into usable sites (best first) and those filtered out, with why."""
    sites: list[Site] = []
    screened_out: list[PassedOver] = []
    for candidate in sorted(candidates, key=lambda c: c.location_id):
        distance = _distance(request.destination, candidate.point)
        stock = {sku: max(0, candidate.available.get(sku, 0)) for sku in job.lines}
        rejection = _rejection(request, policy, candidate, distance, stock)
        if rejection is not None:
            screened_out.append(rejection)
        else:
            unranked = Site(candidate, distance, stock)
            sites.append(Site(candidate, distance, stock, job.site_key(unranked)))
    sites.sort(key=lambda site: site.key)
    return sites, screened_out


def _distance(destination: Point | None, point: Point | None) -> float | None:
    if destination is None or point is None:
        return None
    return distance_km(destination, point)


def _rejection(
    request: RoutingRequest,
    policy: RoutingPolicy,
    candidate: Candidate,
    distance: float | None,
    stock: Mapping[str, int],
) -> PassedOver | None:
    rejection = _location_rejection(request, policy, candidate, distance)
    if rejection is not None:
        return rejection
    if not any(stock.values()):
        return _no_stock(candidate, stock)
    return None


def _location_rejection(
    request: RoutingRequest, policy: RoutingPolicy, candidate: Candidate, distance: float | None
) -> PassedOver | None:
    """Why the location cannot serve the order whatever it holds, or None."""
    location_id = candidate.location_id
    if not candidate.active:
        return PassedOver(location_id, PassReason.INACTIVE, "location is inactive")
    if location_id in request.exclude:
        return PassedOver(location_id, PassReason.EXCLUDED, "excluded by the caller")
    method_problem = _method_problem(request, candidate)
    if method_problem is not None:
        return PassedOver(location_id, PassReason.METHOD_NOT_SERVED, method_problem)
    # An unknown distance cannot prove a location too far, so it stays in (and sorts last).
    if policy.max_distance_km > 0 and distance is not None and distance > policy.max_distance_km:
        detail = f"{_km(distance)} away; the limit is {_km(policy.max_distance_km)}"
        return PassedOver(location_id, PassReason.TOO_FAR, detail)
    return None


def _method_problem(request: RoutingRequest, candidate: Candidate) -> str | None:
    if request.method is Method.SHIP:
        return None if candidate.ships else "does not ship orders"
    if candidate.location_id != request.store_id:
        what = "pickup" if request.method is Method.PICKUP else "carry-out"
        return f"only the chosen store {request.store_id} can serve a {what} order"
    if request.method is Method.PICKUP:
        return None if candidate.pickup else "does not offer in-store pickup"
    return None if candidate.till_sales else "does not sell at a till"


def _no_stock(candidate: Candidate, stock: Mapping[str, int]) -> PassedOver:
    kept = {sku: candidate.pool_kept.get(sku, 0) for sku in stock if candidate.available_ignoring_safety.get(sku, 0)}
    kept = {sku: units for sku, units in kept.items() if units > 0}
    if kept:
        groups = sorted({candidate.pools.get(sku, "") for sku in kept})
        whose = f"its pool {', '.join(groups)}" if all(groups) else "its pools (not in its location groups)"
        detail = f"kept back from this channel by {whose}: {_units(kept)}"
        return PassedOver(candidate.location_id, PassReason.CHANNEL_POOL, detail)
    held_back = {sku: candidate.available_ignoring_safety.get(sku, 0) for sku in stock}
    held_back = {sku: units for sku, units in held_back.items() if units > 0}
    if held_back:
        detail = f"all it has is safety stock, held back from this channel: {_units(held_back)}"
        return PassedOver(candidate.location_id, PassReason.SAFETY_STOCK, detail)
    detail = f"has none of {', '.join(stock)}"
    return PassedOver(candidate.location_id, PassReason.NOT_ENOUGH_STOCK, detail)


# --- rules 2 to 4: choosing the locations -------------------------------------------------------


def _route(job: Job, sites: list[Site]) -> _Outcome:
    whole = [site for site in sites if _covers(job.lines, [site])]
    if whole:
        return _whole_order(job, sites, whole[0])
    search = _exact_cover if len(sites) <= EXACT_SEARCH_LIMIT else _greedy_cover
    cover = search(job, sites)
    if cover is not None:
        return _split_order(job, sites, cover)
    return _shortfall(job, sites)


def _whole_order(job: Job, sites: list[Site], chosen: Site) -> _Outcome:
    passed_over = [_whole_order_pass_over(job, site, chosen) for site in sites if site is not chosen]
    where = "warehouse" if chosen.candidate.is_warehouse else "store"
    distance = "distance unknown" if chosen.distance_km is None else _km(chosen.distance_km)
    explanation = f"Whole order from {chosen.location_id} ({where}, {distance})."
    return _Outcome(_assign(job.lines, [chosen]), passed_over, {}, explanation)


def _split_order(job: Job, sites: list[Site], cover: _Cover) -> _Outcome:
    allocations = _assign(job.lines, cover.members)
    used = {site.location_id for site in cover.members}
    passed_over = [_split_pass_over(job, site, cover) for site in sites if site.location_id not in used]
    explanation = (
        f"Split across {len(allocations)} locations: {_describe(allocations)}; no single location had every line."
    )
    return _Outcome(allocations, passed_over, {}, explanation)


def _shortfall(job: Job, sites: list[Site]) -> _Outcome:
    """No allowed set of locations covers every line: the best partial plan, or only its shortfall."""
    partial = _best_partial(job, sites)
    allocations = _assign(job.lines, partial)
    unfilled = _remaining(job.lines, partial)
    unfilled = {sku: quantity for sku, quantity in unfilled.items() if quantity > 0}
    if job.allow_partial and allocations:
        used = {site.location_id for site in partial}
        passed_over = [_partial_pass_over(job, site, unfilled) for site in sites if site.location_id not in used]
        explanation = f"Partial plan from {len(allocations)} location(s): {_describe(allocations)}; "
        explanation += f"still short {_units(unfilled)}."
        return _Outcome(allocations, passed_over, unfilled, explanation)
    # All or nothing: nothing is allocated, but the caller still learns the exact shortfall.
    all_together_cover = _covers(job.lines, sites)
    passed_over = [_shortfall_pass_over(job, site, all_together_cover) for site in sites]
    return _Outcome([], passed_over, unfilled, _shortfall_explanation(job, sites, unfilled, all_together_cover))


def _shortfall_explanation(job: Job, sites: list[Site], unfilled: Mapping[str, int], all_cover: bool) -> str:
    if not sites:
        return f"Cannot fill the order: no location both serves it and has any of {', '.join(job.lines)}."
    # Each short line as CreateOrder's refusal says it: requested, and what could be had.
    lines = "; ".join(
        f"{sku}: requested {job.lines[sku]}, available {job.lines[sku] - missing}"
        for sku, missing in sorted(unfilled.items())
    )
    if job.store_id is not None:
        return f"Cannot fill the order at {job.store_id}: {lines}."
    explanation = f"Cannot fill the order: the best {_up_to(job.max_splits)} is still short {_units(unfilled)}"
    if all_cover:  # the units are there: only more locations than allowed would bring them
        explanation += f"; covering every line would take more than {job.max_splits} location(s)"
    else:
        explanation += f" ({lines})"
    return explanation + "."


# --- coverage arithmetic ----------------------------------------------------------------------------


def _coverage(lines: Mapping[str, int], members: Iterable[Site]) -> dict[str, int]:
    """Units of each line the members can cover together."""
    totals = dict.fromkeys(lines, 0)
    for site in members:
        for sku in lines:
            totals[sku] += site.stock[sku]
    return {sku: min(quantity, totals[sku]) for sku, quantity in lines.items()}


def _covers(lines: Mapping[str, int], members: Iterable[Site]) -> bool:
    return _coverage(lines, members) == dict(lines)


def _covered_units(lines: Mapping[str, int], members: Iterable[Site]) -> int:
    return sum(_coverage(lines, members).values())


def _remaining(lines: Mapping[str, int], members: Iterable[Site]) -> dict[str, int]:
    covered = _coverage(lines, members)
    return {sku: quantity - covered[sku] for sku, quantity in lines.items()}


def _gain(remaining: Mapping[str, int], site: Site) -> int:
    return sum(min(quantity, site.stock[sku]) for sku, quantity in remaining.items())


def _by_key(members: Iterable[Site]) -> tuple[Site, ...]:
    return tuple(sorted(members, key=lambda site: site.key))


def _assign(lines: Mapping[str, int], members: Iterable[Site]) -> list[_Allocation]:
    """Each line goes to the members best first, each taking what it can; empty allocations are dropped."""
    ordered = _by_key(members)
    taken: dict[str, dict[str, int]] = {site.location_id: {} for site in ordered}
    for sku, quantity in lines.items():
        still_needed = quantity
        for site in ordered:
            units = min(still_needed, site.stock[sku])
            if units > 0:
                taken[site.location_id][sku] = units
                still_needed -= units
    return [(site, taken[site.location_id]) for site in ordered if taken[site.location_id]]


# --- searching for the fewest locations ---------------------------------------------------------------


def _exact_cover(job: Job, sites: list[Site]) -> _Cover | None:
    """Try every combination, smallest first; the first size with a cover is the fewest splits."""
    for size in range(1, min(job.max_splits, len(sites)) + 1):
        covers = [combo for combo in itertools.combinations(sites, size) if _covers(job.lines, combo)]
        if covers:
            covers.sort(key=lambda combo: job.set_key(combo))
            alternatives: dict[str, tuple[Site, ...]] = {}
            for combo in covers[1:]:  # best first, so the first cover seen with a location is its best
                for site in combo:
                    alternatives.setdefault(site.location_id, _by_key(combo))
            chosen = _by_key(covers[0])
            for site in chosen:
                alternatives.pop(site.location_id, None)
            return _Cover(chosen, alternatives, exhaustive=True)
    return None


def _greedy_cover(job: Job, sites: list[Site]) -> _Cover | None:
    """Greedy by units covered, then swap one location at a time while that gives a better plan."""
    members = _best_partial(job, sites)
    if not _covers(job.lines, members):
        return None
    while True:
        alternatives = _swap_alternatives(job, sites, members)
        better = [alt for alt in alternatives.values() if _rank(alt, job) < _rank(members, job)]
        if not better:
            return _Cover(members, alternatives, exhaustive=False)
        # Every step strictly improves a key over a finite set of plans, so this ends.
        members = min(better, key=lambda alt: _rank(alt, job))


def _rank(members: Sequence[Site], job: Job) -> tuple[int, tuple[Any, ...]]:
    return (len(members), job.set_key(members))


def _swap_alternatives(job: Job, sites: list[Site], members: tuple[Site, ...]) -> dict[str, tuple[Site, ...]]:
    """For each location left out, the best cover made by swapping it in for one member."""
    used = {site.location_id for site in members}
    alternatives: dict[str, tuple[Site, ...]] = {}
    for site in sites:
        if site.location_id in used:
            continue
        swaps = [
            _prune(job.lines, [*(m for m in members if m is not replaced), site])
            for replaced in members  # pruning keeps `site`: members has no member to spare
        ]
        covering = [swap for swap in swaps if _covers(job.lines, swap)]
        if covering:
            alternatives[site.location_id] = min(covering, key=lambda swap: _rank(swap, job))
    return alternatives


def _best_partial(job: Job, sites: list[Site]) -> tuple[Site, ...]:
    """Greedy by units covered, within max_splits, with no member that adds nothing.

    On return, either every line is covered, or max_splits locations are used, or no location
    left out could add a unit: the pass-over reasons rely on that.
    """
    members: tuple[Site, ...] = ()
    while True:
        grown = _prune(job.lines, _greedy_extend(job, sites, members))
        if grown == members:
            return members
        # Extending covers strictly more units and pruning keeps them, so this ends.
        members = grown


def _greedy_extend(job: Job, sites: list[Site], members: tuple[Site, ...]) -> tuple[Site, ...]:
    chosen = list(members)
    remaining = _remaining(job.lines, chosen)
    while len(chosen) < job.max_splits and any(remaining.values()):
        used = {site.location_id for site in chosen}
        options = [(_gain(remaining, site), site) for site in sites if site.location_id not in used]
        best = min(options, key=lambda option: (-option[0], option[1].key), default=None)
        if best is None or best[0] == 0:
            break
        chosen.append(best[1])
        remaining = _remaining(job.lines, chosen)
    return _by_key(chosen)


def _prune(lines: Mapping[str, int], members: Iterable[Site]) -> tuple[Site, ...]:
    """Drop members, worst first, whose units the others already cover.

    A pruned set never leaves a member with nothing to do in `_assign`.
    """
    kept = list(_by_key(members))
    for site in reversed(_by_key(kept)):
        without = [member for member in kept if member is not site]
        if _covered_units(lines, without) == _covered_units(lines, kept):
            kept = without
    return tuple(kept)


# --- rule 5: why each usable location was passed over -------------------------------------------------


def _whole_order_pass_over(job: Job, site: Site, chosen: Site) -> PassedOver:
    if not _covers(job.lines, [site]):
        return _short_of_whole_order(job, site)
    criterion, contest = _decided(job, site.key, chosen.key, (site,), (chosen,))
    return PassedOver(site.location_id, criterion.reason, criterion.alone(contest))


def _short_of_whole_order(job: Job, site: Site) -> PassedOver:
    shortage = _shortage(job.lines, site)
    if _safety_stock_alone_stands_in_the_way(job, site):
        detail = f"{shortage}; the rest is safety stock, held back from this channel"
        return PassedOver(site.location_id, PassReason.SAFETY_STOCK, detail)
    return PassedOver(site.location_id, PassReason.NOT_ENOUGH_STOCK, shortage)


def _safety_stock_alone_stands_in_the_way(job: Job, site: Site) -> bool:
    ignoring_safety = site.candidate.available_ignoring_safety
    return all(ignoring_safety.get(sku, 0) >= quantity for sku, quantity in job.lines.items())


def _split_pass_over(job: Job, site: Site, cover: _Cover) -> PassedOver:
    size = len(cover.members)
    alternative = cover.alternatives.get(site.location_id)
    if alternative is None:
        proof = "no" if cover.exhaustive else "found no"
        detail = f"{proof} plan of {size} locations can use it; it has {_units(_nonzero(site.stock))}"
        return PassedOver(site.location_id, PassReason.MORE_SPLITS, detail)
    mine, theirs = job.set_key(alternative), job.set_key(cover.members)
    criterion, contest = _decided(job, mine, theirs, alternative, cover.members)
    return PassedOver(site.location_id, criterion.reason, criterion.together(contest))


def _partial_pass_over(job: Job, site: Site, unfilled: Mapping[str, int]) -> PassedOver:
    could_add = {sku: min(quantity, site.stock[sku]) for sku, quantity in unfilled.items()}
    could_add = _nonzero(could_add)
    if could_add:  # only possible once the plan uses max_splits locations (see _best_partial)
        detail = f"could add {_units(could_add)}, but the plan already uses the maximum of {job.max_splits}"
        return PassedOver(site.location_id, PassReason.MORE_SPLITS, detail)
    detail = f"has none of the unfilled lines ({_units(unfilled)})"
    return PassedOver(site.location_id, PassReason.NOT_ENOUGH_STOCK, detail)


def _shortfall_pass_over(job: Job, site: Site, all_together_cover: bool) -> PassedOver:
    if _safety_stock_alone_stands_in_the_way(job, site):
        return _short_of_whole_order(job, site)
    shortage = _shortage(job.lines, site)
    if all_together_cover:
        detail = f"{shortage}; covering every line would take more than {job.max_splits} location(s)"
        return PassedOver(site.location_id, PassReason.MORE_SPLITS, detail)
    detail = f"{shortage}; even all eligible locations together cannot cover every line"
    return PassedOver(site.location_id, PassReason.NOT_ENOUGH_STOCK, detail)


def _decided(
    job: Job, mine: Sequence[Any], theirs: Sequence[Any], loser: tuple[Site, ...], winner: tuple[Site, ...]
) -> tuple[Criterion, Contest]:
    """The first criterion on which the two differ: the one that decided between them."""
    index = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b), len(mine) - 1)
    return job.criteria[index], Contest(mine[index], theirs[index], loser, winner)


# --- wording -------------------------------------------------------------------------------------------


def _km(value: float) -> str:
    if 0 < value < 0.05:
        return "less than 0.1 km"
    return f"{value:.1f} km"


def _units(quantities: Mapping[str, int]) -> str:
    return ", ".join(f"{sku}{_TIMES}{quantity}" for sku, quantity in sorted(quantities.items()))


def _nonzero(quantities: Mapping[str, int]) -> dict[str, int]:
    return {sku: quantity for sku, quantity in quantities.items() if quantity > 0}


def _shortage(lines: Mapping[str, int], site: Site) -> str:
    short = [(sku, quantity) for sku, quantity in lines.items() if site.stock[sku] < quantity]
    return "has " + ", ".join(f"{site.stock[sku]} of {quantity} {sku}" for sku, quantity in short)


def _describe(allocations: Sequence[_Allocation]) -> str:
    return ", ".join(f"{site.location_id} ({_units(lines)})" for site, lines in allocations)


def _plan_ids(members: Sequence[Site]) -> str:
    if len(members) == 1:
        return members[0].location_id
    return " + ".join(site.location_id for site in _by_key(members))


def _up_to(max_splits: int) -> str:
    return "single location" if max_splits == 1 else f"combination of up to {max_splits} locations"
