"""The invariants of the whole system, checked against what the services stored: used by the
chaos tests and by `omnistock verify`. `await check_all(settings)` returns the violations; an
empty list means everything holds.

Each service's schema is read by one function of its own and no check reads a table: the checks
compare what the readers returned, as a tool that asked each service would. All readers run in
one REPEATABLE READ transaction, so the schemas are compared at one instant. Checks that span
services only hold when nothing is in flight: run them on a quiet system (after a test has
drained its traffic), or pass `recent` to leave out whatever changed in the last seconds while
traffic flows.

With `stream=True` the event stream is read too (an ordered consumer from its first message):
every published outbox event must be in it exactly once, every committed unit must be announced
by exactly one `hold.committed`, and nothing may sit in a dead-letter subject.

Adding a service's checks (or a new capability's, such as transfers in inventory): the one
registration point is the service's own `adapters/checks.py` with `read(conn)` (found by
omnistock_platform.registry.checks_reader_of), next to its repository. It sets what a status means
for the rules (`Reservation.holds_stock`, `Allocation.done`, ...) from its own domain's statuses:
the rules below compare no service's status word. Its service-local invariants go into what `read`
returns as violations (inventory: `InventoryFacts.stock_violations`, extended by adding a query to
its `CHECKS`); the shapes it returns are in omnistock_platform.facts; a rule spanning services is
a function `Snapshot -> violations` added to `CHECKS` below, which both the chaos suite and
`omnistock verify` run. Services without an `adapters/checks.py` have only their outbox and
unfinished changes read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock_platform import owners
from omnistock_platform.db import Database
from omnistock_platform.facts import (
    Allocation,
    Hold,
    InsightsFacts,
    InventoryFacts,
    Key,
    Order,
    OrdersFacts,
    Reservation,
    Task,
    UnfinishedChange,
    UnpublishedEvent,
    Violation,
)
from omnistock_platform.facts import (
    HoldLine as HoldLine,  # re-exported: the shapes of a snapshot, for those who build one
)
from omnistock_platform.registry import checks_reader_of
from omnistock_platform.services import SERVICES
from omnistock_platform.sets import expand as expand_sets
from omnistock_platform.settings import Settings

RESERVATION_OWNER = owners.RESERVATION
ORDER_OWNER = owners.ORDER
_TIMES = "\u00d7"


@dataclass
class Snapshot:
    at: datetime
    # Rows changed after this instant are in flight: the checks that span services leave them out.
    cutoff: datetime
    inventory: InventoryFacts | None = None
    reservations: dict[str, Reservation] | None = None
    orders: OrdersFacts | None = None
    tasks: list[Task] | None = None
    insights: InsightsFacts | None = None
    # Webhook queues (subscription / ordering key) whose head is not their one earliest pending delivery.
    webhook_queues: list[str] | None = None
    unpublished: list[UnpublishedEvent] = field(default_factory=list)
    published_event_ids: dict[str, set[str]] = field(default_factory=dict)
    unfinished: list[UnfinishedChange] = field(default_factory=list)

    def settled(self, *moments: datetime) -> bool:
        return all(moment <= self.cutoff for moment in moments)


async def _schema_exists(conn: asyncpg.Connection, schema: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.outbox"))


async def read_outbox(conn: asyncpg.Connection, schema: str) -> tuple[list[UnpublishedEvent], set[str]]:
    """One schema's outbox: the rows not yet published, and the ids of those that were."""
    unpublished = [
        UnpublishedEvent(schema, str(row["event_id"]), row["subject"], row["created_at"])
        for row in await conn.fetch(
            f"SELECT event_id, subject, created_at FROM {schema}.outbox WHERE published_at IS NULL ORDER BY id"
        )
    ]
    published = {
        str(row[0]) for row in await conn.fetch(f"SELECT event_id FROM {schema}.outbox WHERE published_at IS NOT NULL")
    }
    return unpublished, published


async def read_unfinished(conn: asyncpg.Connection, schema: str) -> list[UnfinishedChange]:
    """Changes begun before another service acted and never answered (see omnistock_platform.resuming)."""
    return [
        UnfinishedChange(schema, row["request_id"], row["method"], row["created_at"])
        for row in await conn.fetch(
            f"SELECT request_id, method, created_at FROM {schema}.idempotency"
            " WHERE response IS NULL AND request IS NOT NULL ORDER BY created_at"
        )
    ]


