"""A task: work staff do at one location, and the rules of how it may move on.

Two kinds of work exist. A *pick* task picks, packs and ships one order
allocation; a *pickup preparation* task fetches a reservation's items and puts
them at the pickup desk until the customer collects them. A task only ever moves
forward, and a task that is finished (shipped, handed over, withdrawn) never
moves again, so a late or repeated instruction can not undo real-world work.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import ClassVar

from omnistock_platform.errors import FailedPrecondition, PreconditionViolation, Reason
from omnistock_platform.owners import order_owner, reservation_owner


class TaskKind(Enum):
    PICK = "pick"
    PICKUP_PREPARATION = "pickup_preparation"


class TaskStatus(Enum):
    OPEN = "open"
    PICKING = "picking"
    PICKED = "picked"
    PACKED = "packed"
    SHIPPED = "shipped"
    READY_FOR_PICKUP = "ready_for_pickup"
    HANDED_OVER = "handed_over"
    WITHDRAWN = "withdrawn"


class Method(Enum):
    UNSPECIFIED = "unspecified"
    SHIP = "ship"
    PICKUP = "pickup"
    CARRY_OUT = "carry_out"


class Action(Enum):
    START_PICKING = "start_picking"
    CONFIRM_PICK = "confirm_pick"
    PACK = "pack"
    SHIP = "ship"
    MARK_READY = "mark_ready"
    HAND_OVER = "hand_over"
    WITHDRAW = "withdraw"


FINISHED = frozenset({TaskStatus.SHIPPED, TaskStatus.HANDED_OVER, TaskStatus.WITHDRAWN})
# Statuses a worker still has something to do in: what a location's task list shows.
ACTIVE = frozenset(TaskStatus) - FINISHED

_S = TaskStatus
_TRANSITIONS: dict[TaskKind, dict[Action, tuple[frozenset[TaskStatus], TaskStatus]]] = {
    TaskKind.PICK: {
        Action.START_PICKING: (frozenset({_S.OPEN}), _S.PICKING),
        # Staff may confirm straight from the list without pressing "start" first.
        Action.CONFIRM_PICK: (frozenset({_S.OPEN, _S.PICKING}), _S.PICKED),
        Action.PACK: (frozenset({_S.PICKED}), _S.PACKED),
        Action.SHIP: (frozenset({_S.PACKED}), _S.SHIPPED),
        Action.WITHDRAW: (frozenset({_S.OPEN, _S.PICKING, _S.PICKED, _S.PACKED}), _S.WITHDRAWN),
    },
    TaskKind.PICKUP_PREPARATION: {
        Action.START_PICKING: (frozenset({_S.OPEN}), _S.PICKING),
        Action.MARK_READY: (frozenset({_S.OPEN, _S.PICKING}), _S.READY_FOR_PICKUP),
        # The customer may turn up before staff pressed "ready": the code still completes the sale.
        Action.HAND_OVER: (frozenset({_S.OPEN, _S.PICKING, _S.READY_FOR_PICKUP}), _S.HANDED_OVER),
        Action.WITHDRAW: (frozenset({_S.OPEN, _S.PICKING, _S.READY_FOR_PICKUP}), _S.WITHDRAWN),
    },
}


class TransitionNotAllowed(FailedPrecondition):
    reasons: ClassVar[tuple[Reason, ...]] = (Reason.INVALID_STATE,)

    def __init__(self, kind: TaskKind, status: TaskStatus, action: Action, note: str = "") -> None:
        self.kind = kind
        self.status = status
        self.action = action
        if action not in _TRANSITIONS[kind]:
            # Never, in any status: saying "that is open" would send staff to wait for another one.
            others = [other for other in TaskKind if action in _TRANSITIONS[other]]
            only = f": only a {_KIND_WORDS[others[0]]} is" if others else ""
            super().__init__(
                f"a {_KIND_WORDS[kind]} is never {_DONE_WORDS[action]}{only}{_KIND_HINTS[kind]}",
                [PreconditionViolation("TASK_KIND", action.value, f"task is a {_KIND_WORDS[kind]}")],
            )
            return
        super().__init__(
            f"a {kind.value} task that is {status.value} can not {action.value.replace('_', ' ')}"
            + (f"; {note}" if note else ""),
            [PreconditionViolation("TASK_STATUS", action.value, f"task is {status.value}")],
        )


_KIND_WORDS = {TaskKind.PICK: "pick task", TaskKind.PICKUP_PREPARATION: "pickup preparation"}
# What staff do with a task of the kind instead.
_KIND_HINTS = {
    TaskKind.PICK: "; an order's task is picked, packed and shipped (a pickup order's is shipped as it is handed over)",
    TaskKind.PICKUP_PREPARATION: "; a reservation's is marked ready, then handed over with the customer's code",
}
_DONE_WORDS = {
    Action.START_PICKING: "started",
    Action.CONFIRM_PICK: "confirmed as picked",
    Action.PACK: "packed",
    Action.SHIP: "shipped",
    Action.MARK_READY: "marked ready for pickup",
    Action.HAND_OVER: "handed over at the pickup desk",
    Action.WITHDRAW: "withdrawn",
}


def allowed_from(kind: TaskKind, action: Action) -> frozenset[TaskStatus]:
    rule = _TRANSITIONS[kind].get(action)
    return rule[0] if rule else frozenset()


def next_status(kind: TaskKind, status: TaskStatus, action: Action) -> TaskStatus:
    """Where `action` takes a task of `kind` that is `status`; raises when it may not."""
    rule = _TRANSITIONS[kind].get(action)
    if rule is None or status not in rule[0]:
        raise TransitionNotAllowed(kind, status, action)
    return rule[1]


@dataclass(frozen=True)
class TaskLine:
    sku: str
    quantity: int
    picked: int = 0
    # For a bundle SKU: (component SKU, units in one set), by SKU; quantity and picked count sets.
    components: tuple[tuple[str, int], ...] = ()

    @property
    def missing(self) -> int:
        return self.quantity - self.picked


@dataclass(frozen=True)
class Task:
    task_id: str
    kind: TaskKind
    location_id: str
    status: TaskStatus
    lines: tuple[TaskLine, ...]
    promise_at: datetime
    order_id: str = ""
    allocation_id: str = ""
    reservation_id: str = ""
    hold_id: str = ""
    pickup_code: str = ""
    method: Method = Method.UNSPECIFIED
    carrier: str = ""
    tracking_number: str = ""
    withdrawn_reason: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Why the task's order waits (a fulfilment hold, domain.order_holds); "" when it does not.
    hold_reason: str = ""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def source_key(self) -> str:
        """What the task was made for; one task per kind and source, however often it is announced."""
        return source_key(
            self.kind, order_id=self.order_id, allocation_id=self.allocation_id, reservation_id=self.reservation_id
        )

    def can(self, action: Action) -> bool:
        return self.status in allowed_from(self.kind, action)

    def apply(self, action: Action, **changes: object) -> Task:
        """The task after `action`; `changes` sets the fields the action records (lines, carrier, ...)."""
        status = next_status(self.kind, self.status, action)
        return dataclasses.replace(self, status=status, **changes)  # type: ignore[arg-type]

    def picked_lines(self) -> dict[str, int]:
        """SKU -> units actually picked, for the lines where anything was found."""
        return {line.sku: line.picked for line in self.lines if line.picked > 0}


def source_key(kind: TaskKind, *, order_id: str = "", allocation_id: str = "", reservation_id: str = "") -> str:
    if kind is TaskKind.PICK:
        return f"{order_owner(order_id)}/allocation:{allocation_id}"
    return reservation_owner(reservation_id)


@dataclass(frozen=True)
class PickResult:
    lines: tuple[TaskLine, ...]
    # SKU -> units the location did not have; empty when everything was found.
    short: dict[str, int]

    @property
    def nothing_found(self) -> bool:
        return all(line.picked == 0 for line in self.lines)


class InvalidPick(ValueError):
    def __init__(self, sku: str, reason: str) -> None:
        self.sku = sku
        self.reason = reason
        super().__init__(f"{sku}: {reason}")


def record_pick(lines: tuple[TaskLine, ...], found: Mapping[str, int]) -> PickResult:
    """The lines with what was found; a SKU not mentioned in `found` was found in full."""
    wanted = {line.sku: line.quantity for line in lines}
    for sku, quantity in found.items():
        if sku not in wanted:
            raise InvalidPick(sku, "is not on this task")
        if not 0 <= quantity <= wanted[sku]:
            raise InvalidPick(sku, f"must be between 0 and {wanted[sku]}")
    picked = tuple(dataclasses.replace(line, picked=found.get(line.sku, line.quantity)) for line in lines)
    short = {line.sku: line.missing for line in picked if line.missing > 0}
    return PickResult(picked, short)


def with_components(lines: tuple[TaskLine, ...], bundles: Mapping[str, Mapping[str, int]]) -> tuple[TaskLine, ...]:
    """The lines, each bundle SKU's with the components to fetch for it."""
    return tuple(
        dataclasses.replace(line, components=tuple(sorted(bundles[line.sku].items()))) if line.sku in bundles else line
        for line in lines
    )


