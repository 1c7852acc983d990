"""A reservation: items set aside at one store for one customer, until collected or closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from omnistock_platform.errors import Shortfall
from omnistock_platform.promising import Promise
from omnistock_reservations.domain.status import HOLDING, Action, Status, next_status


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str = ""
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Failure:
    """Why a reservation could not hold stock, kept so a retried request gets the same answer."""

    message: str
    shortfall: Shortfall | None = None


@dataclass(frozen=True)
class Limits:
    """What one reservation may ask for."""

    max_line_quantity: int
    max_open_per_customer: int
    default_hold: timedelta
    min_hold: timedelta
    max_hold: timedelta

    def hold_for(self, requested: timedelta) -> timedelta:
        """The hold a request gets: zero means the default."""
        return requested or self.default_hold

    def hold_in_bounds(self, hold_for: timedelta) -> bool:
        return self.min_hold <= hold_for <= self.max_hold


@dataclass
class Reservation:
    reservation_id: str
    request_id: str
    channel: str
    customer: Customer
    store_id: str
    lines: list[Line]
    pickup_code: str
    hold_for: timedelta
    status: Status = Status.PENDING
    created_at: datetime | None = None
    hold_id: str = ""
    expires_at: datetime | None = None
    ready_at: datetime | None = None
    closed_at: datetime | None = None
    order_id: str = ""
    cancel_reason: str = ""
    failure: Failure | None = None
    allow_ship_to_store: bool = False
    transfer_origin_id: str = ""
    transfer_id: str = ""
    promised_at: datetime | None = None
    # When the customer can collect it (docs/promises.md); None while pending or failed.
    promise: Promise | None = None
    # When the row last changed, later on each change (events carry it as their version).
    updated_at: datetime | None = None
    # What did not arrive on the transfer, per SKU (for the shorted event).
    shorted: dict[str, int] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    @property
    def holding(self) -> bool:
        return self.status in HOLDING

    def _move(self, action: Action) -> None:
        self.status = next_status(self.reservation_id, self.status, action)

    def _close(self, action: Action, at: datetime, event: str | None) -> None:
        self._move(action)
        self.closed_at = at
        if event:
            self.events.append(event)

    def activate(self, hold_id: str, expires_at: datetime) -> None:
        self._move(Action.ACTIVATE)
        self.hold_id = hold_id
        self.expires_at = expires_at
        self.events.append("created")

    def await_transfer(
        self, hold_id: str, expires_at: datetime, transfer_id: str, promised_at: datetime | None
    ) -> None:
        """Ship to store: the units are held at the origin (hold_id) and travel on the transfer."""
        self._move(Action.AWAIT_TRANSFER)
        self.hold_id = hold_id
        self.expires_at = expires_at
        self.transfer_id = transfer_id
        self.promised_at = promised_at
        self.events.append("created")

    def arrive(self, hold_id: str, expires_at: datetime, arrived: dict[str, int], at: datetime) -> None:
        """The store received the transfer, and what arrived is held there for this reservation.
        Fewer units than waited for: it keeps what arrived (shorted); nothing at all: cancelled."""
        shorted = {line.sku: line.quantity - min(line.quantity, arrived.get(line.sku, 0)) for line in self.lines}
        self.shorted = {sku: units for sku, units in shorted.items() if units > 0}
        kept = [Line(line.sku, line.quantity - shorted[line.sku]) for line in self.lines]
        kept = [line for line in kept if line.quantity > 0]
        if self.shorted:
            self.events.append("shorted")
        if not kept:
            self.hold_id = hold_id or self.hold_id
            self.cancel("nothing arrived on the transfer", at)
            return
        self.lines = kept
        self._move(Action.ARRIVE)
        self.hold_id = hold_id
        self.expires_at = expires_at
        self.ready_at = at
        self.events.append("ready")

    def repromise(self, promise: Promise) -> None:
        """A later date than promised (the transfer arrived late): the customer is told the new one."""
        if self.promise is not None and promise.at <= self.promise.at:
            return
        self.promise = promise
        self.events.append("repromised")

    def shorten(self, hold_id: str, lost: dict[str, int], at: datetime) -> bool:
        """Inventory took units off the reservation's hold `hold_id` that were promised in transit on
        a transfer received short (`lost`, per SKU): it keeps the rest (shorted names what went), or
        is cancelled when nothing is left. Only a holding reservation of that hold changes; returns
        whether it did."""
        if not self.holding or hold_id != self.hold_id:
            return False
        taken = {line.sku: min(line.quantity, lost.get(line.sku, 0)) for line in self.lines}
        self.shorted = {sku: units for sku, units in taken.items() if units > 0}
        if not self.shorted:
            return False
        self.events.append("shorted")
        kept = [Line(line.sku, line.quantity - taken[line.sku]) for line in self.lines]
        kept = [line for line in kept if line.quantity > 0]
        if not kept:
            self.cancel("the units promised on their way did not arrive", at)
            return True
        self.lines = kept
        return True

    def fail(self, failure: Failure, at: datetime) -> None:
        self._move(Action.FAIL)
        self.failure = failure
        self.closed_at = at

    def mark_ready(self, at: datetime) -> None:
        self._move(Action.MARK_READY)
        self.ready_at = at
        self.events.append("ready")

    def extension_limit(self, max_hold: timedelta) -> datetime:
        """No hold outlives the channel's maximum, counted from creation."""
        assert self.created_at is not None
        return self.created_at + max_hold

    def extend(self, expires_at: datetime) -> None:
        self._move(Action.EXTEND)
        self.expires_at = expires_at
        self.events.append("extended")

    def cancel(self, reason: str, at: datetime) -> None:
        self.cancel_reason = reason
        self._close(Action.CANCEL, at, "cancelled")

    def expire(self, at: datetime, hold_id: str = "") -> None:
        self.hold_id = self.hold_id or hold_id
        self._close(Action.EXPIRE, at, "expired")

    def collect(self, at: datetime) -> None:
        self._close(Action.COLLECT, at, "collected")

    def convert(self, order_id: str, at: datetime) -> None:
        self.order_id = order_id
        self._close(Action.CONVERT, at, "converted")