SNAPSHOT_FIELDS = {"fulfilment": "tasks", "webhooks": "webhook_queues"}


async def take_snapshot(conn: asyncpg.Connection, recent: timedelta = timedelta(0)) -> Snapshot:
    """Every schema as it stands, read on `conn` inside one REPEATABLE READ transaction."""
    at: datetime = await conn.fetchval("SELECT now()")
    snapshot = Snapshot(at=at, cutoff=at - recent)
    for schema in SERVICES:
        if not await _schema_exists(conn, schema):
            continue
        read = checks_reader_of(schema)
        if read is not None:
            setattr(snapshot, SNAPSHOT_FIELDS.get(schema, schema), await read(conn))
        unpublished, published = await read_outbox(conn, schema)
        snapshot.unpublished += unpublished
        snapshot.published_event_ids[schema] = published
        snapshot.unfinished += await read_unfinished(conn, schema)
    return snapshot


# -- the checks: one function each, Snapshot -> violations ----------------------------------------


def stock_invariants(s: Snapshot) -> list[Violation]:
    """0 <= held <= on_hand; the ledger replays to the counters; held = open units of active holds;
    no hold committed more than it held, and the ledger's commits equal the holds' commits."""
    return list(s.inventory.stock_violations) if s.inventory else []


def outbox_published(s: Snapshot) -> list[Violation]:
    """Every event written to an outbox (of every schema) was published."""
    return [
        Violation(
            "outbox event not published",
            f"{event.schema}.outbox {event.event_id}",
            f"{event.subject}, written {event.created_at.isoformat()}",
        )
        for event in s.unpublished
        if s.settled(event.created_at)
    ]


def nothing_left_pending(s: Snapshot) -> list[Violation]:
    """No reservation or order stays PENDING, no re-route stays half done, and no change begun
    before another service acted stays unanswered: recovery finishes or undoes what a crash
    interrupted."""
    found = [
        Violation(
            "change left unfinished", f"{c.schema} {c.method} {c.request_id}", f"begun {c.created_at.isoformat()}"
        )
        for c in s.unfinished
        if s.settled(c.created_at)
    ]
    for r in (s.reservations or {}).values():
        if r.pending and s.settled(r.updated_at):
            found.append(Violation("reservation left pending", r.reservation_id, f"since {r.updated_at.isoformat()}"))
    if s.orders is not None:
        for o in s.orders.orders.values():
            if o.pending and s.settled(o.updated_at):
                found.append(Violation("order left pending", o.order_id, f"since {o.updated_at.isoformat()}"))
        for order_id in sorted(s.orders.rerouting):
            order = s.orders.orders.get(order_id)
            if order is None or s.settled(order.updated_at):
                found.append(
                    Violation("re-route left half done", order_id, "a recorded hold request was never settled")
                )
    return found


def holds_have_live_owners(s: Snapshot) -> list[Violation]:
    """Every active hold with open units belongs to something that still wants it: an ACTIVE or
    READY reservation that names it, or an open order with a held allocation under it. Holds of
    other owners (a till's direct Hold) are not checked."""
    if s.inventory is None:
        return []
    found = []
    for hold in s.inventory.holds.values():
        if not hold.active or not hold.open_units() or not s.settled(hold.updated_at):
            continue
        kind, owner_id = owners.owner_kind(hold.owner)
        problem = ""
        if kind == "reservation" and s.reservations is not None:
            r = s.reservations.get(owner_id)
            if r is None:
                problem = "no such reservation"
            elif r.pending or not s.settled(r.updated_at):
                continue  # being created: nothing_left_pending reports it if it stays so
            elif r.awaiting_transfer and hold.hold_id in _transfer_holds(s, r):
                continue  # held at the origin, or just received: awaiting_transfers_held_once checks it
            elif not r.holds_stock or r.hold_id != hold.hold_id:
                problem = f"reservation is {r.status} and holds {r.hold_id or 'nothing'}"
        elif kind == "order" and s.orders is not None:
            o = s.orders.orders.get(owner_id)
            if o is None:
                problem = "no such order"
            elif o.pending or owner_id in s.orders.rerouting or not s.settled(o.updated_at):
                continue
            elif not any(a.held and a.hold_id == hold.hold_id for a in o.allocations):
                problem = f"order is {o.status} and none of its held allocations is under this hold"
        if problem:
            found.append(
                Violation(
                    "active hold without a live owner",
                    hold.hold_id,
                    f"owner {hold.owner}: {problem}; open {_units(hold.open_units())}",
                )
            )
    return found


