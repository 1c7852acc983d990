"""Order edits, pure: where each change of quantity lands, and that any edit keeps every unit of
every line in exactly one place and every hold line accounted for."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock_orders.domain.edits import (
    already_applied,
    apply_edit,
    edited_allocations,
    merge_routed,
    open_after,
    open_before,
    plan_quantities,
)
from omnistock_orders.domain.order import (
    Allocation,
    AllocationStatus,
    Order,
    OrderLine,
    OrderStatus,
    units_in_place,
)
from omnistock_orders.domain.routing import Method
from omnistock_platform.errors import FailedPrecondition, InvalidArgument


def order_of(*allocations: Allocation, status: OrderStatus = OrderStatus.ALLOCATED) -> Order:
    wanted: dict[str, int] = {}
    for allocation in allocations:
        for sku, units in allocation.lines.items():
            wanted[sku] = wanted.get(sku, 0) + units
    lines = tuple(OrderLine(number, sku, units, 100) for number, (sku, units) in enumerate(sorted(wanted.items()), 1))
    return Order("O1", Method.SHIP, lines, status, tuple(allocations))


A = Allocation("A", "L1", "H1", {"sofa": 2, "lamp": 1})
B = Allocation("B", "L2", "H1", {"sofa": 1})


def test_fewer_come_from_the_newest_allocation_and_more_grow_the_oldest() -> None:
    order = order_of(A, B)
    fewer = plan_quantities(order, {"sofa": 2})
    assert (fewer.shrink, fewer.grow, fewer.route) == ({"B": {"sofa": 1}}, {}, {})
    more = plan_quantities(order, {"sofa": 5, "rug": 2})
    assert (more.shrink, more.grow, more.route) == ({}, {"A": {"sofa": 2}}, {"rug": 2})
    edited = apply_edit(order, {"sofa": 2}, fewer, [])
    assert [a.status for a in edited.allocations] == [AllocationStatus.HELD, AllocationStatus.CANCELLED]
    assert units_in_place(edited) == edited.wanted == {"sofa": 2, "lamp": 1}


def test_units_being_picked_are_never_taken_and_never_grown() -> None:
    order = order_of(A, B)
    with pytest.raises(FailedPrecondition) as refused:
        plan_quantities(order, {"sofa": 0}, picking=frozenset({"A"}))
    assert refused.value.violations[0].type == "ALLOCATION_PICKING"
    assert plan_quantities(order, {"sofa": 2}, picking=frozenset({"A"})).shrink == {"B": {"sofa": 1}}
    assert plan_quantities(order, {"lamp": 3}, picking=frozenset({"A"})).route == {"lamp": 2}


def test_shipped_units_stay_and_unallocated_lines_are_not_edited() -> None:
    shipped = order_of(A, B, status=OrderStatus.PARTIALLY_SHIPPED)
    shipped = Order(
        shipped.order_id,
        shipped.method,
        shipped.lines,
        shipped.status,
        (Allocation("A", "L1", "H1", A.lines, AllocationStatus.SHIPPED), B),
    )
    with pytest.raises(FailedPrecondition) as refused:
        plan_quantities(shipped, {"sofa": 1})
    assert refused.value.violations[0].type == "LINE_FULFILLED"
    backordered = order_of(A)
    backordered = Order(
        "O1",
        Method.SHIP,
        (OrderLine(1, "sofa", 3, backordered=1), OrderLine(2, "lamp", 1)),
        OrderStatus.BACKORDERED,
        (A,),
    )
    with pytest.raises(FailedPrecondition) as waiting:
        plan_quantities(backordered, {"sofa": 4})
    assert waiting.value.violations[0].type == "LINE_NOT_ALLOCATED"
    with pytest.raises(InvalidArgument):
        plan_quantities(order_of(B), {"sofa": 0})
    with pytest.raises(FailedPrecondition):
        plan_quantities(order_of(A, status=OrderStatus.CANCELLED), {"sofa": 1})


def test_routed_units_join_an_allocation_already_there_unless_it_is_being_picked() -> None:
    order = order_of(A, B)
    plan = plan_quantities(order, {"rug": 3}, picking=frozenset({"A"}))
    routed = [Allocation("N1", "L2", "H1", {"rug": 2}), Allocation("N2", "L1", "H1", {"rug": 1})]
    merged, added = merge_routed(order, plan, routed, frozenset({"A"}), "H1")
    assert merged.grow == {"B": {"rug": 2}} and merged.route == {}
    assert [a.allocation_id for a in added] == ["N2"]


@settings(max_examples=200, deadline=None)
@given(
    sofa=st.integers(0, 8),
    lamp=st.integers(0, 8),
    rug=st.integers(0, 3),
    picking=st.sets(st.sampled_from(["A", "B"])),
)
def test_any_edit_keeps_every_unit_in_place_and_every_hold_line_accounted(
    sofa: int, lamp: int, rug: int, picking: set[str]
) -> None:
    order = order_of(A, B)
    wanted = {"sofa": sofa, "lamp": lamp, "rug": rug}
    try:
        plan = plan_quantities(order, wanted, frozenset(picking))
    except (FailedPrecondition, InvalidArgument):
        return
    # Whatever is routed is held at a new location, one allocation for it all.
    added = [Allocation("N", "L9", "H1", dict(plan.route))] if plan.route else []
    quantities = {sku: units for sku, units in wanted.items() if sku in order.wanted or units}
    new_lines = [OrderLine(9, "rug", rug, 100)] if rug else []
    edited = apply_edit(order, quantities, plan, added, new_lines)
    assert units_in_place(edited) == edited.wanted
    assert edited.wanted == {sku: units for sku, units in wanted.items() if units}
    # What the hold will keep open is exactly what the held allocations account for after the edit.
    assert open_after(order, plan, added) == open_before(edited)
    for before, after in zip(order.allocations, edited_allocations(order, plan), strict=True):
        if before.allocation_id in picking:
            assert after == before  # a list in a picker's hands never changes


def test_an_edit_resumed_after_a_crash_adopts_what_inventory_already_did() -> None:
    order = order_of(A, B)
    plan = plan_quantities(order, {"sofa": 5}, picking=frozenset({"A"}))
    assert (plan.shrink, plan.grow) == ({}, {"B": {"sofa": 2}})
    untouched = {"H1": {("L1", "sofa"): 2, ("L1", "lamp"): 1, ("L2", "sofa"): 1}}
    # The first attempt found L2 short and held the two sofas at L3 instead, then the process died.
    routed = {"H1": {**untouched["H1"], ("L3", "sofa"): 2}}
    adopted, added = already_applied(order, plan, routed, frozenset({"A"}), "H1")  # type: ignore[misc]
    assert (adopted.grow, adopted.route, added) == ({}, {}, {"L3": {"sofa": 2}})
    in_place = {"H1": {**untouched["H1"], ("L2", "sofa"): 3}}
    adopted, added = already_applied(order, plan, in_place, frozenset({"A"}), "H1")  # type: ignore[misc]
    assert (adopted.grow, added) == ({"B": {"sofa": 2}}, {})
    # Nothing done yet, something else done (a unit sold), or not this edit's increase: not adopted.
    for other in (
        untouched,
        {"H1": {**untouched["H1"], ("L1", "sofa"): 1, ("L3", "sofa"): 2}},
        {"H1": {**untouched["H1"], ("L3", "sofa"): 3}},
        {"H1": {**untouched["H1"], ("L3", "rug"): 2}},
    ):
        assert already_applied(order, plan, other, frozenset({"A"}), "H1") is None
