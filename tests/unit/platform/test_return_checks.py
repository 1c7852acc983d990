"""The return invariants of `omnistock verify`, on the facts alone: a received return's ledger is what
inspection found (restocked and damaged in with RETURN, damaged out with DAMAGE), a return not received
moved nothing, and no order has more returned than it delivered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from omnistock_orders.domain.order import DONE, AllocationStatus
from omnistock_orders.domain.returns import ReturnStatus
from omnistock_platform.facts import Return, ReturnLine
from omnistock_platform.invariants import (
    Allocation,
    InventoryFacts,
    Order,
    OrdersFacts,
    Snapshot,
    returns_match_movements,
    returns_within_delivered,
)

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
NOW = EARLIER + timedelta(hours=1)


def delivered(order_id: str, units: int, status: str = "handed_over") -> Order:
    word = AllocationStatus(status)
    return Order(
        order_id,
        "req",
        "completed",
        "carry_out",
        "",
        EARLIER,
        EARLIER,
        (
            Allocation(
                "a-1",
                "STORE-1",
                "h-1",
                status,
                {"SKU-1": units},
                held=word is AllocationStatus.HELD,
                shipped=word is AllocationStatus.SHIPPED,
                done=word in DONE,
            ),
        ),
        pending=False,
        worked=False,
    )


def a_return(return_id: str, order_id: str, status: str, quantity: int, restocked: int = 0, damaged: int = 0) -> Return:
    line = ReturnLine(quantity, restocked, damaged, quantity - restocked - damaged if status == "received" else 0)
    return Return(
        return_id,
        order_id,
        "STORE-2",
        status,
        EARLIER,
        {"SKU-1": line},
        received=ReturnStatus(status) is ReturnStatus.RECEIVED,
        cancelled=ReturnStatus(status) is ReturnStatus.CANCELLED,
    )


def snapshot(orders: list[Order], returns: list[Return], moved: dict[str, dict[tuple[str, str, str], int]]) -> Snapshot:
    return Snapshot(
        at=NOW,
        cutoff=NOW,
        inventory=InventoryFacts({}, [], return_movements=moved),
        orders=OrdersFacts({o.order_id: o for o in orders}, set(), {r.return_id: r for r in returns}),
    )


def test_a_received_return_matches_its_movements() -> None:
    received = a_return("r-1", "o-1", "received", 3, restocked=1, damaged=1)
    booked = {("STORE-2", "SKU-1", "return"): 2, ("STORE-2", "SKU-1", "damage"): -1}
    assert returns_match_movements(snapshot([delivered("o-1", 3)], [received], {"r-1": booked})) == []
    # A damaged unit never booked out again is reported, and so is a restock never booked.
    found = returns_match_movements(
        snapshot([delivered("o-1", 3)], [received], {"r-1": {("STORE-2", "SKU-1", "return"): 2}})
    )
    assert [(v.check, v.subject) for v in found] == [("return and its movements disagree", "r-1")]
    assert returns_match_movements(snapshot([delivered("o-1", 3)], [received], {}))


def test_a_return_not_received_moves_nothing_and_unknown_returns_are_reported() -> None:
    waiting = a_return("r-1", "o-1", "authorised", 1)
    assert returns_match_movements(snapshot([], [waiting], {})) == []
    assert returns_match_movements(snapshot([], [waiting], {"r-1": {("STORE-2", "SKU-1", "return"): 1}}))
    found = returns_match_movements(snapshot([], [], {"r-9": {("STORE-2", "SKU-1", "return"): 1}}))
    assert [v.subject for v in found] == ["r-9"]


def test_more_returned_than_delivered_is_reported_cancelled_returns_aside() -> None:
    order = delivered("o-1", 2)
    fine = [a_return("r-1", "o-1", "authorised", 1), a_return("r-2", "o-1", "cancelled", 2)]
    assert returns_within_delivered(snapshot([order], fine, {})) == []
    too_many = [*fine, a_return("r-3", "o-1", "received", 2, restocked=2)]
    found = returns_within_delivered(snapshot([order], too_many, {}))
    assert [(v.check, v.subject) for v in found] == [("more returned than delivered", "o-1")]
    # Units still held were never delivered.
    assert returns_within_delivered(snapshot([delivered("o-1", 2, "held")], fine[:1], {}))


def test_a_receipt_in_flight_is_left_alone() -> None:
    waiting = a_return("r-1", "o-1", "authorised", 1)
    moved = {"r-1": {("STORE-2", "SKU-1", "return"): 1}, "r-2": {("STORE-2", "SKU-1", "return"): 1}}
    seen = snapshot([delivered("o-1", 1)], [waiting], moved)
    assert seen.inventory is not None
    seen.inventory.return_movements_at = {"r-1": NOW, "r-2": NOW}
    seen.cutoff = NOW - timedelta(seconds=5)
    assert returns_match_movements(seen) == []
    seen.cutoff = NOW
    assert [v.subject for v in returns_match_movements(seen)] == ["r-1", "r-2"]


def test_a_delivered_set_counts_as_its_parts() -> None:
    order = delivered("o-1", 1)  # SKU-1 is a set: a sofa and two cushions

    def cushions(return_id: str, quantity: int) -> Return:
        line = ReturnLine(quantity, 0, 0, 0)
        return Return(
            return_id, "o-1", "STORE-2", "authorised", EARLIER, {"CUSHION": line}, received=False, cancelled=False
        )

    def of(returns: list[Return]) -> Snapshot:
        found = snapshot([order], returns, {})
        assert found.inventory is not None
        found.inventory.bundles = {"SKU-1": {"SOFA": 1, "CUSHION": 2}}
        return found

    assert returns_within_delivered(of([cushions("r-1", 1), cushions("r-2", 1)])) == []
    found = returns_within_delivered(of([cushions("r-1", 1), cushions("r-2", 2)]))
    assert [(v.check, v.subject) for v in found] == [("more returned than delivered", "o-1")]
    # Without the set's definition a cushion was never delivered.
    assert returns_within_delivered(snapshot([order], [cushions("r-1", 1)], {}))


def test_a_delivered_set_counts_as_the_parts_it_was_sold_with() -> None:
    # Sold as a sofa with two cushions; the set has one cushion now.
    order = replace(delivered("o-1", 1), sets={"SKU-1": {"SOFA": 1, "CUSHION": 2}})
    cushions = {"CUSHION": ReturnLine(2, 0, 0, 0)}
    two = Return("r-1", "o-1", "STORE-2", "authorised", EARLIER, cushions, received=False, cancelled=False)
    found = snapshot([order], [two], {})
    assert found.inventory is not None
    found.inventory.bundles = {"SKU-1": {"SOFA": 1, "CUSHION": 1}}
    assert returns_within_delivered(found) == []
    found.orders.orders["o-1"] = replace(order, sets={})  # type: ignore[union-attr]
    assert [v.subject for v in returns_within_delivered(found)] == ["o-1"]
