"""Editing an order after allocation: which allocations give units back, which grow in place, and
what has to be routed anew; then the order as the edit leaves it.

The rules, in the order they are checked:

- only an order that is allocated, partly shipped or backordered can be edited;
- a line with backordered or cancelled units is not edited (its units are not all allocated);
- a line never drops below what was already shipped or handed over;
- fewer units are taken from the newest held allocations first, never from one whose pick task
  has started (units in a picker's hands are not taken away);
- more units grow the oldest held allocation of the SKU whose picking has not started, at its
  location; when there is none, or the location does not have them, they are routed anew.

After the edit the order's equation still holds:
    quantity == held + fulfilled + backordered + cancelled   for every line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from omnistock_orders.domain.order import (
    Allocation,
    AllocationStatus,
    Order,
    OrderLine,
    OrderStatus,
    settle_status,
    units_in_place,
)
from omnistock_platform.errors import FailedPrecondition, InvalidArgument, PreconditionViolation, Reason

EDITABLE = frozenset({OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED, OrderStatus.BACKORDERED})


@dataclass(frozen=True)
class EditPlan:
    """allocation id -> {sku: units} given back or added in place; sku -> units to route anew."""

    shrink: dict[str, dict[str, int]] = field(default_factory=dict)
    grow: dict[str, dict[str, int]] = field(default_factory=dict)
    route: dict[str, int] = field(default_factory=dict)

    def moved_to_routing(self, allocation_id: str, sku: str) -> EditPlan:
        """The growth planned at an allocation's location did not fit there: route it instead."""
        grown = dict(self.grow.get(allocation_id, {}))
        units = grown.pop(sku, 0)
        grow = {key: value for key, value in self.grow.items() if key != allocation_id}
        if grown:
            grow[allocation_id] = grown
        route = dict(self.route)
        route[sku] = route.get(sku, 0) + units
        return replace(self, grow=grow, route=route)


def require_editable(order: Order) -> None:
    if order.status not in EDITABLE:
        raise FailedPrecondition(
            f"order {order.order_id} is {order.status.value}: only allocated, partly shipped or backordered"
            " orders can be edited",
            [PreconditionViolation("ORDER_STATUS", order.order_id, f"order is {order.status.value}")],
            reason=Reason.INVALID_STATE,
        )


def _refused(order: Order, kind: str, subject: str, description: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"order {order.order_id} cannot be edited: {description}",
        [PreconditionViolation(kind, subject, description)],
        reason=Reason.INVALID_STATE if kind != "LINE_FULFILLED" else Reason.PRECONDITION_FAILED,
    )


def in_part_lines(order: Order, quantities: Mapping[str, int]) -> dict[str, int]:
    """An edit in terms of the order's lines: a split set's SKU changes its part lines together (sets
    times units per set). A part of a split set named alone is refused, naming the set: a part cannot
    change without its set."""
    parts = {line.sku: line.part_of for line in order.lines if line.part_of}
    for sku in sorted(quantities):
        if sku in parts:
            raise _refused(
                order, "SET_PART", parts[sku], f"{sku} is a part of the set {parts[sku]}: edit the set by its SKU"
            )
    lines: dict[str, int] = {}
    for sku, quantity in quantities.items():
        split = order.split_set(sku)
        if split is None:
            lines[sku] = quantity
            continue
        for part, per_set in split.components:
            lines[part] = quantity * per_set
    return lines


def resize_sets(order: Order, quantities: Mapping[str, int]) -> Order:
    """The order with its split sets named in `quantities` at their new number of sets (0: gone)."""
    sets = tuple(
        replace(split, quantity=quantities.get(split.sku, split.quantity))
        for split in order.sets
        if quantities.get(split.sku, split.quantity) > 0
    )
    return replace(order, sets=sets)