def holding_reservations_have_their_hold(s: Snapshot) -> list[Violation]:
    """Every ACTIVE or READY reservation has its active hold, owned by it, with its units open at its
    store (a set's as its components)."""
    if s.reservations is None or s.inventory is None:
        return []
    found = []
    for r in s.reservations.values():
        if not r.holds_stock or not s.settled(r.updated_at):
            continue
        hold = s.inventory.holds.get(r.hold_id)
        problem = ""
        if hold is None:
            problem = f"its hold {r.hold_id or '(none)'} does not exist"
        elif not s.settled(hold.updated_at):
            continue
        elif not hold.active:
            problem = f"its hold {hold.hold_id} is {hold.state}"
        elif hold.owner != f"{RESERVATION_OWNER}{r.reservation_id}":
            problem = f"its hold {hold.hold_id} belongs to {hold.owner}"
        else:
            # A set is held as its components.
            wanted = expand_sets(r.lines, s.inventory.bundles)
            open_here = {sku: units for (location, sku), units in hold.open_units().items() if location == r.store_id}
            if open_here != wanted:
                problem = f"holds {_units(open_here)} at {r.store_id}, wants {_units(wanted)}"
        if problem:
            found.append(Violation("reservation without its hold", r.reservation_id, f"{r.status}: {problem}"))
    return found


def _transfer_holds(s: Snapshot, r: Reservation) -> set[str]:
    transfer = s.inventory.transfers.get(r.transfer_id) if s.inventory is not None else None
    return {r.hold_id} if transfer is None else {h for h in (transfer.origin_hold_id, transfer.arrival_hold_id) if h}


def awaiting_transfers_held_once(s: Snapshot) -> list[Violation]:
    """A reservation awaiting a transfer (ship to store) has its units exactly once: held for it at the
    transfer's origin while the transfer is a draft, on the road (in transit, no hold open) once it
    shipped; and no other hold keeps units for it. A set travels as its components, so its units are
    counted as those, once."""
    if s.reservations is None or s.inventory is None:
        return []
    found = []
    sets = s.inventory.bundles
    for r in s.reservations.values():
        if not r.awaiting_transfer or not s.settled(r.updated_at):
            continue
        owner = f"{RESERVATION_OWNER}{r.reservation_id}"
        wanted = expand_sets(r.lines, sets)
        transfer = s.inventory.transfers.get(r.transfer_id)
        problem = ""
        if transfer is None:
            problem = f"its transfer {r.transfer_id or '(none)'} does not exist"
        elif not s.settled(transfer.updated_at):
            continue
        elif transfer.hold_owner != owner:
            problem = f"its transfer {transfer.transfer_id} keeps its units for {transfer.hold_owner}"
        elif transfer.destination_id != r.store_id or transfer.lines != wanted:
            problem = (
                f"its transfer brings {_units(transfer.lines)} to {transfer.destination_id}, wants {_units(wanted)}"
            )
        elif transfer.closed:
            problem = f"its transfer {transfer.transfer_id} is {transfer.status}"
        else:
            origin_hold = s.inventory.holds.get(transfer.origin_hold_id)
            open_at_origin = (
                {}
                if origin_hold is None or not origin_hold.active
                else {
                    sku: units
                    for (location, sku), units in origin_hold.open_units().items()
                    if location == transfer.origin_id
                }
            )
            if transfer.draft and (r.hold_id != transfer.origin_hold_id or open_at_origin != wanted):
                problem = f"draft transfer, but {_units(open_at_origin)} held at {transfer.origin_id} by {r.hold_id}"
            elif transfer.in_transit and open_at_origin:
                problem = f"in transit and still held at {transfer.origin_id}: {_units(open_at_origin)}"
        others = [
            hold.hold_id
            for hold in s.inventory.holds.values()
            if hold.owner == owner
            and hold.active
            and hold.open_units()
            and s.settled(hold.updated_at)
            and (transfer is None or hold.hold_id != transfer.origin_hold_id)
        ]
        if not problem and others:
            problem = f"other holds keep units for it: {', '.join(sorted(others))}"
        if problem:
            found.append(Violation("reservation awaiting a transfer not held once", r.reservation_id, problem))
    return found


