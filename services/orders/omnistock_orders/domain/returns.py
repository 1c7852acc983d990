"""Returns: units a customer brings back to a store or sends by post, and what inspection finds.

A return is authorised for units that reached the customer: per SKU, never more than the order
fulfilled less what its other returns (cancelled ones aside) already cover. Received, every unit
of every line gets one condition:

    quantity == restocked + damaged + written_off

Restocked units go back on hand at the receiving location; damaged ones are booked in and out
again so that the ledger explains them; written-off ones change no stock. A return moves only
forward: AUTHORISED to RECEIVED or CANCELLED, never back.

A set (a bundle SKU) has no stock of its own: it comes back as its parts, either one by one (a line
of a component) or whole, by the set's SKU. A whole set is kept on the return as a set (`ReturnSet`)
and stands for its parts, which are among the return's lines beside any parts returned singly: the
lines are always the physical units that move stock, so the quantity rule and the ledger count parts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from omnistock_platform.errors import FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation, Reason
from omnistock_platform.sets import components as set_components
from omnistock_platform.sets import expand


class ReturnStatus(StrEnum):
    AUTHORISED = "authorised"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class Condition(StrEnum):
    RESTOCK = "restock"
    DAMAGED = "damaged"
    WRITE_OFF = "write_off"


@dataclass(frozen=True)
class ReturnLine:
    sku: str
    quantity: int
    restocked: int = 0
    damaged: int = 0
    written_off: int = 0

    def units(self, condition: Condition) -> int:
        return {
            Condition.RESTOCK: self.restocked,
            Condition.DAMAGED: self.damaged,
            Condition.WRITE_OFF: self.written_off,
        }[condition]


@dataclass(frozen=True)
class ReturnSet:
    """Whole sets returned by the set's SKU; their parts are among the return's lines. The conditions
    count sets inspected by the set's SKU (every part of them in that condition)."""

    sku: str
    quantity: int
    components: tuple[tuple[str, int], ...]
    restocked: int = 0
    damaged: int = 0
    written_off: int = 0

    def parts(self, sets: int | None = None) -> dict[str, int]:
        count = self.quantity if sets is None else sets
        return {part: count * per_set for part, per_set in self.components}


@dataclass(frozen=True)
class Return:
    return_id: str
    order_id: str
    channel: str
    customer_id: str
    location_id: str
    by_post: bool
    reason: str
    status: ReturnStatus
    lines: tuple[ReturnLine, ...]
    created_at: datetime | None = None
    updated_at: datetime | None = None
    received_at: datetime | None = None
    received_by: str = ""
    cancel_reason: str = ""
    sets: tuple[ReturnSet, ...] = ()

    def quantities(self) -> dict[str, int]:
        return {line.sku: line.quantity for line in self.lines}

    def sets_of(self, part: str) -> str:
        """The sets of the return a part belongs to, as a note says it ("1 SOFA-SET"), or ""."""
        return ", ".join(f"{found.quantity} {found.sku}" for found in self.sets if part in dict(found.components))


@dataclass(frozen=True)
class Inspected:
    sku: str
    condition: Condition
    quantity: int