def plan_quantities(order: Order, quantities: Mapping[str, int], picking: frozenset[str] = frozenset()) -> EditPlan:
    """Where each change of quantity lands. `picking`: allocations whose pick task has started."""
    require_editable(order)
    fulfilled = order.fulfilled_units()
    plan = EditPlan()
    existing = {line.sku: line for line in order.lines}
    remaining_lines = {sku for sku in existing if quantities.get(sku, existing[sku].quantity) > 0}
    remaining_lines |= {sku for sku, quantity in quantities.items() if quantity > 0}
    remaining_lines |= {sku for sku, units in fulfilled.items() if units}
    if not remaining_lines:
        raise InvalidArgument.of("lines", "an order keeps at least one line: cancel it instead")
    for sku, quantity in sorted(quantities.items()):
        line = existing.get(sku)
        if line is None:
            if quantity > 0:
                plan.route[sku] = quantity
            continue
        if line.backordered or line.cancelled:
            raise _refused(
                order, "LINE_NOT_ALLOCATED", sku, f"{sku} has {line.backordered + line.cancelled} units not allocated"
            )
        if quantity < fulfilled.get(sku, 0):
            raise _refused(order, "LINE_FULFILLED", sku, f"{fulfilled[sku]} of {sku} already left")
        delta = quantity - line.quantity
        held = [a for a in order.allocations if a.held and a.lines.get(sku, 0) > 0]
        workable = [a for a in held if a.allocation_id not in picking]
        if delta < 0:
            left = -delta
            for allocation in reversed(workable):  # newest first
                take = min(left, allocation.lines[sku])
                plan.shrink.setdefault(allocation.allocation_id, {})[sku] = take
                left -= take
                if not left:
                    break
            if left:
                being_picked = sorted(a.location_id for a in held if a.allocation_id in picking)
                raise _refused(
                    order,
                    "ALLOCATION_PICKING",
                    sku,
                    f"{left} of {sku} are being picked at {', '.join(being_picked)}",
                )
        elif delta > 0:
            if workable:
                plan.grow.setdefault(workable[0].allocation_id, {})[sku] = delta
            else:
                plan.route[sku] = delta
    return plan


def plan_new_store(order: Order, picking: frozenset[str] = frozenset()) -> EditPlan:
    """A new pickup store: everything held moves there (routed anew, at that store only)."""
    require_editable(order)
    plan = EditPlan()
    for allocation in order.allocations:
        if not allocation.held:
            continue
        if allocation.allocation_id in picking:
            raise _refused(
                order, "ALLOCATION_PICKING", allocation.allocation_id, f"picking started at {allocation.location_id}"
            )
        plan.shrink[allocation.allocation_id] = dict(allocation.lines)
        for sku, units in allocation.lines.items():
            plan.route[sku] = plan.route.get(sku, 0) + units
    return plan


def merge_routed(
    order: Order, plan: EditPlan, routed: Iterable[Allocation], picking: frozenset[str], hold_id: str
) -> tuple[EditPlan, list[Allocation]]:
    """Routed units at a location where the order already has a held allocation under the same hold,
    not being picked, grow that allocation (one pick list per location); the rest are new allocations."""
    grow = {allocation_id: dict(units) for allocation_id, units in plan.grow.items()}
    added = []
    for allocation in routed:
        target = next(
            (
                a
                for a in order.allocations
                if a.held
                and a.hold_id == hold_id
                and a.location_id == allocation.location_id
                and a.allocation_id not in picking
                and not all(a.lines.get(sku, 0) <= plan.shrink.get(a.allocation_id, {}).get(sku, 0) for sku in a.lines)
            ),
            None,
        )
        if target is None:
            added.append(allocation)
            continue
        grown = grow.setdefault(target.allocation_id, {})
        for sku, units in allocation.lines.items():
            grown[sku] = grown.get(sku, 0) + units
    return replace(plan, grow=grow, route={}), added


def open_after(order: Order, plan: EditPlan, added: Iterable[Allocation]) -> dict[str, dict[tuple[str, str], int]]:
    """hold id -> (location, sku) -> open units the held allocations will account for after the edit."""
    totals: dict[str, dict[tuple[str, str], int]] = {}
    for allocation in [*edited_allocations(order, plan), *added]:
        if not allocation.held:
            continue
        per_hold = totals.setdefault(allocation.hold_id, {})
        for sku, units in allocation.lines.items():
            key = (allocation.location_id, sku)
            per_hold[key] = per_hold.get(key, 0) + units
    return totals


def open_before(order: Order) -> dict[str, dict[tuple[str, str], int]]:
    return open_after(order, EditPlan(), [])


def refuse_components_beside_sets(
    order: Order,
    before: Mapping[str, Mapping[tuple[str, str], int]],
    after: Mapping[str, Mapping[tuple[str, str], int]],
    changes: Mapping[str, Mapping[tuple[str, str], object]],
) -> None:
    """A component's own line cannot change in a hold that holds a set of it at the same location
    (inventory's line has the set's units in it, orders speaks of the component's own): refused here,
    naming the set, before inventory is asked, so that nobody retries what cannot succeed."""
    parts = {line.sku: {part for part, _ in line.components} for line in order.lines if line.components}
    for hold_id, changed in sorted(changes.items()):
        held = set(before.get(hold_id, {})) | set(after.get(hold_id, {}))
        for location_id, sku in sorted(changed):
            beside = sorted(
                set_sku for (where, set_sku) in held if where == location_id and sku in parts.get(set_sku, ())
            )
            if beside:
                raise _refused(
                    order,
                    "BUNDLE_COMPONENT",
                    f"{location_id}/{sku}",
                    f"{sku} at {location_id} is held beside the set {beside[0]} of this order, which takes it too:"
                    " edit the set's line; its component's own line there cannot change yet",
                )