def held_allocations_match_holds(s: Snapshot) -> list[Violation]:
    """The held allocations of an order add up, per hold, location and SKU, to the open units of
    the order's active holds: nothing held for an order that no allocation accounts for, and no
    allocation counting on units its hold no longer has. A set counts as its components."""
    if s.orders is None or s.inventory is None:
        return []
    owned: dict[str, list[Hold]] = defaultdict(list)
    for active in s.inventory.holds.values():
        kind, owner_id = owners.owner_kind(active.owner)
        if kind == "order" and active.active:
            owned[owner_id].append(active)
    found = []
    for o in s.orders.orders.values():
        if o.pending or o.order_id in s.orders.rerouting or not s.settled(o.updated_at):
            continue
        wanted: dict[str, Counter[Key]] = defaultdict(Counter)
        for a in o.allocations:
            if a.held:  # a set is held as its components, those the order sold it with
                for sku, units in expand_sets(a.lines, {**s.inventory.bundles, **o.sets}).items():
                    wanted[a.hold_id][(a.location_id, sku)] += units
        hold_ids = set(wanted) | {held.hold_id for held in owned.get(o.order_id, [])}
        for hold_id in sorted(hold_ids):
            hold = s.inventory.holds.get(hold_id)
            if hold is not None and not s.settled(hold.updated_at):
                continue
            expected = {key: units for key, units in wanted[hold_id].items() if units}
            problem = ""
            if hold is None:
                problem = "does not exist"
            elif expected and not hold.active:
                problem = f"is {hold.state}"
            elif hold.owner != f"{ORDER_OWNER}{o.order_id}":
                problem = f"belongs to {hold.owner}"
            elif hold.open_units() != expected:
                problem = f"has {_units(hold.open_units())} open, the held allocations say {_units(expected)}"
            if problem:
                found.append(
                    Violation(
                        "allocations disagree with their hold", o.order_id, f"{o.status}: hold {hold_id} {problem}"
                    )
                )
    return found


def sales_match_commits(s: Snapshot) -> list[Violation]:
    """Every unit inventory committed (sold) is a sale its owner recorded — a collected
    reservation, or a shipped or handed-over allocation — and every recorded sale was committed,
    once: no sale without its record, no record without its sale."""
    if s.inventory is None:
        return []
    recorded: dict[str, Counter[Key]] = defaultdict(Counter)
    who: dict[str, str] = {}
    for r in (s.reservations or {}).values():
        if r.collected and s.settled(r.updated_at):
            who[r.hold_id] = f"reservation {r.reservation_id}"
            for sku, units in expand_sets(r.lines, s.inventory.bundles).items():  # a set sells its components
                recorded[r.hold_id][(r.store_id, sku)] += units
    if s.orders is not None:
        for o in s.orders.orders.values():
            if not s.settled(o.updated_at):
                continue
            for a in o.allocations:
                if a.done:
                    who[a.hold_id] = f"order {o.order_id}"
                    for sku, units in expand_sets(a.lines, {**s.inventory.bundles, **o.sets}).items():
                        recorded[a.hold_id][(a.location_id, sku)] += units
    found = []
    for hold in s.inventory.holds.values():
        committed = hold.committed_units()
        said = recorded.pop(hold.hold_id, Counter())
        if not (committed or said) or not s.settled(hold.updated_at):
            continue
        kind, owner_id = owners.owner_kind(hold.owner)
        if not kind or (kind == "reservation" and s.reservations is None) or (kind == "order" and s.orders is None):
            continue
        owner = (s.reservations or {}).get(owner_id) if kind == "reservation" else None
        placed = s.orders.orders.get(owner_id) if kind == "order" and s.orders is not None else None
        if (owner is not None and not s.settled(owner.updated_at)) or (
            placed is not None and not s.settled(placed.updated_at)
        ):
            continue
        expected = {key: units for key, units in said.items() if units}
        if committed != expected:
            found.append(
                Violation(
                    "sale and commit disagree",
                    hold.hold_id,
                    f"owner {hold.owner}: inventory committed {_units(committed)},"
                    f" {who.get(hold.hold_id, 'the owner')} recorded {_units(expected)}",
                )
            )
    for hold_id, sold in recorded.items():
        missing = s.inventory.holds.get(hold_id)
        if missing is None or s.settled(missing.updated_at):
            found.append(
                Violation(
                    "sale and commit disagree",
                    hold_id or "(no hold)",
                    f"{who.get(hold_id, '?')} recorded {_units(dict(sold))}, inventory committed nothing",
                )
            )
    return found


