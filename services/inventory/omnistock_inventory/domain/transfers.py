"""Transfers: units moved from one location to another, all-or-nothing per transfer.

A transfer is a draft until it ships. Shipping takes every line's units out of on hand at the origin
at once and puts them in transit, where they show as incoming at the destination; a draft may be
cancelled, a shipped transfer may not (its units are on the road). Receiving closes every line: the
good units go on hand at the destination, and whatever differs from what was shipped is booked
explicitly as damaged (written off), short (lost on the way) or over (more arrived than was shipped,
on hand all the same). A transfer's units are therefore counted exactly once on every line:

    shipped + over == received + damaged + short
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from omnistock_platform.errors import FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation, Reason

# A transfer moves a handful of SKUs; more lines than this is a mistake or an attack, not a transfer.
MAX_LINES = 500


class TransferStatus(StrEnum):
    DRAFT = "draft"
    SHIPPED = "shipped"
    RECEIVED = "received"
    CANCELLED = "cancelled"


# The one status each action may start from; everything else is refused as INVALID_STATE.
_ALLOWED_FROM: dict[str, TransferStatus] = {
    "ship": TransferStatus.DRAFT,
    "cancel": TransferStatus.DRAFT,
    "receive": TransferStatus.SHIPPED,
}


def ensure_can(action: str, status: TransferStatus, transfer_id: str) -> None:
    """Refuses `action` (ship, cancel, receive) unless the transfer is in the status it starts from."""
    wanted = _ALLOWED_FROM[action]
    if status is not wanted:
        raise FailedPrecondition(
            f"transfer {transfer_id} is {status.value}; {action} needs a {wanted.value} transfer",
            [PreconditionViolation("TRANSFER_STATE", transfer_id, f"transfer is {status.value}")],
            reason=Reason.INVALID_STATE,
        )


def lead_days(table: str) -> dict[tuple[str, str], int]:
    """The lead times of pairs of locations from their setting: "origin>destination=days,..."."""
    found: dict[tuple[str, str], int] = {}
    for entry in filter(None, (part.strip() for part in table.split(","))):
        pair, _, days = entry.partition("=")
        origin, _, destination = pair.partition(">")
        if not origin.strip() or not destination.strip() or not days.strip().isdigit():
            raise ValueError(f"transfer lead time {entry!r} is not origin>destination=days")
        found[(origin.strip(), destination.strip())] = int(days)
    return found


def lead_time(
    origin_id: str,
    origin_kind: str,
    destination_id: str,
    pairs: Mapping[tuple[str, str], int],
    by_kind: Mapping[str, int],
) -> timedelta:
    """How long a transfer from origin to destination takes: the pair's own figure, else the origin kind's."""
    days = pairs.get((origin_id, destination_id), by_kind.get(origin_kind, max(by_kind.values(), default=0)))
    return timedelta(days=days)


@dataclass(frozen=True)
class LeadTimes:
    """The transfer lead times of the settings: per pair of locations, else per origin kind."""

    pairs: Mapping[tuple[str, str], int]
    by_kind: Mapping[str, int]

    def of(self, origin_id: str, origin_kind: str, destination_id: str) -> timedelta:
        return lead_time(origin_id, origin_kind, destination_id, self.pairs, self.by_kind)


@dataclass(frozen=True)
class TransferLine:
    sku: str
    quantity: int


def validate_draft(origin_id: str, destination_id: str, lines: Iterable[TransferLine]) -> list[TransferLine]:
    """The lines of a new transfer, checked as a whole: every problem is named by its field at once."""
    all_lines = list(lines)
    violations: list[FieldViolation] = []
    if not origin_id:
        violations.append(FieldViolation("origin_location_id", "is required"))
    if not destination_id:
        violations.append(FieldViolation("destination_location_id", "is required"))
    if origin_id and origin_id == destination_id:
        violations.append(FieldViolation("destination_location_id", "must differ from the origin"))
    if not all_lines:
        violations.append(FieldViolation("lines", "a transfer needs at least one line"))
    if len(all_lines) > MAX_LINES:
        violations.append(FieldViolation("lines", f"at most {MAX_LINES} lines per transfer"))
    seen: set[str] = set()
    for index, line in enumerate(all_lines[:MAX_LINES]):
        if not line.sku:
            violations.append(FieldViolation(f"lines[{index}].sku", "is required"))
        elif line.sku in seen:
            violations.append(FieldViolation(f"lines[{index}].sku", f"{line.sku} appears twice; give it one line"))
        seen.add(line.sku)
        if line.quantity <= 0:
            violations.append(FieldViolation(f"lines[{index}].quantity", "must be positive"))
    if violations:
        raise InvalidArgument(violations)
    # Sorted by SKU: the order stock rows are locked in when the transfer ships or is received.
    return sorted(all_lines, key=lambda line: line.sku)


@dataclass(frozen=True)
class Arrival:
    """What the destination found of one SKU: good units and damaged ones."""

    sku: str
    received: int
    damaged: int = 0


@dataclass(frozen=True)
class LineReceipt:
    """How one shipped line closes. Only `received` and `over` go on hand at the destination
    (`over` is part of `received`); `damaged` and `short` leave the books as written off."""

    sku: str
    shipped: int
    received: int
    damaged: int
    short: int
    over: int

    @property
    def written_off(self) -> int:
        return self.damaged + self.short


def book_receipt(shipped: Mapping[str, int], arrivals: Iterable[Arrival]) -> list[LineReceipt]:
    """Closes every shipped line with what arrived. A shipped line nobody reported arrived short in
    full; a SKU that was not shipped cannot be received on this transfer, nor more damaged units of a
    SKU than were shipped (over is good units beyond the shipment: part of received). All-or-nothing:
    any bad arrival refuses the whole receipt."""
    violations: list[FieldViolation] = []
    found: dict[str, Arrival] = {}
    for index, arrival in enumerate(arrivals):
        if arrival.sku not in shipped:
            violations.append(FieldViolation(f"lines[{index}].sku", f"{arrival.sku} was not shipped on this transfer"))
        elif arrival.sku in found:
            violations.append(FieldViolation(f"lines[{index}].sku", f"{arrival.sku} appears twice; give it one line"))
        if arrival.received < 0:
            violations.append(FieldViolation(f"lines[{index}].received", "must not be negative"))
        if arrival.damaged < 0:
            violations.append(FieldViolation(f"lines[{index}].damaged", "must not be negative"))
        elif arrival.sku in shipped and arrival.damaged > shipped[arrival.sku]:
            # Damaged units are written off from what was shipped: more than that cannot have been
            # booked, and the excess would pass for good units over (on hand) that never went on hand.
            violations.append(
                FieldViolation(
                    f"lines[{index}].damaged",
                    f"at most {shipped[arrival.sku]}, the units of {arrival.sku} shipped: damaged units are"
                    " written off from the shipment",
                )
            )
        found.setdefault(arrival.sku, arrival)
    if violations:
        raise InvalidArgument(violations)
    receipts = []
    for sku, quantity in sorted(shipped.items()):
        arrival = found.get(sku, Arrival(sku, 0, 0))
        arrived = arrival.received + arrival.damaged
        receipts.append(
            LineReceipt(
                sku=sku,
                shipped=quantity,
                received=arrival.received,
                damaged=arrival.damaged,
                short=max(0, quantity - arrived),
                over=max(0, arrived - quantity),
            )
        )
    return receipts


@dataclass(frozen=True)
class TransitLine:
    """One line of a transfer as the books see it, for the in-transit invariant."""

    transfer_id: str
    destination_id: str
    sku: str
    status: TransferStatus
    shipped: int
    received: int
    damaged: int
    short: int
    over: int


def in_transit(line: TransitLine) -> int:
    """Units of this line still on the road: all shipped units until the transfer is received."""
    return line.shipped if line.status is TransferStatus.SHIPPED else 0


def transit_problems(lines: Iterable[TransitLine], figures: Mapping[tuple[str, str], int]) -> list[tuple[str, str]]:
    """(subject, detail) per violation of "units in transit are counted once": every line balances,
    and the in-transit figure of each (destination, sku) equals the sum of its open lines."""
    problems: list[tuple[str, str]] = []
    expected: dict[tuple[str, str], int] = {}
    for line in lines:
        key = (line.destination_id, line.sku)
        expected[key] = expected.get(key, 0) + in_transit(line)
        balanced = line.shipped + line.over == line.received + line.damaged + line.short
        if line.status is TransferStatus.RECEIVED and not balanced:
            problems.append(
                (
                    f"{line.transfer_id}/{line.sku}",
                    f"shipped {line.shipped} + over {line.over} != received {line.received} + damaged "
                    f"{line.damaged} + short {line.short}",
                )
            )
    for key in sorted(set(expected) | set(figures)):
        want, have = expected.get(key, 0), figures.get(key, 0)
        if want != have:
            problems.append((f"{key[0]}/{key[1]}", f"in transit {have}, open transfers say {want}"))
    return problems
