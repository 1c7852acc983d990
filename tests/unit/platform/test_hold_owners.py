"""The invariant behind `omnistock verify` and the chaos checks, on the facts alone: every active
hold of a reservation or an order belongs to one that exists and holds it, for both kinds of
owner alike; an owner still being made is left alone, and so are holds of other owners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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
    holds_have_live_owners,
)
from omnistock_reservations.domain.status import HOLDING, Status

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
NOW = EARLIER + timedelta(hours=1)
LINES = {("STORE-1", "SKU-1"): HoldLine(quantity=1, committed=0, released=0)}


def hold(hold_id: str, owner: str) -> Hold:
    return Hold(hold_id, owner, "active", EARLIER, EARLIER, dict(LINES), active=True)


def reservation(reservation_id: str, hold_id: str, status: str = "active") -> Reservation:
    word = Status(status)
    return Reservation(
        reservation_id,
        "req",
        status,
        "STORE-1",
        hold_id,
        "",
        {"SKU-1": 1},
        EARLIER,
        EARLIER,
        pending=word is Status.PENDING,
        holds_stock=word in HOLDING,
        awaiting_transfer=False,
        collected=False,
    )


def order(order_id: str, hold_id: str, status: str = "allocated") -> Order:
    allocation = Allocation("a-1", "STORE-1", hold_id, "held", {"SKU-1": 1}, held=True, shipped=False, done=False)
    return Order(
        order_id,
        "req",
        status,
        "ship",
        "",
        EARLIER,
        EARLIER,
        (allocation,),
        pending=OrderStatus(status) is OrderStatus.PENDING,
        worked=True,
    )


def snapshot(holds: list[Hold], reservations: list[Reservation], orders: list[Order]) -> Snapshot:
    return Snapshot(
        at=NOW,
        cutoff=NOW,
        inventory=InventoryFacts({h.hold_id: h for h in holds}, []),
        reservations={r.reservation_id: r for r in reservations},
        orders=OrdersFacts({o.order_id: o for o in orders}, set()),
    )


@pytest.mark.parametrize("prefix", [RESERVATION_OWNER, ORDER_OWNER])
def test_a_hold_whose_owner_does_not_exist_is_reported(prefix: str) -> None:
    found = holds_have_live_owners(snapshot([hold("h-1", f"{prefix}gone")], [], []))
    assert [(v.check, v.subject) for v in found] == [("active hold without a live owner", "h-1")]
    assert f"no such {prefix[:-1]}" in found[0].detail


def test_an_owner_that_holds_something_else_is_reported_for_both_kinds() -> None:
    holds = [hold("h-r", f"{RESERVATION_OWNER}r-1"), hold("h-o", f"{ORDER_OWNER}o-1")]
    found = holds_have_live_owners(snapshot(holds, [reservation("r-1", "h-other")], [order("o-1", "h-other")]))
    assert sorted(v.subject for v in found) == ["h-o", "h-r"]


def test_owners_that_hold_their_hold_or_are_being_made_are_fine() -> None:
    holds = [
        hold("h-r", f"{RESERVATION_OWNER}r-1"),
        hold("h-o", f"{ORDER_OWNER}o-1"),
        hold("h-rp", f"{RESERVATION_OWNER}r-2"),
        hold("h-op", f"{ORDER_OWNER}o-2"),
        hold("h-till", "till:STORE-1"),
    ]
    facts = snapshot(
        holds,
        [reservation("r-1", "h-r"), reservation("r-2", "", status="pending")],
        [order("o-1", "h-o"), order("o-2", "", status="pending")],
    )
    assert holds_have_live_owners(facts) == []