def returns_match_movements(s: Snapshot) -> list[Violation]:
    """Every received return booked exactly what inspection found, at its location: its restocked and
    damaged units in with reason RETURN, its damaged units out again with reason DAMAGE, and
    nothing for a return not received (or written off)."""
    if s.inventory is None or s.orders is None:
        return []
    found = []
    moved = s.inventory.return_movements
    booked_at = s.inventory.return_movements_at
    for r in s.orders.returns.values():
        if not s.settled(r.updated_at, *([booked_at[r.return_id]] if r.return_id in booked_at else [])):
            continue
        expected: dict[tuple[str, str, str], int] = {}
        if r.received:
            for sku, line in r.lines.items():
                if line.restocked + line.damaged:
                    expected[(r.location_id, sku, "return")] = line.restocked + line.damaged
                if line.damaged:
                    expected[(r.location_id, sku, "damage")] = -line.damaged
        booked = {key: units for key, units in moved.get(r.return_id, {}).items() if units}
        if booked != expected:
            found.append(
                Violation(
                    "return and its movements disagree",
                    r.return_id,
                    f"{r.status}: expected {_units(expected)}, the ledger has {_units(booked)}",
                )
            )
    for return_id in sorted(moved.keys() - s.orders.returns.keys()):
        if return_id in booked_at and not s.settled(booked_at[return_id]):
            continue  # booked a moment before its return is written
        found.append(Violation("return and its movements disagree", return_id, "movements of an unknown return"))
    return found


def returns_within_delivered(s: Snapshot) -> list[Violation]:
    """No order has more of a SKU returned (returns not cancelled) than it delivered; a delivered set
    counts as its components' units (a set comes back part by part), those it was sold with."""
    if s.orders is None:
        return []
    sets = s.inventory.bundles if s.inventory is not None else {}
    returned: dict[str, Counter[str]] = defaultdict(Counter)
    for r in s.orders.returns.values():
        if r.order_id and not r.cancelled:
            for sku, line in r.lines.items():
                returned[r.order_id][sku] += line.quantity
    found = []
    for order_id, units in sorted(returned.items()):
        order = s.orders.orders.get(order_id)
        delivered: Counter[str] = Counter()
        sold_as = {**sets, **order.sets} if order is not None else sets
        for a in order.allocations if order is not None else ():
            if a.done:
                delivered.update(expand_sets(a.lines, sold_as))
        over = {sku: n - delivered[sku] for sku, n in units.items() if n > delivered[sku]}
        if over:
            found.append(
                Violation(
                    "more returned than delivered",
                    order_id,
                    f"{_units(dict(units))} returned, {_units(dict(delivered))} delivered",
                )
            )
    return found


def one_task_per_source(s: Snapshot) -> list[Violation]:
    """One pick task per order allocation, one preparation task per reservation: an event handled
    twice (redelivered, or announced twice) leaves no second task."""
    counts: Counter[tuple[str, str]] = Counter()
    for task in s.tasks or []:
        source = task.allocation_id if task.picks else task.reservation_id
        counts[(task.kind, source)] += 1
    return [
        Violation("duplicated task", f"{kind} {source}", f"{count} tasks")
        for (kind, source), count in sorted(counts.items())
        if count > 1
    ]


