"""What each service's schema says, as the invariant checks see it: the shapes the readers return
(each service's `adapters/checks.py`, or omnistock_platform.invariants for a service without one)
and the violation a check reports. Plain data, importing nothing of the project, so that a
service's reader and the cross-service rules share it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
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

    def open_units(self) -> dict[Key, int]:
        return {key: line.open for key, line in self.lines.items() if line.open}

    def committed_units(self) -> dict[Key, int]:
        return {key: line.committed for key, line in self.lines.items() if line.committed}


@dataclass
class InventoryFacts:
    holds: dict[str, Hold]
    # The stock invariants inventory checks on its own schema (omnistock_inventory.adapters.checks).
    stock_violations: list[Violation]


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


@dataclass(frozen=True)
class Allocation:
    allocation_id: str
    location_id: str
    hold_id: str
    status: str
    lines: dict[str, int]


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


@dataclass
class OrdersFacts:
    orders: dict[str, Order]
    # Orders with a re-route whose hold request was recorded but whose reaction has not committed.
    rerouting: set[str]


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
