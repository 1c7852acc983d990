"""What fulfilment knows of an order's fulfilment holds: which of its work waits, and why.

Orders owns the holds; fulfilment follows them from the order's events. Every event carries the
order as it was then, so the newest event (by the order's updated_at) is the truth and an older one
that arrives late changes nothing. A task waits while an active hold covers its allocation or the
whole order; a task on hold takes no step (withdrawal aside: a cancelled order's work is withdrawn).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnistock_fulfilment.domain.task import Task
from omnistock_platform.errors import FailedPrecondition, PreconditionViolation, Reason


@dataclass(frozen=True)
class ActiveHold:
    # "" when it covers the whole order.
    allocation_id: str
    # payment_pending, fraud_review or address_check
    reason: str


@dataclass(frozen=True)
class OrderHolds:
    order_id: str
    version: datetime
    holds: tuple[ActiveHold, ...]
    # The order is completed or cancelled: nothing of it waits any more (its work is withdrawn).
    over: bool = False

    def reason_for(self, allocation_id: str) -> str:
        """Why the allocation's work waits; "" when nothing holds it."""
        return next((hold.reason for hold in self.holds if hold.allocation_id in ("", allocation_id)), "")

    def as_json(self) -> list[dict[str, Any]]:
        return [{"allocation_id": hold.allocation_id, "reason": hold.reason} for hold in self.holds]

    @classmethod
    def from_json(cls, order_id: str, version: datetime, data: Iterable[Mapping[str, Any]]) -> OrderHolds:
        return cls(order_id, version, tuple(ActiveHold(str(h["allocation_id"]), str(h["reason"])) for h in data))


class TaskOnHold(FailedPrecondition):
    reasons = (Reason.INVALID_STATE,)

    def __init__(self, task: Task) -> None:
        words = task.hold_reason.replace("_", " ")
        super().__init__(
            f"task {task.task_id} waits: its order {task.order_id} is on hold ({words}); it is worked once released",
            [PreconditionViolation("TASK_ON_HOLD", task.task_id, words)],
        )


def require_not_held(task: Task) -> None:
    if task.hold_reason:
        raise TaskOnHold(task)
