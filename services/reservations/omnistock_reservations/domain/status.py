"""The reservation's life: which action may move it from which status, and where to."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from omnistock_platform.errors import FailedPrecondition, PreconditionViolation, Reason


class Status(StrEnum):
    # Written, hold not yet confirmed.
    PENDING = "pending"
    ACTIVE = "active"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    CONVERTED = "converted"
    # The hold could not be had; never held stock.
    FAILED = "failed"
    # Ship to store: held at another location, on its way to the store on a transfer.
    AWAITING_TRANSFER = "awaiting_transfer"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


# Open: the pickup code belongs to this reservation at its store.
OPEN = frozenset({Status.PENDING, Status.ACTIVE, Status.READY_FOR_PICKUP, Status.AWAITING_TRANSFER})
# Holding: inventory sets units aside for it.
HOLDING = frozenset({Status.ACTIVE, Status.READY_FOR_PICKUP})
CLOSED = frozenset(Status) - OPEN


class Action(StrEnum):
    ACTIVATE = "activate"
    FAIL = "fail"
    MARK_READY = "mark ready"
    EXTEND = "extend"
    CANCEL = "cancel"
    EXPIRE = "expire"
    COLLECT = "collect"
    CONVERT = "convert"
    AWAIT_TRANSFER = "await a transfer"
    ARRIVE = "arrive"


# action -> (statuses it may start from, status it ends in; None keeps the status)
RULES: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.ACTIVATE: (frozenset({Status.PENDING}), Status.ACTIVE),
    Action.FAIL: (frozenset({Status.PENDING}), Status.FAILED),
    Action.MARK_READY: (frozenset({Status.ACTIVE}), Status.READY_FOR_PICKUP),
    Action.EXTEND: (HOLDING, None),
    Action.CANCEL: (HOLDING | {Status.AWAITING_TRANSFER}, Status.CANCELLED),
    # A pending one expires too: its hold was taken and ran out before it could be confirmed.
    Action.EXPIRE: (OPEN, Status.EXPIRED),
    Action.COLLECT: (HOLDING, Status.COLLECTED),
    Action.CONVERT: (HOLDING, Status.CONVERTED),
    Action.AWAIT_TRANSFER: (frozenset({Status.PENDING}), Status.AWAITING_TRANSFER),
    # The store received the transfer: the units are held there, at the pickup desk.
    Action.ARRIVE: (frozenset({Status.AWAITING_TRANSFER}), Status.READY_FOR_PICKUP),
}


class InvalidTransition(FailedPrecondition):
    reasons: ClassVar[tuple[Reason, ...]] = (Reason.INVALID_STATE,)

    def __init__(self, reservation_id: str, status: Status, action: Action) -> None:
        self.status = status
        self.action = action
        super().__init__(
            f"reservation {reservation_id} is {status.label}; it cannot {action.value}",
            [PreconditionViolation("RESERVATION_STATUS", reservation_id, f"reservation is {status.label}")],
        )


def allowed(status: Status, action: Action) -> bool:
    return status in RULES[action][0]


def next_status(reservation_id: str, status: Status, action: Action) -> Status:
    sources, target = RULES[action]
    if status not in sources:
        raise InvalidTransition(reservation_id, status, action)
    return status if target is None else target
