"""The order state machine, pure: random placements and event sequences never lose or invent a unit,
never move an order backwards, and never leave a terminal state.

(Pure domain tests; they live next to the orders integration tests only because this change may not
touch tests/unit.)
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock_orders.domain.order import (
    TRANSITIONS,
    Allocation,
    AllocationStatus,
    IllegalTransition,
    Order,
    OrderLine,
    OrderStatus,
    backordered_units,
    cancel,
    derive_status,
    fill_backorder,
    lost_with_hold,
    new_order,
    place,
    record_shipment,
    replace_missing,
    shortage,
    units_in_place,
)
from omnistock_orders.domain.routing import Method
from omnistock_platform.errors import FailedPrecondition

LOCATIONS = ("L1", "L2", "L3", "L4")


def allocation(
    location_id: str, lines: dict[str, int], hold_id: str = "H1", allocation_id: str = "", **fields: object
) -> Allocation:
    return Allocation(allocation_id or str(uuid.uuid4()), location_id, hold_id, lines, **fields)  # type: ignore[arg-type]


def order_of(**quantities: int) -> Order:
    return new_order(
        "O1", Method.SHIP, [OrderLine(n, sku, q, 100) for n, (sku, q) in enumerate(sorted(quantities.items()), 1)]
    )


def check_invariants(order: Order) -> None:
    assert derive_status(order) is order.status
    if order.status is OrderStatus.CANCELLED:
        fulfilled = order.fulfilled_units()
        assert not order.held_units()
        for line in order.lines:
            assert line.backordered == 0
            assert fulfilled.get(line.sku, 0) + line.cancelled == line.quantity
    elif order.status is not OrderStatus.PENDING:
        assert units_in_place(order) == order.wanted
    for a in order.allocations:
        assert all(quantity > 0 for quantity in a.lines.values())


# --- concrete cases --------------------------------------------------------------------------------


def test_ship_split_order_to_completion() -> None:
    order = order_of(A=1, B=2)
    first, second = allocation("L1", {"A": 1}), allocation("L2", {"B": 2})
    order = place(order, [first, second])
    assert order.status is OrderStatus.ALLOCATED
    order = record_shipment(order, first.allocation_id)
    assert order.status is OrderStatus.PARTIALLY_SHIPPED
    assert record_shipment(order, first.allocation_id) == order  # repeated: nothing changes
    order = record_shipment(order, second.allocation_id)
    assert order.status is OrderStatus.COMPLETED
    with pytest.raises(IllegalTransition):
        cancel(order)


def test_carry_out_is_completed_at_once() -> None:
    order = place(order_of(A=2), [allocation("L1", {"A": 2}, status=AllocationStatus.HANDED_OVER)])
    assert order.status is OrderStatus.COMPLETED
    assert order.fulfilled_units() == {"A": 2}


def test_short_pick_rerouted_then_backordered() -> None:
    first = allocation("L1", {"A": 3})
    order = place(order_of(A=3), [first])
    assert shortage(order, first.allocation_id, {"A": 5, "B": 1}) == {"A": 3}  # capped by what it held
    elsewhere = allocation("L2", {"A": 1}, hold_id="H2")
    order = replace_missing(order, first.allocation_id, {"A": 2}, [elsewhere], {"A": 1})
    assert order.status is OrderStatus.BACKORDERED
    assert order.allocation(first.allocation_id).lines == {"A": 1}  # type: ignore[union-attr]
    assert order.line("A").backordered == 1
    check_invariants(order)


def test_stock_that_came_fills_a_backorder_and_the_order_is_allocated_again() -> None:
    first = allocation("L1", {"A": 1})
    order = place(order_of(A=3, B=1), [first, allocation("L1", {"B": 1})], {"A": 2})
    assert (order.status, backordered_units(order)) == (OrderStatus.BACKORDERED, {"A": 2})
    order = fill_backorder(order, [allocation("L2", {"A": 1}, hold_id="H2")])
    assert (order.status, backordered_units(order)) == (OrderStatus.BACKORDERED, {"A": 1})
    order = fill_backorder(order, [allocation("L3", {"A": 1}, hold_id="H3")])
    assert (order.status, backordered_units(order)) == (OrderStatus.ALLOCATED, {})
    check_invariants(order)
    # More than waits, a SKU not waiting, or nothing at all: refused, as no unit may be invented.
    for filled in ({"A": 1}, {"B": 1}, {}):
        with pytest.raises(ValueError):
            fill_backorder(order, [allocation("L2", filled, hold_id="H4")])


def test_a_cancelled_order_has_no_backorder_to_fill() -> None:
    order = place(order_of(A=2), [allocation("L1", {"A": 1})], {"A": 1})
    cancelled, _ = cancel(order)
    assert backordered_units(cancelled) == {}
    with pytest.raises(FailedPrecondition):
        fill_backorder(cancelled, [allocation("L2", {"A": 1}, hold_id="H2")])


def test_unfillable_units_may_be_cancelled_instead() -> None:
    first, second = allocation("L1", {"A": 1}), allocation("L2", {"B": 1})
    order = place(order_of(A=1, B=1), [first, second])
    order = record_shipment(order, second.allocation_id)
    order = replace_missing(order, first.allocation_id, {"A": 1}, [], {"A": 1}, whole=True, cancel_unfillable=True)
    assert order.status is OrderStatus.COMPLETED  # what could be had was shipped; the rest was cancelled
    assert order.line("A").cancelled == 1


def test_lost_hold_takes_every_allocation_under_it() -> None:
    first, second = allocation("L1", {"A": 1}), allocation("L2", {"B": 1})
    order = place(order_of(A=1, B=1), [first, second])
    assert lost_with_hold(order, "H1") == {first.allocation_id: {"A": 1}, second.allocation_id: {"B": 1}}
    assert lost_with_hold(order, "other") == {}


def test_placing_must_account_for_every_unit() -> None:
    with pytest.raises(ValueError):
        place(order_of(A=2), [allocation("L1", {"A": 1})])
    with pytest.raises(ValueError):
        place(order_of(A=1), [allocation("L1", {"A": 1, "B": 1})])


def test_cancel_pending_is_refused_and_cancel_twice_is_a_no_op() -> None:
    with pytest.raises(FailedPrecondition):
        cancel(order_of(A=1))
    order = place(order_of(A=1), [allocation("L1", {"A": 1})])
    cancelled, released = cancel(order)
    assert cancelled.status is OrderStatus.CANCELLED and len(released) == 1
    assert cancel(cancelled) == (cancelled, [])


# --- properties ------------------------------------------------------------------------------------


@st.composite
def placed_orders(draw: st.DrawFn) -> Order:
    skus = draw(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=3, unique=True))
    quantities = {sku: draw(st.integers(1, 4)) for sku in skus}
    order = order_of(**quantities)
    per_location: dict[str, dict[str, int]] = {}
    unfilled: dict[str, int] = {}
    for sku, quantity in quantities.items():
        for _ in range(quantity):
            where = draw(st.sampled_from((*LOCATIONS, "unfilled")))
            target = unfilled if where == "unfilled" else per_location.setdefault(where, {})
            target[sku] = target.get(sku, 0) + 1
    hold_id = draw(st.sampled_from(("H1", "H2")))
    allocations = [
        allocation(location, lines, hold_id, f"P{n}")
        for n, (location, lines) in enumerate(sorted(per_location.items()))
    ]
    return place(order, allocations, unfilled, cancel_unfillable=draw(st.booleans()))


def split(draw: st.DrawFn, order: Order, missing: dict[str, int]) -> tuple[list[Allocation], dict[str, int]]:
    """Missing units spread over new allocations elsewhere and an unfilled remainder."""
    made: dict[str, dict[str, int]] = {}
    unfilled: dict[str, int] = {}
    for sku, units in missing.items():
        for _ in range(units):
            where = draw(st.sampled_from((*LOCATIONS, "unfilled")))
            target = unfilled if where == "unfilled" else made.setdefault(where, {})
            target[sku] = target.get(sku, 0) + 1
    first = len(order.allocations)
    # Ids follow from the draw, so that Hypothesis can replay an example exactly.
    return [
        allocation(location, lines, f"H{first + n}", f"R{first + n}")
        for n, (location, lines) in enumerate(sorted(made.items()))
    ], unfilled


@settings(max_examples=300, deadline=None)
@given(st.data(), placed_orders())
def test_no_event_sequence_breaks_the_state_machine(data: st.DataObject, order: Order) -> None:
    check_invariants(order)
    for _ in range(data.draw(st.integers(0, 12))):
        before = order
        kind = data.draw(st.sampled_from(("ship", "hand_over", "short", "lose", "cancel")))
        target = data.draw(st.sampled_from(order.allocations)) if order.allocations else None
        try:
            if kind in ("ship", "hand_over") and target is not None:
                order = record_shipment(order, target.allocation_id, handed_over=kind == "hand_over")
            elif kind == "short" and target is not None:
                reported = {sku: data.draw(st.integers(0, 5)) for sku in target.lines}
                missing = shortage(order, target.allocation_id, reported)
                if missing:
                    added, unfilled = split(data.draw, order, missing)
                    order = replace_missing(
                        order,
                        target.allocation_id,
                        missing,
                        added,
                        unfilled,
                        cancel_unfillable=data.draw(st.booleans()),
                    )
            elif kind == "lose" and target is not None:
                for allocation_id, lost in sorted(lost_with_hold(order, target.hold_id).items()):
                    added, unfilled = split(data.draw, order, lost)
                    order = replace_missing(order, allocation_id, lost, added, unfilled, whole=True)
            elif kind == "cancel":
                order, released = cancel(order)
                assert all(a.status is AllocationStatus.HELD for a in released)
        except FailedPrecondition:
            # Refused only in a terminal state (cancelling a completed order), and nothing changed.
            assert before.status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED) and order == before
            continue
        check_invariants(order)
        assert order.status is before.status or order.status in TRANSITIONS[before.status]
        if before.status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED):
            assert order.status is before.status
        # Shipped units never come back.
        shipped_before, shipped_after = before.fulfilled_units(), order.fulfilled_units()
        assert all(shipped_after.get(sku, 0) >= units for sku, units in shipped_before.items())
