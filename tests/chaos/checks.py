"""What the callers saw, held against what the system kept (beyond `check_all`, which knows
nothing of the callers): every acknowledged request is still there as it was answered, nothing
refused holds stock, every receipt counted once, and no more units sold or held than existed."""

from __future__ import annotations

from dataclasses import dataclass

from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.db import Database
from tests.chaos.workload import IN_DOUBT, OK, Journal

# A reservation seen in one status may since have moved only to these.
LATER = {
    "active": {"active", "ready_for_pickup", "collected", "cancelled", "expired", "converted"},
    "ready_for_pickup": {"ready_for_pickup", "collected", "cancelled", "expired", "converted"},
    "collected": {"collected"},
    "cancelled": {"cancelled"},
    "expired": {"expired"},
    "converted": {"converted"},
}
TERMINAL_ORDER = {"completed", "cancelled"}


def reservation_status(code: int) -> str:
    return rpb.ReservationStatus.Name(code).removeprefix("RESERVATION_STATUS_").lower()  # type: ignore[arg-type]


def order_status(code: int) -> str:
    return opb.OrderStatus.Name(code).removeprefix("ORDER_STATUS_").lower()  # type: ignore[arg-type]


@dataclass
class Units:
    received: int
    adjusted: int
    committed: int
    held: int
    on_hand: int


async def units(db: Database) -> Units:
    ledger = await db.fetchrow(
        "SELECT COALESCE(sum(on_hand_delta) FILTER (WHERE kind = 'receipt'), 0) AS received,"
        " COALESCE(sum(on_hand_delta) FILTER (WHERE kind = 'adjustment'), 0) AS adjusted,"
        " COALESCE(-sum(on_hand_delta) FILTER (WHERE kind = 'commit'), 0) AS committed FROM inventory.movements"
    )
    stock = await db.fetchrow(
        "SELECT COALESCE(sum(on_hand), 0) AS on_hand, COALESCE(sum(held), 0) AS held FROM inventory.stock"
    )
    assert ledger is not None and stock is not None
    return Units(
        int(ledger["received"]),
        int(ledger["adjusted"]),
        int(ledger["committed"]),
        int(stock["held"]),
        int(stock["on_hand"]),
    )


async def acknowledged_still_there(db: Database, journal: Journal) -> list[str]:
    found = []
    rows = await db.fetch(
        "SELECT reservation_id, status FROM reservations.reservations WHERE reservation_id = ANY($1::text[])",
        list(journal.reservations),
    )
    stored = {row["reservation_id"]: row["status"] for row in rows}
    for seen in journal.reservations.values():
        status = stored.get(seen.reservation_id)
        was = reservation_status(seen.status)
        if status is None:
            found.append(f"acknowledged reservation {seen.reservation_id} ({was}) is gone")
        elif status not in LATER.get(was, {was}):
            found.append(f"reservation {seen.reservation_id} was answered {was}, is now {status}")
    rows = await db.fetch(
        "SELECT order_id, status FROM orders.orders WHERE order_id = ANY($1::text[])", list(journal.orders)
    )
    orders = {row["order_id"]: row["status"] for row in rows}
    allocations: dict[str, set[str]] = {}
    for row in await db.fetch(
        "SELECT order_id, allocation_id FROM orders.allocations WHERE order_id = ANY($1::text[])", list(journal.orders)
    ):
        allocations.setdefault(row["order_id"], set()).add(row["allocation_id"])
    for seen in journal.orders.values():
        status = orders.get(seen.order_id)
        was = order_status(seen.status)
        if status is None:
            found.append(f"acknowledged order {seen.order_id} ({was}) is gone")
            continue
        if status == "pending" or (was in TERMINAL_ORDER and status != was):
            found.append(f"order {seen.order_id} was answered {was}, is now {status}")
        lost = seen.allocation_ids - allocations.get(seen.order_id, set())
        if lost:
            found.append(f"order {seen.order_id} lost allocations it was answered with: {sorted(lost)}")
    rows = await db.fetch(
        "SELECT task_id, status FROM fulfilment.tasks WHERE task_id = ANY($1::text[])", list(journal.tasks)
    )
    tasks = {row["task_id"]: row["status"] for row in rows}
    for task_id, code in journal.tasks.items():
        was = {5: "shipped", 7: "handed_over", 8: "withdrawn"}.get(code)
        if task_id not in tasks:
            found.append(f"task {task_id} worked on is gone")
        elif was is not None and tasks[task_id] != was:
            found.append(f"task {task_id} was answered {was}, is now {tasks[task_id]}")
    return found


