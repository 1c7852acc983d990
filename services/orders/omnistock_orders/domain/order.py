"""An order, its allocations and the state machine they drive.

The order's status is never set by hand: it follows from its allocations and lines
(`derive_status`), and every change is checked against `TRANSITIONS`, so no sequence of
events can move an order backwards or out of a terminal state.

Units of a line are always in exactly one place (once the order is placed):

    quantity == held + fulfilled + backordered + cancelled

where `held` is what allocations still hold and `fulfilled` what they shipped or handed over.
Units an allocation loses (a short pick, an expired hold) are replaced by new allocations,
backordered or cancelled in the same step, so that equation holds after every operation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import ClassVar

from omnistock_orders.domain.routing import Method
from omnistock_platform.errors import FailedPrecondition, PreconditionViolation, Reason


class OrderStatus(Enum):
    PENDING = "pending"
    ALLOCATED = "allocated"
    PARTIALLY_SHIPPED = "partially_shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    BACKORDERED = "backordered"


class AllocationStatus(Enum):
    HELD = "held"
    SHIPPED = "shipped"
    HANDED_OVER = "handed_over"
    SHORT = "short"
    CANCELLED = "cancelled"


_S = OrderStatus
TERMINAL = frozenset({_S.COMPLETED, _S.CANCELLED})
TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING: frozenset({_S.ALLOCATED, _S.BACKORDERED, _S.COMPLETED, _S.CANCELLED}),
    _S.ALLOCATED: frozenset({_S.PARTIALLY_SHIPPED, _S.BACKORDERED, _S.COMPLETED, _S.CANCELLED}),
    _S.PARTIALLY_SHIPPED: frozenset({_S.BACKORDERED, _S.COMPLETED, _S.CANCELLED}),
    # Stock arriving for a backorder may allocate the order again.
    _S.BACKORDERED: frozenset({_S.ALLOCATED, _S.PARTIALLY_SHIPPED, _S.COMPLETED, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.CANCELLED: frozenset(),
}
DONE = frozenset({AllocationStatus.SHIPPED, AllocationStatus.HANDED_OVER})


class IllegalTransition(FailedPrecondition):
    reasons: ClassVar[tuple[Reason, ...]] = (Reason.INVALID_STATE,)

    def __init__(self, order_id: str, current: OrderStatus, wanted: OrderStatus) -> None:
        super().__init__(
            f"order {order_id} is {current.value} and cannot become {wanted.value}",
            [PreconditionViolation("ORDER_STATUS", order_id, f"order is {current.value}")],
        )
        self.current = current
        self.wanted = wanted


@dataclass(frozen=True)
class OrderLine:
    line_no: int
    sku: str
    quantity: int
    unit_price_minor: int = 0
    currency: str = ""
    backordered: int = 0
    cancelled: int = 0
    # A set's components when the order was placed, units of each per set; empty for a plain SKU.
    components: tuple[tuple[str, int], ...] = ()
    # The split set (`OrderSet.sku`) this line is a part of; empty for a line of its own.
    part_of: str = ""


@dataclass(frozen=True)
class OrderSet:
    """A splittable set the order takes as its parts: one part line per component, each with
    `quantity` times its units per set, routed like any line (so from any locations). The set is
    priced here, its part lines at 0, so the order's total counts it once."""

    sku: str
    quantity: int
    unit_price_minor: int
    currency: str
    components: tuple[tuple[str, int], ...]

    def whole(self, units: Mapping[str, int]) -> int:
        """The whole sets `units` (per part SKU) make: the least over its parts of units ÷ units per set."""
        return min((units.get(part, 0) // per_set for part, per_set in self.components), default=0)


@dataclass(frozen=True)
class Allocation:
    """Units one location holds for the order under one inventory hold."""

    allocation_id: str
    location_id: str
    hold_id: str
    lines: Mapping[str, int]
    status: AllocationStatus = AllocationStatus.HELD
    distance_km: float | None = None

    @property
    def held(self) -> bool:
        return self.status is AllocationStatus.HELD


@dataclass(frozen=True)
class Order:
    order_id: str
    method: Method
    lines: tuple[OrderLine, ...]
    status: OrderStatus = OrderStatus.PENDING
    allocations: tuple[Allocation, ...] = field(default_factory=tuple)
    sets: tuple[OrderSet, ...] = ()

    def line(self, sku: str) -> OrderLine:
        for line in self.lines:
            if line.sku == sku:
                return line
        raise KeyError(sku)

    def allocation(self, allocation_id: str) -> Allocation | None:
        return next((a for a in self.allocations if a.allocation_id == allocation_id), None)

    @property
    def wanted(self) -> dict[str, int]:
        return {line.sku: line.quantity for line in self.lines}

    def held_units(self) -> dict[str, int]:
        return _sum_lines(a for a in self.allocations if a.held)

    def fulfilled_units(self) -> dict[str, int]:
        return _sum_lines(a for a in self.allocations if a.status in DONE)

    @property
    def total_minor(self) -> int:
        lines = sum(line.quantity * line.unit_price_minor for line in self.lines)
        return lines + sum(split.quantity * split.unit_price_minor for split in self.sets)

    def split_set(self, sku: str) -> OrderSet | None:
        return next((split for split in self.sets if split.sku == sku), None)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def _sum_lines(allocations: Iterable[Allocation]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for allocation in allocations:
        for sku, quantity in allocation.lines.items():
            totals[sku] = totals.get(sku, 0) + quantity
    return totals


def derive_status(order: Order, *, cancelled: bool = False) -> OrderStatus:
    """The status the allocations and lines say the order is in."""
    if cancelled or order.status is OrderStatus.CANCELLED:
        return OrderStatus.CANCELLED
    if order.status is OrderStatus.PENDING and not order.allocations and not _accounted(order):
        return OrderStatus.PENDING
    if any(line.backordered for line in order.lines):
        return OrderStatus.BACKORDERED
    shipped = any(order.fulfilled_units().values())
    if any(a.held for a in order.allocations):
        return OrderStatus.PARTIALLY_SHIPPED if shipped else OrderStatus.ALLOCATED
    return OrderStatus.COMPLETED if shipped else OrderStatus.CANCELLED


def _accounted(order: Order) -> bool:
    return any(line.backordered or line.cancelled for line in order.lines)


def _moved(before: Order, after: Order, *, cancelled: bool = False) -> Order:
    wanted = derive_status(after, cancelled=cancelled)
    if wanted is not before.status and wanted not in TRANSITIONS[before.status]:
        raise IllegalTransition(before.order_id, before.status, wanted)
    return replace(after, status=wanted)


def settle_status(before: Order, after: Order) -> Order:
    """`after` with the status its allocations and lines say, if `before` may move there."""
    return _moved(before, after)


def _require_open(order: Order) -> None:
    if order.terminal:
        raise FailedPrecondition(
            f"order {order.order_id} is {order.status.value}",
            [PreconditionViolation("ORDER_STATUS", order.order_id, f"order is {order.status.value}")],
            reason=Reason.INVALID_STATE,
        )


def _positive(quantities: Mapping[str, int]) -> dict[str, int]:
    return {sku: quantity for sku, quantity in sorted(quantities.items()) if quantity > 0}


def _account(
    lines: tuple[OrderLine, ...], unfilled: Mapping[str, int], *, cancel_unfillable: bool
) -> tuple[OrderLine, ...]:
    """Units nobody can serve: backordered, or cancelled when the retailer prefers that."""
    accounted = []
    for line in lines:
        units = unfilled.get(line.sku, 0)
        if units and cancel_unfillable:
            line = replace(line, cancelled=line.cancelled + units)
        elif units:
            line = replace(line, backordered=line.backordered + units)
        accounted.append(line)
    return tuple(accounted)


def _check_covers(wanted: Mapping[str, int], parts: Iterable[Mapping[str, int]], what: str) -> None:
    """Allocations and unfilled units must add up to exactly what was asked: no unit lost or invented."""
    totals = dict.fromkeys(wanted, 0)
    for part in parts:
        for sku, quantity in part.items():
            if sku not in totals or quantity < 0:
                raise ValueError(f"{what}: {sku} was not asked for")
            totals[sku] += quantity
    if totals != dict(wanted):
        raise ValueError(f"{what}: parts add up to {totals}, not {dict(wanted)}")


# --- operations -------------------------------------------------------------------------------


def new_order(order_id: str, method: Method, lines: Iterable[OrderLine], sets: Iterable[OrderSet] = ()) -> Order:
    ordered = tuple(lines)
    split = tuple(sets)
    if not ordered:
        raise ValueError("an order needs at least one line")
    if len({line.sku for line in ordered}) != len(ordered):
        raise ValueError("each SKU may appear on one line only")
    if any(line.quantity <= 0 for line in ordered):
        raise ValueError("quantities must be positive")
    for each in split:
        parts = {line.sku: line.quantity for line in ordered if line.part_of == each.sku}
        if parts != {part: each.quantity * per_set for part, per_set in each.components}:
            raise ValueError(f"the part lines of {each.sku} are not its components times its sets")
    if any(line.part_of and line.part_of not in {each.sku for each in split} for line in ordered):
        raise ValueError("a part line names a set the order does not have")
    return Order(order_id=order_id, method=method, lines=ordered, sets=split)


def split_sets(lines: Iterable[OrderLine], splittable: frozenset[str]) -> tuple[list[OrderLine], list[OrderSet]]:
    """The order's lines with each set of `splittable` ordered as its parts: the set is kept apart
    (with its price and components) and in its place come one part line per component, sets times units
    per set at price 0, so that routing may take each part from another location.

    A set stays whole (one line of its SKU) when a part of it is also ordered on a line of its own or
    is a part of another set split before it: one SKU has one line, and a unit of it must belong to
    one set or to none."""
    given = list(lines)
    taken = {line.sku for line in given}
    split: list[OrderSet] = []
    parts: dict[str, list[OrderLine]] = {}
    for line in given:
        if line.sku not in splittable or not line.components:
            continue
        names = [part for part, _ in line.components]
        if any(part in taken for part in names) or len(set(names)) != len(names):
            continue
        taken.update(names)
        split.append(OrderSet(line.sku, line.quantity, line.unit_price_minor, line.currency, tuple(line.components)))
        parts[line.sku] = [
            OrderLine(line_no=0, sku=part, quantity=line.quantity * per_set, currency=line.currency, part_of=line.sku)
            for part, per_set in line.components
        ]
    ordered: list[OrderLine] = []
    for line in given:
        ordered.extend(parts.get(line.sku, [line]))
    numbered = [replace(line, line_no=number) for number, line in enumerate(ordered, start=1)]
    return numbered, split


def place(
    order: Order,
    allocations: Iterable[Allocation],
    unfilled: Mapping[str, int] | None = None,
    *,
    cancel_unfillable: bool = False,
) -> Order:
    """The hold was taken: PENDING becomes ALLOCATED (or COMPLETED for a carry-out, whose
    allocation arrives already handed over; BACKORDERED when part could not be had)."""
    if order.status is not OrderStatus.PENDING:
        raise IllegalTransition(order.order_id, order.status, OrderStatus.ALLOCATED)
    made = tuple(allocations)
    missing = _positive(unfilled or {})
    _check_covers(order.wanted, [*(a.lines for a in made), missing], "placing the order")
    placed = replace(order, allocations=made, lines=_account(order.lines, missing, cancel_unfillable=cancel_unfillable))
    return _moved(order, placed)


def record_shipment(order: Order, allocation_id: str, *, handed_over: bool = False) -> Order:
    """An allocation left the building. Repeating it, or reporting a lost allocation, changes nothing."""
    allocation = order.allocation(allocation_id)
    if allocation is None or not allocation.held:
        return order
    done = AllocationStatus.HANDED_OVER if handed_over else AllocationStatus.SHIPPED
    changed = _replace_allocation(order, replace(allocation, status=done))
    return _moved(order, changed)


def shortage(order: Order, allocation_id: str, missing: Mapping[str, int]) -> dict[str, int]:
    """The units an allocation really lost: what it still holds caps what a report says is missing."""
    allocation = order.allocation(allocation_id)
    if allocation is None or not allocation.held or order.terminal:
        return {}
    return _positive({sku: min(units, allocation.lines.get(sku, 0)) for sku, units in missing.items()})


def lost_with_hold(order: Order, hold_id: str) -> dict[str, dict[str, int]]:
    """allocation id -> units, for the allocations still held under an inventory hold that went away."""
    if order.terminal:
        return {}
    return {
        a.allocation_id: _positive(a.lines) for a in order.allocations if a.held and a.hold_id == hold_id and a.lines
    }


def replace_missing(
    order: Order,
    allocation_id: str,
    missing: Mapping[str, int],
    replacements: Iterable[Allocation],
    unfilled: Mapping[str, int],
    *,
    whole: bool = False,
    cancel_unfillable: bool = False,
) -> Order:
    """An allocation lost `missing` units (a short pick, or all of it when `whole`, as when its
    hold expired): they move to new allocations elsewhere, and what nobody has is backordered."""
    _require_open(order)
    allocation = order.allocation(allocation_id)
    if allocation is None or not allocation.held:
        raise ValueError(f"allocation {allocation_id} holds nothing")
    missing = _positive(missing)
    added = tuple(replacements)
    _check_covers(missing, [*(a.lines for a in added), _positive(unfilled)], "re-routing")
    if any(units > allocation.lines.get(sku, 0) for sku, units in missing.items()):
        raise ValueError(f"allocation {allocation_id} does not hold {missing}")
    remaining = _positive({sku: units - missing.get(sku, 0) for sku, units in allocation.lines.items()})
    if whole and remaining:
        raise ValueError("a whole allocation was lost but units were left on it")
    shrunk = (
        replace(allocation, status=AllocationStatus.SHORT) if not remaining else replace(allocation, lines=remaining)
    )
    changed = _replace_allocation(order, shrunk)
    changed = replace(
        changed,
        allocations=(*changed.allocations, *added),
        lines=_account(changed.lines, _positive(unfilled), cancel_unfillable=cancel_unfillable),
    )
    return _moved(order, changed)


def backordered_units(order: Order) -> dict[str, int]:
    """SKU -> units of the order waiting for stock (none once it is cancelled or completed)."""
    if order.terminal:
        return {}
    return _positive({line.sku: line.backordered for line in order.lines})


def fill_backorder(order: Order, filled: Iterable[Allocation]) -> Order:
    """Stock came for backordered units: they leave the backorder for the new allocations that hold
    them. Units still waiting stay backordered (the order stays BACKORDERED until none do)."""
    _require_open(order)
    added = tuple(filled)
    waiting = backordered_units(order)
    taken = _sum_lines(added)
    if not taken or any(units <= 0 or units > waiting.get(sku, 0) for sku, units in taken.items()):
        raise ValueError(f"allocations of {taken} do not fill the backorder {waiting}")
    lines = tuple(replace(line, backordered=line.backordered - taken.get(line.sku, 0)) for line in order.lines)
    return _moved(order, replace(order, allocations=(*order.allocations, *added), lines=lines))


def shipped_meanwhile(order: Order, allocation_id: str, shipped: Mapping[str, int]) -> Order:
    """A held allocation whose units (`shipped`, at most what it holds) left before a cancellation
    could release them: it is recorded as shipped with those units, so that the cancellation that
    follows cancels only the rest. The order's status is settled by the cancellation."""
    allocation = order.allocation(allocation_id)
    if allocation is None or not allocation.held:
        return order
    units = _positive({sku: min(units, allocation.lines.get(sku, 0)) for sku, units in shipped.items()})
    return _replace_allocation(order, replace(allocation, lines=units, status=AllocationStatus.SHIPPED))


def cancel(order: Order) -> tuple[Order, list[Allocation]]:
    """Cancel what has not left: returns the order and the allocations whose holds must be released.
    A completed order cannot be cancelled; cancelling twice changes nothing."""
    if order.status is OrderStatus.CANCELLED:
        return order, []
    if order.status is OrderStatus.COMPLETED:
        raise IllegalTransition(order.order_id, order.status, OrderStatus.CANCELLED)
    if order.status is OrderStatus.PENDING:
        raise FailedPrecondition(
            f"order {order.order_id} is still being placed",
            [PreconditionViolation("ORDER_STATUS", order.order_id, "order is pending")],
            reason=Reason.INVALID_STATE,
        )
    to_release = [a for a in order.allocations if a.held]
    fulfilled = order.fulfilled_units()
    allocations = tuple(replace(a, status=AllocationStatus.CANCELLED) if a.held else a for a in order.allocations)
    lines = tuple(
        replace(line, backordered=0, cancelled=line.quantity - fulfilled.get(line.sku, 0)) for line in order.lines
    )
    return _moved(order, replace(order, allocations=allocations, lines=lines), cancelled=True), to_release


def _replace_allocation(order: Order, allocation: Allocation) -> Order:
    return replace(
        order,
        allocations=tuple(allocation if a.allocation_id == allocation.allocation_id else a for a in order.allocations),
    )


def units_in_place(order: Order) -> dict[str, int]:
    """held + fulfilled + backordered + cancelled per SKU: equals `order.wanted` once placed."""
    held, fulfilled = order.held_units(), order.fulfilled_units()
    return {
        line.sku: held.get(line.sku, 0) + fulfilled.get(line.sku, 0) + line.backordered + line.cancelled
        for line in order.lines
    }
