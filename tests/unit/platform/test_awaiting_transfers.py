"""The `omnistock verify` rule of ship to store, on the facts alone: a reservation awaiting a transfer
has its units exactly once — held for it at the origin while the transfer is a draft, in transit (no
hold open) once it shipped — and no other hold keeps units for it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from omnistock_inventory.domain.holds import HoldState
from omnistock_inventory.domain.transfers import TransferStatus
from omnistock_platform.facts import Transfer
from omnistock_platform.invariants import (
    RESERVATION_OWNER,
    Hold,
    HoldLine,
    InventoryFacts,
    Reservation,
    Snapshot,
    awaiting_transfers_held_once,
    holds_have_live_owners,
)
from omnistock_reservations.domain.status import HOLDING, Status

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
NOW = EARLIER + timedelta(hours=1)
OWNER = f"{RESERVATION_OWNER}r-1"


def held(hold_id: str, location: str, units: int, *, released: int = 0, owner: str = OWNER) -> Hold:
    state = HoldState.ACTIVE if units > released else HoldState.RELEASED
    lines = {(location, "SKU-1"): HoldLine(units, 0, released)}
    return Hold(hold_id, owner, state, EARLIER, EARLIER, lines, active=state is HoldState.ACTIVE)


def transfer(status: str, lines: dict[str, int] | None = None, arrival: str = "") -> Transfer:
    return Transfer(
        "t-1",
        "WH-1",
        "STORE-1",
        status,
        OWNER,
        "h-origin",
        arrival,
        lines or {"SKU-1": 2},
        EARLIER,
        draft=TransferStatus(status) is TransferStatus.DRAFT,
        in_transit=TransferStatus(status) is TransferStatus.SHIPPED,
    )


def waiting(status: str = "awaiting_transfer") -> Reservation:
    word = Status(status)
    return Reservation(
        "r-1",
        "req",
        status,
        "STORE-1",
        "h-origin",
        "",
        {"SKU-1": 2},
        EARLIER,
        EARLIER,
        "t-1",
        pending=word is Status.PENDING,
        holds_stock=word in HOLDING,
        awaiting_transfer=word is Status.AWAITING_TRANSFER,
        collected=word is Status.COLLECTED,
    )


def check(holds: list[Hold], moving: Transfer | None, status: str = "awaiting_transfer") -> list[str]:
    r = waiting(status)
    s = Snapshot(
        at=NOW,
        cutoff=NOW,
        inventory=InventoryFacts({h.hold_id: h for h in holds}, [], {"t-1": moving} if moving else {}),
        reservations={"r-1": r},
    )
    return [v.detail for v in awaiting_transfers_held_once(s) + holds_have_live_owners(s)]


def test_held_at_the_origin_before_shipping_and_in_transit_after_is_clean() -> None:
    assert check([held("h-origin", "WH-1", 2)], transfer("draft")) == []
    assert check([held("h-origin", "WH-1", 2, released=2)], transfer("shipped")) == []


def test_a_draft_whose_origin_hold_ran_out_or_holds_too_little_is_named() -> None:
    assert "held at WH-1" in check([held("h-origin", "WH-1", 2, released=2)], transfer("draft"))[0]
    assert "held at WH-1" in check([held("h-origin", "WH-1", 1)], transfer("draft"))[0]


def test_units_still_held_at_the_origin_once_shipped_are_counted_twice() -> None:
    assert "in transit and still held" in check([held("h-origin", "WH-1", 2)], transfer("shipped"))[0]


def test_a_missing_cancelled_or_different_transfer_is_named() -> None:
    assert "does not exist" in check([held("h-origin", "WH-1", 2)], None)[0]
    assert "is cancelled" in check([], transfer("cancelled"))[0]
    assert "wants" in check([held("h-origin", "WH-1", 3)], transfer("draft", {"SKU-1": 3}))[0]


def test_another_hold_keeping_units_for_it_is_named() -> None:
    found = check([held("h-origin", "WH-1", 2), held("h-other", "STORE-1", 1)], transfer("draft"))
    assert any("other holds keep units for it: h-other" in detail for detail in found)


def test_the_arrival_hold_before_the_reservation_caught_up_is_no_orphan() -> None:
    arrival = held("h-arrival", "STORE-1", 2)
    assert (
        holds_have_live_owners(
            Snapshot(
                at=NOW,
                cutoff=NOW,
                inventory=InventoryFacts(
                    {"h-arrival": arrival}, [], {"t-1": transfer("received", arrival="h-arrival")}
                ),
                reservations={"r-1": waiting()},
            )
        )
        == []
    )


def test_a_set_travels_as_its_components_and_counts_once() -> None:
    """r-1 waits for 1 SET-1 (1 SKU-1 and 2 SKU-2): the transfer and its origin hold carry 1 and 2."""
    parts = {"SKU-1": 1, "SKU-2": 2}

    def of_set(status: str, lines: dict[str, int], holds: list[Hold]) -> list[str]:
        r = dataclasses.replace(waiting(), lines={"SET-1": 1})
        s = Snapshot(
            at=NOW,
            cutoff=NOW,
            inventory=InventoryFacts(
                {h.hold_id: h for h in holds}, [], {"t-1": transfer(status, lines)}, bundles={"SET-1": parts}
            ),
            reservations={"r-1": r},
        )
        return [v.detail for v in awaiting_transfers_held_once(s)]

    def origin(open_units: dict[str, int]) -> Hold:
        lines = {("WH-1", sku): HoldLine(units, 0, 0) for sku, units in open_units.items()}
        return Hold("h-origin", OWNER, HoldState.ACTIVE, EARLIER, EARLIER, lines, active=True)

    assert of_set("draft", parts, [origin(parts)]) == []
    assert "held at WH-1" in of_set("draft", parts, [origin({"SKU-1": 1, "SKU-2": 1})])[0]
    assert "wants SET" not in of_set("draft", {"SKU-1": 1}, [origin(parts)])[0]  # named in components
    assert "wants SKU-1" in of_set("draft", {"SKU-1": 1}, [origin(parts)])[0]