async def refused_hold_nothing(db: Database, journal: Journal) -> list[str]:
    """A refused reservation never held anything (FAILED, or never written); a refused order was
    dropped. `check_all` then finds any hold left without an owner."""
    found = []
    refused = [request_id for request_id, kind in journal.refused_creations.items() if kind == "reservation"]
    for row in await db.fetch(
        "SELECT request_id, reservation_id, status, hold_id FROM reservations.reservations"
        " WHERE request_id = ANY($1::text[]) AND status <> 'failed'",
        refused,
    ):
        found.append(f"refused reservation request {row['request_id']} left {row['reservation_id']} {row['status']}")
    refused = [request_id for request_id, kind in journal.refused_creations.items() if kind == "order"]
    for row in await db.fetch(
        "SELECT request_id, order_id, status FROM orders.orders WHERE request_id = ANY($1::text[])", refused
    ):
        found.append(f"refused order request {row['request_id']} left order {row['order_id']} {row['status']}")
    return found


async def receipts_counted_once(db: Database, journal: Journal) -> list[str]:
    """Goods received once are on the books once, however often the receipt was retried."""
    rows = await db.fetch(
        "SELECT document_ref, count(*) AS n, sum(on_hand_delta) AS units FROM inventory.movements"
        " WHERE kind = 'receipt' AND document_ref = ANY($1::text[]) GROUP BY document_ref",
        list(journal.receipts),
    )
    booked = {row["document_ref"]: (int(row["n"]), int(row["units"])) for row in rows}
    outcomes = {i.request_id: i.outcome for i in journal.intents if i.kind == "receive"}
    found = []
    for request_id, (location_id, sku, quantity) in journal.receipts.items():
        count, units_booked = booked.get(request_id, (0, 0))
        outcome = outcomes.get(request_id, "")
        if count > 1 or (outcome == OK and count != 1):
            found.append(f"receipt {request_id} ({outcome}) of {quantity} {sku} at {location_id} booked {count} times")
        elif count == 1 and units_booked != quantity:
            found.append(f"receipt {request_id} booked {units_booked} units, not {quantity}")
    return found


async def no_unit_sold_twice(db: Database, journal: Journal) -> tuple[list[str], Units]:
    """Units committed (sold) plus units held never exceed the units that existed; what callers
    were told they bought was committed, and nothing was committed that no caller asked for."""
    counted = await units(db)
    found = []
    existed = counted.received + counted.adjusted
    if counted.committed + counted.held > existed:
        found.append(f"sold {counted.committed} + held {counted.held} > {existed} units that existed")
    if counted.on_hand != existed - counted.committed:
        found.append(f"on hand {counted.on_hand} != existed {existed} - sold {counted.committed}")
    if counted.committed < journal.sold:
        found.append(f"callers were told {journal.sold} units were sold, inventory committed {counted.committed}")
    if counted.committed > journal.sold + journal.sold_in_doubt:
        found.append(
            f"inventory committed {counted.committed} units, callers asked for at most"
            f" {journal.sold + journal.sold_in_doubt} ({journal.sold} acknowledged, {journal.sold_in_doubt} in doubt)"
        )
    in_doubt_receipts = sum(
        journal.receipts[i.request_id][2] for i in journal.intents if i.kind == "receive" and i.outcome == IN_DOUBT
    )
    acknowledged_receipts = sum(
        journal.receipts[i.request_id][2] for i in journal.intents if i.kind == "receive" and i.outcome == OK
    )
    if not acknowledged_receipts <= counted.received <= acknowledged_receipts + in_doubt_receipts:
        found.append(
            f"{counted.received} units received on the books; callers sent {acknowledged_receipts}"
            f" acknowledged and {in_doubt_receipts} in doubt"
        )
    return found, counted


async def journal_violations(db: Database, journal: Journal) -> tuple[list[str], Units]:
    found = await acknowledged_still_there(db, journal)
    found += await refused_hold_nothing(db, journal)
    found += await receipts_counted_once(db, journal)
    sold, counted = await no_unit_sold_twice(db, journal)
    found += sold
    found += [f"unexpected refusal of {i.kind} {i.request_id}: {i.code} {i.detail}" for i in journal.unexpected()]
    return found, counted
