"""A reservation: items set aside at one store for one customer, until collected or closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from omnistock_platform.errors import Shortfall
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
