"""Holds: units set aside for one owner, all-or-nothing, until committed, released or expired."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from omnistock_platform.errors import FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation, Reason


class HoldState(StrEnum):
    ACTIVE = "active"
    RELEASED = "released"
    COMMITTED = "committed"
    EXPIRED = "expired"


@dataclass(frozen=True, order=True)
class LineKey:
    """Rows are always locked in this order, so concurrent holds never deadlock."""

    location_id: str
    sku: str


@dataclass
class HoldLine:
    key: LineKey
    quantity: int
    committed: int = 0
    released: int = 0

    @property
    def open(self) -> int:
        return self.quantity - self.committed - self.released


def merge_lines(lines: Iterable[tuple[str, str, int]]) -> list[tuple[LineKey, int]]:
    """Same (location, sku) twice is one line; the result is in lock order."""
    totals: dict[LineKey, int] = defaultdict(int)
    for location_id, sku, quantity in lines:
        totals[LineKey(location_id, sku)] += quantity
    return sorted(totals.items())


def ensure_active(state: HoldState, hold_id: str) -> None:
    if state is not HoldState.ACTIVE:
        raise FailedPrecondition(
            f"hold {hold_id} is {state.value}, not active",
            [PreconditionViolation("HOLD_STATE", hold_id, f"hold is {state.value}")],
            reason=Reason.INVALID_STATE,
        )


def ensure_owner(owner: str, expected: str, hold_id: str) -> None:
    """`expected` empty: any owner. Otherwise the hold must still be the caller's: a reservation's
    hold transferred to an order meanwhile is the order's, and the reservation's late cancel or
    collect must not release or sell it."""
    if expected and owner != expected:
        raise FailedPrecondition(
            f"hold {hold_id} belongs to {owner!r}, not {expected!r}",
            [PreconditionViolation("HOLD_OWNER", hold_id, "owner differs")],
        )


def take_from_open(
    lines: dict[LineKey, HoldLine], wanted: list[tuple[LineKey, int]] | None
) -> list[tuple[LineKey, int]]:
    """The quantities a commit or release applies to: everything open, or the
    requested part of it (refused when more than is open)."""
    if not wanted:
        return [(key, line.open) for key, line in sorted(lines.items()) if line.open > 0]
    violations = []
    for index, (key, quantity) in enumerate(wanted):
        line = lines.get(key)
        if line is None:
            violations.append(FieldViolation(f"lines[{index}]", f"{key.sku} at {key.location_id} is not in this hold"))
        elif quantity > line.open:
            violations.append(
                FieldViolation(f"lines[{index}].quantity", f"only {line.open} of {key.sku} are open in this hold")
            )
    if violations:
        raise InvalidArgument(violations)
    return wanted


def settled_state(lines: Iterable[HoldLine]) -> HoldState:
    """The state of a hold once nothing is open: committed if anything was sold."""
    all_lines = list(lines)
    if any(line.open > 0 for line in all_lines):
        return HoldState.ACTIVE
    return HoldState.COMMITTED if any(line.committed > 0 for line in all_lines) else HoldState.RELEASED