def merge_lines(lines: list[tuple[str, int]]) -> tuple[TaskLine, ...]:
    """One line per SKU, in the order the SKUs first appear; empty quantities dropped."""
    totals: dict[str, int] = {}
    for sku, quantity in lines:
        totals[sku] = totals.get(sku, 0) + quantity
    return tuple(TaskLine(sku, quantity) for sku, quantity in totals.items() if quantity > 0)


# Why a task is withdrawn by its own pick: nothing at all was found.
NOTHING_FOUND = "short pick: nothing found"


def confirm_pick(task: Task, found: Mapping[str, int]) -> tuple[Task, PickResult]:
    """Record what was found. A task where nothing at all was found has nothing left to ship: it is
    withdrawn at once, and the order is re-routed from the short-pick event like any other short."""
    next_status(task.kind, task.status, Action.CONFIRM_PICK)
    result = record_pick(task.lines, found)
    picked = task.apply(Action.CONFIRM_PICK, lines=result.lines)
    if result.nothing_found:
        picked = picked.apply(Action.WITHDRAW, withdrawn_reason=NOTHING_FOUND)
    return picked, result


def missing_after_withdrawal(task: Task, found: Mapping[str, int]) -> dict[str, int]:
    """What a pick report says is not on the shelf, for a pick task withdrawn before its pick was
    confirmed (its order cancelled or edited while staff picked it): the task is not picked, but the
    units are missing all the same. Nothing for any other task, nor for one whose pick was confirmed
    (a second report of it tells nothing new)."""
    if task.kind is not TaskKind.PICK or task.status is not TaskStatus.WITHDRAWN:
        return {}
    if task.withdrawn_reason == NOTHING_FOUND or any(line.picked for line in task.lines):
        return {}
    return record_pick(task.lines, found).short