def edited_allocations(order: Order, plan: EditPlan) -> list[Allocation]:
    """The order's allocations with the plan's shrinking and growing applied; one left with nothing
    is CANCELLED (its units are no longer wanted, or moved to another allocation)."""
    result = []
    for allocation in order.allocations:
        shrink = plan.shrink.get(allocation.allocation_id, {})
        grow = plan.grow.get(allocation.allocation_id, {})
        if not shrink and not grow:
            result.append(allocation)
            continue
        lines = {sku: allocation.lines.get(sku, 0) - shrink.get(sku, 0) + grow.get(sku, 0) for sku in allocation.lines}
        lines.update({sku: units for sku, units in grow.items() if sku not in allocation.lines})
        kept = {sku: units for sku, units in sorted(lines.items()) if units > 0}
        if kept:
            result.append(replace(allocation, lines=kept))
        else:
            result.append(replace(allocation, status=AllocationStatus.CANCELLED))
    return result


def apply_edit(
    order: Order,
    quantities: Mapping[str, int],
    plan: EditPlan,
    added: Iterable[Allocation],
    new_lines: Iterable[OrderLine] = (),
) -> Order:
    """The order once inventory holds what the plan says: lines at their new quantities (a line
    at 0 with nothing shipped goes), new lines appended, allocations changed and added."""
    made = tuple(added)
    lines = []
    for line in order.lines:
        quantity = quantities.get(line.sku, line.quantity)
        if quantity == 0:
            continue
        lines.append(replace(line, quantity=quantity))
    lines.extend(new_lines)
    changed = replace(order, lines=tuple(lines), allocations=(*edited_allocations(order, plan), *made))
    wanted = changed.wanted
    if units_in_place(changed) != wanted:
        raise ValueError(f"edit leaves {units_in_place(changed)} in place, the lines want {wanted}")
    return settle_status(order, changed)


def already_applied(
    order: Order,
    plan: EditPlan,
    actual: Mapping[str, Mapping[tuple[str, str], int]],
    picking: frozenset[str],
    hold_id: str,
) -> tuple[EditPlan, dict[str, dict[str, int]]] | None:
    """For an edit resumed after a crash: when the holds' open units (`actual`, hold id -> (location,
    sku) -> open) are exactly what this edit would leave, with its increases wherever an earlier
    attempt put them, the edit (growing allocations in place) and the units new allocations under
    `hold_id` hold (location -> sku -> units); None otherwise.

    Only an edit can raise a hold's open units (a commit or release lowers them, and the order's
    row lock keeps other edits out), so units above what the shrinking leaves, adding up per SKU
    to the edit's increases, are that edit's."""
    expected = open_after(order, EditPlan(shrink=plan.shrink), [])
    increases: dict[str, int] = dict(plan.route)
    for grown in plan.grow.values():
        for sku, units in grown.items():
            increases[sku] = increases.get(sku, 0) + units
    extra: dict[tuple[str, str, str], int] = {}
    for hold in set(expected) | set(actual):
        was, now = expected.get(hold, {}), actual.get(hold, {})
        for key in set(was) | set(now):
            difference = now.get(key, 0) - was.get(key, 0)
            if difference < 0:
                return None
            if difference:
                extra[(hold, *key)] = difference
    found: dict[str, int] = {}
    for (_, _, sku), units in extra.items():
        found[sku] = found.get(sku, 0) + units
    if not increases or found != {sku: units for sku, units in increases.items() if units}:
        return None
    grow: dict[str, dict[str, int]] = {}
    routed: dict[str, dict[str, int]] = {}
    for (hold, location_id, sku), units in sorted(extra.items()):
        target = next(
            (
                a
                for a in order.allocations
                if a.held
                and a.hold_id == hold
                and a.location_id == location_id
                and a.allocation_id not in picking
                and a.lines.get(sku, 0) > plan.shrink.get(a.allocation_id, {}).get(sku, 0)
            ),
            None,
        )
        if target is not None:
            grow.setdefault(target.allocation_id, {})[sku] = units
        elif hold == hold_id:
            routed.setdefault(location_id, {})[sku] = units
        else:
            return None
    return replace(plan, grow=grow, route={}), routed