def work_matches_owners(s: Snapshot) -> list[Violation]:
    """Fulfilment's tasks agree with what they are for: a held allocation (to ship or pick up) has
    an open pick task, an open task has a held allocation or a holding reservation, a shipped task
    a shipped allocation, a handed-over preparation a collected reservation."""
    if s.tasks is None:
        return []
    found = []
    by_allocation = {t.allocation_id: t for t in s.tasks if t.picks}
    by_reservation = {t.reservation_id: t for t in s.tasks if not t.picks}

    def report(subject: str, detail: str) -> None:
        found.append(Violation("task disagrees with its source", subject, detail))

    if s.orders is not None:
        allocations: dict[str, tuple[Order, Allocation]] = {}
        for o in s.orders.orders.values():
            for a in o.allocations:
                allocations[a.allocation_id] = (o, a)
            if not o.worked or not s.settled(o.updated_at) or o.order_id in s.orders.rerouting:
                continue
            for a in o.allocations:
                task = by_allocation.get(a.allocation_id)
                if task is not None and not s.settled(task.updated_at):
                    continue
                if a.held and not o.pending:
                    if task is None:
                        report(f"order {o.order_id}", f"held allocation {a.allocation_id} has no pick task")
                    elif not task.active:
                        report(f"order {o.order_id}", f"held allocation {a.allocation_id}: its task is {task.status}")
                if a.shipped and (task is None or not task.shipped):
                    state = task.status if task else "missing"
                    report(f"order {o.order_id}", f"shipped allocation {a.allocation_id}: its task is {state}")
        for task in by_allocation.values():
            if not s.settled(task.updated_at):
                continue
            owner = allocations.get(task.allocation_id)
            if owner is None:
                report(f"task {task.task_id}", f"allocation {task.allocation_id} of order {task.order_id} is unknown")
                continue
            o, a = owner
            if not s.settled(o.updated_at) or o.order_id in s.orders.rerouting:
                continue
            if task.active and not a.held:
                report(f"task {task.task_id}", f"{task.status}, but allocation {a.allocation_id} is {a.status}")
            if task.shipped and not a.done:
                report(f"task {task.task_id}", f"shipped, but allocation {a.allocation_id} is {a.status}")
    if s.reservations is not None:
        for r in s.reservations.values():
            if not r.holds_stock or not s.settled(r.updated_at):
                continue
            task = by_reservation.get(r.reservation_id)
            if task is not None and not s.settled(task.updated_at):
                continue
            if task is None or not task.active:
                state = task.status if task else "missing"
                report(f"reservation {r.reservation_id}", f"{r.status}, but its preparation task is {state}")
        for task in by_reservation.values():
            source = s.reservations.get(task.reservation_id)
            if not s.settled(task.updated_at) or (source is not None and not s.settled(source.updated_at)):
                continue
            status = source.status if source else "unknown"
            if task.active and (source is None or not source.holds_stock):
                report(f"task {task.task_id}", f"{task.status}, but reservation {task.reservation_id} is {status}")
            if task.handed_over and (source is None or not source.collected):
                report(f"task {task.task_id}", f"handed over, but reservation {task.reservation_id} is {status}")
    return found


def insights_counted_once(s: Snapshot) -> list[Violation]:
    """The figures count each order and reservation once (the daily sums equal the facts they come
    from), and every fact is of an order or reservation that exists."""
    if s.insights is None:
        return []
    i = s.insights
    found = []
    if i.daily_orders != i.counted_orders:
        found.append(
            Violation("figures count twice or not at all", "orders", f"daily={i.daily_orders} facts={i.counted_orders}")
        )
    if i.daily_reservations != i.counted_reservations:
        found.append(
            Violation(
                "figures count twice or not at all",
                "reservations",
                f"daily={i.daily_reservations} facts={i.counted_reservations}",
            )
        )
    if s.orders is not None:
        for order_id in sorted(i.order_ids - s.orders.orders.keys()):
            found.append(Violation("figures of an unknown order", order_id, "insights has a fact, orders has no order"))
    if s.reservations is not None:
        for reservation_id in sorted(i.reservation_ids - s.reservations.keys()):
            found.append(
                Violation("figures of an unknown reservation", reservation_id, "insights has a fact, no reservation")
            )
    return found


def webhook_queues_have_one_head(s: Snapshot) -> list[Violation]:
    """Each webhook queue (subscription, ordering key) sends only its earliest pending delivery: a
    queue with no head would stall, one with two would break the entity's order."""
    return [
        Violation("webhook queue without its one head", queue, "not exactly its earliest pending delivery is head")
        for queue in s.webhook_queues or []
    ]


# The rules between holds and their owners: they need only holds, reservations and orders, which
# `omnistock verify` also reads through the services' APIs.
OWNER_CHECKS: tuple[Callable[[Snapshot], list[Violation]], ...] = (
    holds_have_live_owners,
    holding_reservations_have_their_hold,
    awaiting_transfers_held_once,
    held_allocations_match_holds,
)

CHECKS: tuple[Callable[[Snapshot], list[Violation]], ...] = (
    stock_invariants,
    outbox_published,
    nothing_left_pending,
    *OWNER_CHECKS,
    sales_match_commits,
    returns_match_movements,
    returns_within_delivered,
    one_task_per_source,
    work_matches_owners,
    insights_counted_once,
    webhook_queues_have_one_head,
)


