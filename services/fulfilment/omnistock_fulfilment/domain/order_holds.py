"""What fulfilment knows of an order from its newest event: which of its work waits, and why, and
what each of its allocations holds.

Orders owns the holds and the allocations; fulfilment follows them from the order's events. Every
event carries the order as it was then, so the newest event (by the order's updated_at) is the
truth. An older one can still be handled after it (a retry waits while later events go ahead, and
copies of the service share the events): it changes no hold, and the tasks it makes or changes are
made as the newest event says. A task waits while an active hold covers its allocation or the whole
order; a task on hold takes no step (withdrawal aside: a cancelled order's work is withdrawn).
"""

from __future__ import annotations

from collections.abc import Mapping
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


Lines = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class HeldAllocation:
    """An allocation while it holds units: where, on which hold, and its (SKU, units)."""

    location_id: str
    hold_id: str
    lines: Lines


@dataclass(frozen=True)
class OrderHolds:
    order_id: str
    version: datetime
    holds: tuple[ActiveHold, ...]
    # The order is completed or cancelled: nothing of it waits any more (its work is withdrawn).
    over: bool = False
    # Each allocation while it is held, None once it is not; None for the whole mapping where it is
    # not known (kept before fulfilment kept allocations).
    allocations: Mapping[str, HeldAllocation | None] | None = None
    # When this state promised the customer the goods; None when it promised nothing (or it is not known).
    promised_at: datetime | None = None

    def reason_for(self, allocation_id: str) -> str:
        """Why the allocation's work waits; "" when nothing holds it."""
        return next((hold.reason for hold in self.holds if hold.allocation_id in ("", allocation_id)), "")

    def lines_now(self, allocation_id: str, said: Lines | None) -> Lines | None:
        """The allocation's lines as this state says (None: it holds nothing any more); what an
        event `said` of it where this state does not know it."""
        if self.allocations is None or allocation_id not in self.allocations:
            return said
        held = self.allocations[allocation_id]
        return held.lines if held is not None else None

    def held_beside(self, allocation_id: str) -> dict[str, int]:
        """Units (by SKU) the order's other held allocations take on the same hold at the same
        location as this one; nothing where that is not known."""
        mine = (self.allocations or {}).get(allocation_id)
        beside: dict[str, int] = {}
        if mine is None:
            return beside
        for other_id, other in (self.allocations or {}).items():
            if other is None or other_id == allocation_id:
                continue
            if (other.location_id, other.hold_id) != (mine.location_id, mine.hold_id):
                continue
            for sku, units in other.lines:
                beside[sku] = beside.get(sku, 0) + units
        return beside

    def state(self) -> dict[str, Any]:
        """As JSON: what is kept of the order as the newest state heard (`over` is not: an order over
        has no holds, and its work is withdrawn)."""
        allocations = self.allocations
        return {
            "holds": [{"allocation_id": hold.allocation_id, "reason": hold.reason} for hold in self.holds],
            "allocations": (
                {allocation_id: _held_state(held) for allocation_id, held in allocations.items()}
                if allocations is not None
                else None
            ),
            "promised_at": self.promised_at.isoformat() if self.promised_at is not None else None,
        }

    @classmethod
    def from_state(cls, order_id: str, version: datetime, state: Mapping[str, Any]) -> OrderHolds:
        allocations: Mapping[str, Any] | None = state.get("allocations")
        promised_at = state.get("promised_at")
        return cls(
            order_id,
            version,
            tuple(ActiveHold(str(h["allocation_id"]), str(h["reason"])) for h in state["holds"]),
            allocations=(
                {str(allocation_id): _held(held) for allocation_id, held in allocations.items()}
                if allocations is not None
                else None
            ),
            promised_at=datetime.fromisoformat(promised_at) if promised_at else None,
        )


def _held_state(held: HeldAllocation | None) -> dict[str, Any] | None:
    if held is None:
        return None
    return {"location_id": held.location_id, "hold_id": held.hold_id, "lines": [list(line) for line in held.lines]}


def _held(data: Mapping[str, Any] | None) -> HeldAllocation | None:
    if data is None:
        return None
    lines = tuple((str(sku), int(units)) for sku, units in data["lines"])
    return HeldAllocation(str(data["location_id"]), str(data["hold_id"]), lines)


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
