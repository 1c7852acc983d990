"""A set (bundle SKU) is held as its components: an open reservation or a held allocation of a set
agrees with a hold whose lines are the set's parts, and disagrees with one short of a part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnistock_orders.domain.order import OrderStatus
from omnistock_platform.invariants import (
    ORDER_OWNER,
    RESERVATION_OWNER,
    Allocation,
    Hold,
    HoldLine,
    InventoryFacts,
    Order,
    OrdersFacts,
    Reservation,
    Snapshot,
    held_allocations_match_holds,
    holding_reservations_have_their_hold,
)

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
NOW = EARLIER + timedelta(hours=1)
SETS = {"SOFA-SET": {"SOFA": 1, "CUSHION": 2}}


def hold(hold_id: str, owner: str, cushions: int = 2) -> Hold:
    lines = {
        ("STORE-1", "SOFA"): HoldLine(quantity=1, committed=0, released=0),
        ("STORE-1", "CUSHION"): HoldLine(quantity=cushions, committed=0, released=0),
    }
    return Hold(hold_id, owner, "active", EARLIER, EARLIER, lines, active=True)


def reservation() -> Reservation:
    return Reservation(
        "r-1",
        "req",
        "active",
        "STORE-1",
        "h-r",
        "",
        {"SOFA-SET": 1},
        EARLIER,
        EARLIER,
        pending=False,
        holds_stock=True,
        awaiting_transfer=False,
        collected=False,
    )


def order() -> Order:
    allocation = Allocation("a-1", "STORE-1", "h-o", "held", {"SOFA-SET": 1}, held=True, shipped=False, done=False)
    return Order(
        "o-1",
        "req",
        "allocated",
        "ship",
        "",
        EARLIER,
        EARLIER,
        (allocation,),
        pending=OrderStatus("allocated") is OrderStatus.PENDING,
        worked=True,
    )


def snapshot(holds: list[Hold], sets: dict[str, dict[str, int]]) -> Snapshot:
    return Snapshot(
        at=NOW,
        cutoff=NOW,
        inventory=InventoryFacts({h.hold_id: h for h in holds}, [], bundles=sets),
        reservations={"r-1": reservation()},
        orders=OrdersFacts({"o-1": order()}, set()),
    )


def test_a_set_held_as_its_components_agrees_with_its_reservation_and_its_order() -> None:
    facts = snapshot([hold("h-r", f"{RESERVATION_OWNER}r-1"), hold("h-o", f"{ORDER_OWNER}o-1")], SETS)
    assert holding_reservations_have_their_hold(facts) == []
    assert held_allocations_match_holds(facts) == []


def test_a_set_hold_short_of_a_part_is_reported_for_both_owners() -> None:
    holds = [hold("h-r", f"{RESERVATION_OWNER}r-1", cushions=1), hold("h-o", f"{ORDER_OWNER}o-1", cushions=1)]
    facts = snapshot(holds, SETS)
    assert [v.subject for v in holding_reservations_have_their_hold(facts)] == ["r-1"]
    assert [v.subject for v in held_allocations_match_holds(facts)] == ["o-1"]


def test_without_the_definition_the_set_is_a_sku_of_its_own() -> None:
    facts = snapshot([hold("h-r", f"{RESERVATION_OWNER}r-1"), hold("h-o", f"{ORDER_OWNER}o-1")], {})
    assert [v.subject for v in holding_reservations_have_their_hold(facts)] == ["r-1"]
    assert [v.subject for v in held_allocations_match_holds(facts)] == ["o-1"]
