"""What fulfilment keeps of an order's newest event reads back as the same order state."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from omnistock_fulfilment.domain.order_holds import ActiveHold, HeldAllocation, OrderHolds

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def test_an_order_state_kept_as_json_reads_back_the_same() -> None:
    holds = OrderHolds(
        "O-1",
        T0,
        (ActiveHold("", "payment_pending"), ActiveHold("A-2", "address_check")),
        allocations={"A-1": HeldAllocation("WH-1", "H-1", (("SKU-A", 2), ("SKU-B", 1))), "A-2": None},
        promised_at=datetime(2027, 3, 4, 14, 0, tzinfo=UTC),
    )
    kept = json.loads(json.dumps(holds.state()))
    assert OrderHolds.from_state("O-1", T0, kept) == holds


def test_allocations_not_known_stay_not_known() -> None:
    holds = OrderHolds("O-1", T0, ())
    kept = json.loads(json.dumps(holds.state()))
    assert OrderHolds.from_state("O-1", T0, kept).allocations is None


def test_a_promise_not_known_stays_not_known() -> None:
    kept = json.loads(json.dumps(OrderHolds("O-1", T0, ()).state()))
    assert OrderHolds.from_state("O-1", T0, kept).promised_at is None
    # Kept before promises were: the event's own promise is used.
    assert OrderHolds.from_state("O-1", T0, {"holds": [], "allocations": None}).promised_at is None