def as_components(fulfilled: Mapping[str, int], definitions: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The units delivered per SKU, a set's (a bundle SKU with its `definitions`) counted as its
    components' units: a set comes back part by part, each part to its own stock row, as a SKU
    sold alone does."""
    return expand(fulfilled, definitions)


def asked(
    wanted: Mapping[str, int], definitions: Mapping[str, Mapping[str, int]]
) -> tuple[tuple[ReturnLine, ...], tuple[ReturnSet, ...]]:
    """The lines (parts, per SKU) and the whole sets of a return asked for by `wanted`, where a SKU
    with `definitions` is a set standing for its components; a part named alone and in a set is one
    line of their total."""
    sets = tuple(
        ReturnSet(sku, quantity, tuple(found.items()))
        for sku, quantity in wanted.items()
        if (found := set_components(sku, definitions)) is not None
    )
    return tuple(ReturnLine(sku, quantity) for sku, quantity in expand(wanted, definitions).items()), sets


def returnable(fulfilled: Mapping[str, int], earlier: Iterable[Return]) -> dict[str, int]:
    """Units of each SKU that may still come back: fulfilled, less what live returns cover. With
    `fulfilled` as parts (`as_components`) it counts parts; with the delivered sets it counts the sets
    still returnable by their SKU."""
    return _less_live(fulfilled, earlier, lambda other: other.lines)


def sets_returnable(delivered: Mapping[str, int], earlier: Iterable[Return]) -> dict[str, int]:
    """Sets of each bundle SKU that were delivered, less the whole sets live returns already cover."""
    return _less_live(delivered, earlier, lambda other: other.sets)


def _less_live(
    start: Mapping[str, int], earlier: Iterable[Return], covered: Callable[[Return], Iterable[ReturnLine | ReturnSet]]
) -> dict[str, int]:
    """`start` per SKU less what each live (not cancelled) return of `earlier` covers of it."""
    left = dict(start)
    for other in earlier:
        if other.status is ReturnStatus.CANCELLED:
            continue
        for item in covered(other):
            left[item.sku] = left.get(item.sku, 0) - item.quantity
    return left


def check_returnable(
    lines: Iterable[ReturnLine],
    sets: Iterable[ReturnSet],
    left: Mapping[str, int],
    sets_left: Mapping[str, int],
    order_id: str,
) -> None:
    """No more parts than delivered and not yet returned, all lines of the return together; a whole set
    only while the order delivered that many sets not yet returned whole and every part of it is still
    returnable."""
    violations = []
    for found in sets:
        whole = min(
            [sets_left.get(found.sku, 0)] + [left.get(part, 0) // per_set for part, per_set in found.components]
        )
        if found.quantity > whole:
            violations.append(
                PreconditionViolation(
                    "RETURN_QUANTITY",
                    found.sku,
                    f"{found.quantity} sets asked, at most {max(0, whole)} whole sets may still be returned",
                )
            )
    violations += [
        PreconditionViolation(
            "RETURN_QUANTITY",
            line.sku,
            f"{line.quantity} asked, at most {max(0, left.get(line.sku, 0))} may still be returned",
        )
        for line in sorted(lines, key=lambda line: line.sku)
        if line.quantity > left.get(line.sku, 0)
    ]
    if violations:
        raise FailedPrecondition(
            f"order {order_id} did not deliver that many units not already returned: "
            + "; ".join(f"{v.subject}: {v.description}" for v in violations),
            violations,
        )


def require_status(found: Return, *allowed: ReturnStatus) -> None:
    if found.status not in allowed:
        raise FailedPrecondition(
            f"return {found.return_id} is {found.status.value}",
            [PreconditionViolation("RETURN_STATUS", found.return_id, f"is {found.status.value}")],
            reason=Reason.INVALID_STATE,
        )


def inspect(
    found: Return, inspected: Iterable[Inspected], field: str
) -> tuple[tuple[ReturnLine, ...], tuple[ReturnSet, ...]]:
    """The return's lines and sets with the conditions found; every unit of every line gets exactly one.
    A condition given for a set's SKU applies to every part of that many sets; the parts not covered so
    are inspected by their own SKU."""
    by_sku: dict[str, dict[Condition, int]] = {}
    violations: list[FieldViolation] = []
    for index, entry in enumerate(inspected):
        conditions = by_sku.setdefault(entry.sku, {})
        if entry.condition in conditions:
            violations.append(FieldViolation(f"{field}[{index}]", f"{entry.sku} {entry.condition.value} given twice"))
        conditions[entry.condition] = conditions.get(entry.condition, 0) + entry.quantity
    quantities = found.quantities()
    set_skus = {item.sku for item in found.sets}
    for sku in sorted(by_sku.keys() - quantities.keys() - set_skus):
        violations.append(FieldViolation(field, f"{sku} is not a line of return {found.return_id}"))
    # A part's conditions: its own, and those of the sets it belongs to, by its units per set.
    parts: dict[str, dict[Condition, int]] = {sku: dict(by_sku.get(sku, {})) for sku in quantities}
    sets = []
    for item in found.sets:
        conditions = by_sku.get(item.sku, {})
        covered = sum(conditions.values())
        if covered > item.quantity:
            violations.append(
                FieldViolation(field, f"{item.sku}: {covered} sets inspected, the return has {item.quantity}")
            )
        for condition, count in conditions.items():
            for part, units in item.parts(count).items():
                parts[part][condition] = parts[part].get(condition, 0) + units
        sets.append(
            replace(
                item,
                restocked=conditions.get(Condition.RESTOCK, 0),
                damaged=conditions.get(Condition.DAMAGED, 0),
                written_off=conditions.get(Condition.WRITE_OFF, 0),
            )
        )
    lines = []
    for line in found.lines:
        conditions = parts[line.sku]
        covered = sum(conditions.values())
        if covered != line.quantity:
            violations.append(
                FieldViolation(field, f"{line.sku}: {covered} units inspected, the return has {line.quantity}")
            )
        lines.append(
            replace(
                line,
                restocked=conditions.get(Condition.RESTOCK, 0),
                damaged=conditions.get(Condition.DAMAGED, 0),
                written_off=conditions.get(Condition.WRITE_OFF, 0),
            )
        )
    if violations:
        raise InvalidArgument(violations)
    return tuple(lines), tuple(sets)


def receive(
    found: Return,
    inspected: tuple[tuple[ReturnLine, ...], tuple[ReturnSet, ...]],
    received_by: str,
    at: datetime,
) -> Return:
    """The return received with these conditions; receiving it again with the same ones changes nothing."""
    lines, sets = inspected
    if found.status is ReturnStatus.RECEIVED:
        if found.lines != lines or found.sets != sets:
            raise FailedPrecondition(
                f"return {found.return_id} was received with other conditions",
                [PreconditionViolation("RETURN_STATUS", found.return_id, "received with other conditions")],
                reason=Reason.INVALID_STATE,
            )
        return found
    require_status(found, ReturnStatus.AUTHORISED)
    return replace(found, status=ReturnStatus.RECEIVED, lines=lines, sets=sets, received_by=received_by, received_at=at)


def cancel(found: Return, reason: str) -> Return:
    if found.status is ReturnStatus.CANCELLED:
        return found
    require_status(found, ReturnStatus.AUTHORISED)
    return replace(found, status=ReturnStatus.CANCELLED, cancel_reason=reason)
