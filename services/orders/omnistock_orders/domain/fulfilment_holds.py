"""Fulfilment holds: an order, or one of its allocations, waits (payment pending, fraud review,
address check) while its stock stays held and none of its work is done.

A hold covers the whole order (allocations made later by a re-route included) or one allocation.
It is active until it is released, runs out (the order is then cancelled), or ends with its order.
The order's inventory holds must outlive every active fulfilment hold: `inventory_hold_ttl` says how
long an inventory hold taken or kept for the order has to run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from omnistock_orders.domain.order import Order
from omnistock_platform.errors import AlreadyExists, FailedPrecondition, NotFound, PreconditionViolation, Reason

# An order's inventory holds run this much longer than its fulfilment holds: the expiry of a
# fulfilment hold (checked every second) cancels the order cleanly, long before inventory's own
# sweeper could give its stock back underneath it.
INVENTORY_MARGIN = timedelta(hours=1)


class HoldReason(StrEnum):
    PAYMENT_PENDING = "payment_pending"
    FRAUD_REVIEW = "fraud_review"
    ADDRESS_CHECK = "address_check"


class HoldStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    RELEASED = "released"
    EXPIRED = "expired"
    ENDED = "ended"


# Released only in the back office: a channel must not wave its own order through a fraud check.
BACK_OFFICE_ONLY = frozenset({HoldReason.FRAUD_REVIEW})


@dataclass(frozen=True)
class FulfilmentHold:
    hold_id: str
    reason: HoldReason
    allocation_id: str = ""
    status: HoldStatus = HoldStatus.ACTIVE
    note: str = ""
    placed_by: str = ""
    placed_at: datetime | None = None
    expires_at: datetime | None = None
    # How long a REQUESTED hold will last once the order is placed.
    ttl: timedelta | None = None
    released_by: str = ""
    closed_at: datetime | None = None
    release_note: str = ""

    @property
    def active(self) -> bool:
        return self.status is HoldStatus.ACTIVE

    def covers(self, allocation_id: str) -> bool:
        return self.allocation_id in ("", allocation_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "hold_id": self.hold_id,
            "reason": self.reason.value,
            "allocation_id": self.allocation_id,
            "status": self.status.value,
            "note": self.note,
            "placed_by": self.placed_by,
            "placed_at": self.placed_at.isoformat() if self.placed_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "ttl_seconds": self.ttl.total_seconds() if self.ttl is not None else None,
            "released_by": self.released_by,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "release_note": self.release_note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FulfilmentHold:
        def moment(name: str) -> datetime | None:
            value = data.get(name)
            return datetime.fromisoformat(value) if value else None

        ttl = data.get("ttl_seconds")
        return cls(
            hold_id=str(data["hold_id"]),
            reason=HoldReason(data["reason"]),
            allocation_id=str(data.get("allocation_id", "")),
            status=HoldStatus(data["status"]),
            note=str(data.get("note", "")),
            placed_by=str(data.get("placed_by", "")),
            placed_at=moment("placed_at"),
            expires_at=moment("expires_at"),
            ttl=timedelta(seconds=float(ttl)) if ttl is not None else None,
            released_by=str(data.get("released_by", "")),
            closed_at=moment("closed_at"),
            release_note=str(data.get("release_note", "")),
        )


Holds = tuple[FulfilmentHold, ...]


def active(holds: Iterable[FulfilmentHold]) -> list[FulfilmentHold]:
    return [hold for hold in holds if hold.active]


def on_hold(order: Order, holds: Iterable[FulfilmentHold]) -> bool:
    """An active hold covers the order, or an allocation of it that still holds units."""
    held = {a.allocation_id for a in order.allocations if a.held}
    return not order.terminal and any(h.active and (not h.allocation_id or h.allocation_id in held) for h in holds)


def next_expiry(holds: Iterable[FulfilmentHold]) -> datetime | None:
    """When the first active hold runs out: what the expiry sweep looks for."""
    moments = [hold.expires_at for hold in holds if hold.active and hold.expires_at is not None]
    return min(moments) if moments else None


def _order_status_violation(order: Order) -> FailedPrecondition:
    return FailedPrecondition(
        f"order {order.order_id} is {order.status.value}: it has no work left to hold",
        [PreconditionViolation("ORDER_STATUS", order.order_id, f"order is {order.status.value}")],
        reason=Reason.INVALID_STATE,
    )


def place(
    order: Order, holds: Holds, hold: FulfilmentHold, *, now: datetime, ttl: timedelta
) -> tuple[Holds, FulfilmentHold]:
    """The order's holds with `hold` active from now for `ttl`. The order must be placed and not
    finished; an allocation must be the order's and still hold units; one active hold per reason
    and target."""
    if order.terminal or order.status.value == "pending":
        raise _order_status_violation(order)
    if hold.allocation_id:
        allocation = order.allocation(hold.allocation_id)
        if allocation is None:
            raise NotFound("allocation", hold.allocation_id, field="allocation_id")
        if not allocation.held:
            raise FailedPrecondition(
                f"allocation {hold.allocation_id} is {allocation.status.value}: nothing of it waits to be worked",
                [PreconditionViolation("ALLOCATION_STATUS", hold.allocation_id, f"is {allocation.status.value}")],
                reason=Reason.INVALID_STATE,
            )
    elif not any(a.held for a in order.allocations):
        raise _order_status_violation(order)
    for existing in holds:
        if existing.active and existing.reason is hold.reason and existing.allocation_id == hold.allocation_id:
            raise AlreadyExists(
                f"{existing.hold_id} already holds {hold.allocation_id or 'the order'} for {hold.reason.value}"
            )
    started = replace(hold, status=HoldStatus.ACTIVE, placed_at=now, expires_at=now + ttl, ttl=None)
    return (*holds, started), started


def start_requested(holds: Holds, now: datetime) -> Holds:
    """The order was placed: holds asked for with it start now."""
    return tuple(
        replace(hold, status=HoldStatus.ACTIVE, placed_at=now, expires_at=now + (hold.ttl or timedelta(0)), ttl=None)
        if hold.status is HoldStatus.REQUESTED
        else hold
        for hold in holds
    )


def find(holds: Holds, hold_id: str) -> FulfilmentHold:
    for hold in holds:
        if hold.hold_id == hold_id:
            return hold
    raise NotFound("fulfilment hold", hold_id, field="fulfilment_hold_id")


def release(holds: Holds, hold_ids: Iterable[str], *, by: str, note: str, now: datetime) -> Holds:
    """The holds with those ids released; a hold released before stays as it was. An expired or
    ended hold cannot be released."""
    wanted = set(hold_ids)
    changed = []
    for hold in holds:
        if hold.hold_id in wanted and hold.status in (HoldStatus.EXPIRED, HoldStatus.ENDED):
            raise FailedPrecondition(
                f"fulfilment hold {hold.hold_id} is {hold.status.value}",
                [PreconditionViolation("HOLD_STATUS", hold.hold_id, f"hold is {hold.status.value}")],
                reason=Reason.INVALID_STATE,
            )
        if hold.hold_id in wanted and hold.active:
            hold = replace(hold, status=HoldStatus.RELEASED, released_by=by, release_note=note, closed_at=now)
        changed.append(hold)
    return tuple(changed)


def close_due(order: Order, holds: Holds, now: datetime) -> tuple[Holds, list[FulfilmentHold]]:
    """Active holds past their expiry become EXPIRED; those of an order that is over meanwhile (with
    nothing left to expire) ENDED. Returns the holds and those that expired."""
    expired = []
    changed = []
    for hold in holds:
        if hold.active and hold.expires_at is not None and hold.expires_at <= now:
            hold = replace(hold, status=HoldStatus.EXPIRED, closed_at=now)
            expired.append(hold)
        elif hold.active and order.terminal:
            hold = replace(hold, status=HoldStatus.ENDED, closed_at=now)
        changed.append(hold)
    return tuple(changed), expired


def inventory_hold_ttl(
    holds: Iterable[FulfilmentHold], *, base: timedelta, ceiling: timedelta, now: datetime
) -> timedelta:
    """How long an inventory hold taken or kept for the order must run: its usual time (`base`), or
    longer, to outlive every active (or requested) fulfilment hold by INVENTORY_MARGIN; never beyond
    what inventory allows (`ceiling`)."""
    wanted = base
    for hold in holds:
        if hold.active and hold.expires_at is not None:
            wanted = max(wanted, hold.expires_at - now + INVENTORY_MARGIN)
        elif hold.status is HoldStatus.REQUESTED and hold.ttl is not None:
            wanted = max(wanted, hold.ttl + INVENTORY_MARGIN)
    return min(wanted, ceiling)