# -- the event stream ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamEvent:
    sequence: int
    subject: str
    time: datetime
    envelope: common_pb2.EventEnvelope | None
    headers: dict[str, str]

    @property
    def type(self) -> str:
        return self.envelope.type if self.envelope is not None else ""

    def payload(self) -> Message | None:
        from omnistock_platform.events.envelope import unpack_payload

        if self.envelope is None:
            return None
        try:
            return unpack_payload(self.envelope)
        except (KeyError, TypeError):
            return None


async def read_stream(settings: Settings, *, timeout: float = 60.0) -> list[StreamEvent]:
    """Every message of the system's stream, in order, read with an ordered consumer."""
    from nats.js.api import DeliverPolicy

    from omnistock_platform.events.bus import EventBus

    bus = EventBus(settings, "invariants")
    await bus.connect()
    try:
        info = await bus.js.stream_info(settings.stream_name)
        last = int(info.state.last_seq)
        events: list[StreamEvent] = []
        if not info.state.messages:
            return events
        subscription = await bus.js.subscribe(
            f"{settings.subject_prefix}.>",
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            stream=settings.stream_name,
        )
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError(f"read {len(events)} events of the stream, up to {last}, in {timeout} s")
                message = await subscription.next_msg(timeout=min(remaining, 5.0))
                metadata = message.metadata
                envelope: common_pb2.EventEnvelope | None
                try:
                    envelope = common_pb2.EventEnvelope.FromString(message.data)
                except Exception:  # a dead letter may carry anything
                    envelope = None
                events.append(
                    StreamEvent(
                        int(metadata.sequence.stream),
                        message.subject,
                        metadata.timestamp,
                        envelope,
                        dict(message.headers or {}),
                    )
                )
                if metadata.sequence.stream >= last:
                    return events
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
    finally:
        await bus.close()


def _in_stream_window(events: list[StreamEvent], moment: datetime) -> bool:
    """Whether something that happened at `moment` may still be in the stream (not aged out)."""
    return not events or moment >= events[0].time - timedelta(seconds=1)


def events_reached_stream(s: Snapshot, events: list[StreamEvent]) -> list[Violation]:
    """Every published outbox event is in the stream, exactly once; nothing was dead-lettered."""
    found = []
    seen = Counter(e.envelope.event_id for e in events if e.envelope is not None and ".deadletter." not in e.subject)
    for event_id, count in sorted(seen.items()):
        if count > 1:
            found.append(Violation("event in the stream more than once", event_id, f"{count} copies"))
    first = events[0].time if events else None
    for schema, published in sorted(s.published_event_ids.items()):
        missing = sorted(published - seen.keys())
        if missing and first is not None:
            found.append(
                Violation(
                    "published event missing from the stream",
                    f"{schema}.outbox",
                    f"{len(missing)} events, e.g. {', '.join(missing[:3])}",
                )
            )
    for event in events:
        if ".deadletter." in event.subject:
            found.append(
                Violation(
                    "event dead-lettered",
                    event.headers.get("Omnistock-Original-Subject", event.subject),
                    event.headers.get("Omnistock-Error", "")[:300],
                )
            )
    return found


def commits_announced_once(s: Snapshot, events: list[StreamEvent]) -> list[Violation]:
    """Every committed unit is announced by `hold.committed` events, once: per hold, location and
    SKU the units of its distinct hold.committed events add up to what inventory committed."""
    if s.inventory is None:
        return []
    announced: dict[str, Counter[Key]] = defaultdict(Counter)
    counted: set[str] = set()
    for event in events:
        if event.type != "inventory.hold.committed" or event.envelope is None:
            continue
        if event.envelope.event_id in counted:
            continue
        counted.add(event.envelope.event_id)
        payload: Any = event.payload()
        if payload is None:
            continue
        for line in payload.lines:
            announced[payload.hold.hold_id][(line.location_id, line.sku)] += int(line.quantity)
    found = []
    for hold in s.inventory.holds.values():
        if not _in_stream_window(events, hold.created_at):
            continue
        committed = hold.committed_units()
        said = {key: units for key, units in announced.pop(hold.hold_id, Counter()).items() if units}
        if committed != said:
            found.append(
                Violation(
                    "commit not announced exactly once",
                    hold.hold_id,
                    f"committed {_units(committed)}, hold.committed events say {_units(said)}",
                )
            )
    for hold_id, units in announced.items():
        found.append(Violation("commit announced for an unknown hold", hold_id, _units(dict(units))))
    return found


# The events (types of the contract) that end a reservation: each at most once per reservation.
RESERVATION_ENDINGS = frozenset(
    f"reservations.reservation.{end}" for end in ("collected", "cancelled", "expired", "converted")
)


