"""What each service's schema says, as the invariant checks see it: the shapes the readers return
(each service's `adapters/checks.py`, or omnistock_platform.invariants for a service without one)
and the violation a check reports. Plain data, importing nothing of the project, so that a
service's reader and the cross-service rules share it without importing each other.

A fact carries what the rules need to know of a status as typed meaning (the keyword-only flags
such as `Reservation.holds_stock` or `Allocation.done`), set by whoever read it: a service's reader
from its own domain's statuses, `omnistock verify`'s API reader from the proto enums. The rules
never compare status words; the word (`status`, `state`) is only there to be shown in a violation."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


Key = tuple[str, str]  # (location_id, sku)


@dataclass(frozen=True)
class HoldLine:
    quantity: int
    committed: int
    released: int

    @property
    def open(self) -> int:
        return self.quantity - self.committed - self.released


@dataclass(frozen=True)
class Hold:
    hold_id: str
    owner: str
    state: str
    created_at: datetime
    updated_at: datetime
    lines: dict[Key, HoldLine]
    _: KW_ONLY
    # Still keeps its open units (not committed, released or expired).
    active: bool

    def open_units(self) -> dict[Key, int]:
        return {key: line.open for key, line in self.lines.items() if line.open}

    def committed_units(self) -> dict[Key, int]:
        return {key: line.committed for key, line in self.lines.items() if line.committed}


@dataclass(frozen=True)
class Transfer:
    """A transfer that keeps its units for an owner (ship to store): where it is, and its holds."""

    transfer_id: str
    origin_id: str
    destination_id: str
    status: str
    hold_owner: str
    origin_hold_id: str
    arrival_hold_id: str
    lines: dict[str, int]  # sku -> units shipped (or to ship)
    updated_at: datetime
    _: KW_ONLY
    # Not shipped yet: its units are held at the origin.
    draft: bool
    # Shipped and not yet received: its units are on the road, held nowhere.
    in_transit: bool

    @property
    def closed(self) -> bool:
        """Received or cancelled: it brings nothing any more."""
        return not (self.draft or self.in_transit)


@dataclass
class InventoryFacts:
    holds: dict[str, Hold]
    # The stock invariants inventory checks on its own schema (omnistock_inventory.adapters.checks).
    stock_violations: list[Violation]
    # Transfers with a hold owner, by id.
    transfers: dict[str, Transfer] = field(default_factory=dict)
    # Units moved by the movements filed under a return (document reference "return:<id>"), by return
    # id, location, SKU and reason word ("return", "damage").
    return_movements: dict[str, dict[tuple[str, str, str], int]] = field(default_factory=dict)
    # When the last movement of each return was booked: a receipt in flight is left alone.
    return_movements_at: dict[str, datetime] = field(default_factory=dict)
    # Each bundle SKU's components and their units per set: a set's return comes back part by part.
    bundles: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    request_id: str
    status: str
    store_id: str
    hold_id: str
    order_id: str
    lines: dict[str, int]
    created_at: datetime
    updated_at: datetime
    # Ship to store: the transfer bringing its units to the store.
    transfer_id: str = ""
    _: KW_ONLY
    # Being created: its hold is not confirmed yet.
    pending: bool
    # Inventory keeps its units at its store, under its hold (active, or ready for pickup).
    holds_stock: bool
    # Ship to store: its units are held at a transfer's origin or on the road to its store.
    awaiting_transfer: bool
    # Collected by the customer: its hold was committed as a sale.
    collected: bool


@dataclass(frozen=True)
class Allocation:
    allocation_id: str
    location_id: str
    hold_id: str
    status: str
    lines: dict[str, int]
    _: KW_ONLY
    # Its units are held for it (not yet shipped or handed over, nor given up).
    held: bool
    # Shipped (its pick task shipped it).
    shipped: bool
    # Delivered: shipped or handed over, its units sold.
    done: bool


@dataclass(frozen=True)
class Order:
    order_id: str
    request_id: str
    status: str
    method: str
    source: str
    created_at: datetime
    updated_at: datetime
    allocations: tuple[Allocation, ...]
    _: KW_ONLY
    # Being placed: its allocations are not settled yet.
    pending: bool
    # Fulfilment works it (a pick task per held allocation); a sale at a till is done on the spot.
    worked: bool
    # The sets among its lines, each with the components it was sold with (units per set).
    sets: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReturnLine:
    quantity: int
    restocked: int
    damaged: int
    written_off: int


@dataclass(frozen=True)
class Return:
    return_id: str
    order_id: str
    location_id: str
    status: str
    updated_at: datetime
    lines: dict[str, ReturnLine]
    _: KW_ONLY
    # Received and inspected: its units were booked.
    received: bool
    cancelled: bool


@dataclass
class OrdersFacts:
    orders: dict[str, Order]
    # Orders with a re-route whose hold request was recorded but whose reaction has not committed.
    rerouting: set[str]
    returns: dict[str, Return] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    task_id: str
    kind: str
    status: str
    location_id: str
    order_id: str
    allocation_id: str
    reservation_id: str
    hold_id: str
    created_at: datetime
    updated_at: datetime
    _: KW_ONLY
    # A pick task, for an order allocation (`allocation_id`); otherwise a pickup preparation, for
    # a reservation (`reservation_id`).
    picks: bool
    # Staff still have something to do in it (not finished).
    active: bool
    shipped: bool
    handed_over: bool


@dataclass(frozen=True)
class InsightsFacts:
    order_ids: frozenset[str]
    reservation_ids: frozenset[str]
    counted_orders: int
    counted_reservations: int
    daily_orders: int
    daily_reservations: int


@dataclass(frozen=True)
class UnpublishedEvent:
    schema: str
    event_id: str
    subject: str
    created_at: datetime


@dataclass(frozen=True)
class UnfinishedChange:
    schema: str
    request_id: str
    method: str
    created_at: datetime