def creations_announced_once(s: Snapshot, events: list[StreamEvent]) -> list[Violation]:
    """Each hold, placed order and task is announced as created exactly once; a reservation at
    most once, and it ends (collected, cancelled, expired, converted) at most once."""
    seen: set[str] = set()
    counts: Counter[tuple[str, str]] = Counter()
    for event in events:
        if event.envelope is None or event.envelope.event_id in seen:
            continue
        seen.add(event.envelope.event_id)
        kind = event.type
        payload: Any = None
        if kind in ("inventory.hold.created", "orders.order.created", "fulfilment.task.created") or kind.startswith(
            "reservations.reservation."
        ):
            payload = event.payload()
        if payload is None:
            continue
        if kind == "inventory.hold.created":
            counts[("hold", payload.hold.hold_id)] += 1
        elif kind == "orders.order.created":
            counts[("order", payload.order.order_id)] += 1
        elif kind == "fulfilment.task.created":
            counts[("task", payload.task.task_id)] += 1
        elif kind == "reservations.reservation.created":
            counts[("reservation", payload.reservation.reservation_id)] += 1
        elif kind in RESERVATION_ENDINGS:
            counts[("reservation end", payload.reservation.reservation_id)] += 1
    found = []

    def expect(kind: str, key: str, moment: datetime, exactly: bool) -> None:
        count = counts.pop((kind, key), 0)
        if not _in_stream_window(events, moment):
            return
        if count > 1 or (exactly and count != 1):
            found.append(Violation("creation not announced exactly once", f"{kind} {key}", f"{count} events"))

    if s.inventory is not None:
        for hold in s.inventory.holds.values():
            expect("hold", hold.hold_id, hold.created_at, exactly=True)
    if s.orders is not None:
        for o in s.orders.orders.values():
            expect("order", o.order_id, o.created_at, exactly=not o.pending)
    for task in s.tasks or []:
        expect("task", task.task_id, task.created_at, exactly=True)
    for r in (s.reservations or {}).values():
        expect("reservation", r.reservation_id, r.created_at, exactly=False)
        expect("reservation end", r.reservation_id, r.created_at, exactly=False)
    for (kind, key), count in sorted(counts.items()):
        if kind in ("hold", "order", "task"):
            found.append(Violation("announced but never stored", f"{kind} {key}", f"{count} events"))
    return found


STREAM_CHECKS: tuple[Callable[[Snapshot, list[StreamEvent]], list[Violation]], ...] = (
    events_reached_stream,
    commits_announced_once,
    creations_announced_once,
)


# -- all of it ------------------------------------------------------------------------------------


async def snapshot_of(settings: Settings, *, recent: timedelta = timedelta(0), db: Database | None = None) -> Snapshot:
    if db is None and not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    database = db or Database(settings.database_url or "", min_size=1, max_size=1)
    if db is None:
        await database.connect()
    try:
        async with database.transaction(isolation="repeatable_read") as conn:
            return await take_snapshot(conn, recent)
    finally:
        if db is None:
            await database.close()


def run_owner_checks(snapshot: Snapshot) -> list[Violation]:
    return [v for check in OWNER_CHECKS for v in check(snapshot)]


def run_checks(snapshot: Snapshot, events: list[StreamEvent] | None = None) -> list[Violation]:
    violations = [v for check in CHECKS for v in check(snapshot)]
    if events is not None:
        until = [e for e in events if e.time <= snapshot.at]
        violations += [v for check in STREAM_CHECKS for v in check(snapshot, until)]
    return violations


async def check_all(
    settings: Settings,
    *,
    recent: timedelta = timedelta(0),
    stream: bool = False,
    db: Database | None = None,
) -> list[Violation]:
    """Every invariant of every schema present, and with `stream` those of the event stream.
    `recent` leaves out what changed in the last so long (for a system under traffic)."""
    snapshot = await snapshot_of(settings, recent=recent, db=db)
    # Read after the snapshot: every event its outboxes call published is then in the stream;
    # the checks count only events the stream had at the snapshot's instant.
    events = await read_stream(settings) if stream else None
    return run_checks(snapshot, events)


def _units(quantities: dict[Any, int]) -> str:
    if not quantities:
        return "nothing"
    return ", ".join(
        f"{'/'.join(key) if isinstance(key, tuple) else key}{_TIMES}{units}"
        for key, units in sorted(quantities.items())
    )
