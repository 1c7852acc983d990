"""When work is due: tasks are listed and worked in the order of their promise.

A task is due when its customer was promised the goods (the order's or reservation's promise: ready
for pickup from then, or the start of the delivery day). Only where no promise was made (carry-out,
units on their way that nothing says when they arrive, an event from a version that sent none) is
it a fixed time after the order or reservation was made."""

from __future__ import annotations

from datetime import datetime, timedelta

from omnistock_fulfilment.domain.task import Method

# How long a location has for an order from the moment it was placed, by how it leaves.
ORDER_LEAD_TIME: dict[Method, timedelta] = {
    Method.CARRY_OUT: timedelta(minutes=15),
    Method.PICKUP: timedelta(hours=2),
    Method.SHIP: timedelta(hours=24),
    Method.UNSPECIFIED: timedelta(hours=24),
}

# A reservation's items should be at the desk well before the customer may come, and never
# later than the reservation runs out.
PREPARATION_LEAD_TIME = timedelta(hours=4)


def order_promise(placed_at: datetime, method: Method, promised_at: datetime | None = None) -> datetime:
    if promised_at is not None:
        return promised_at
    return placed_at + ORDER_LEAD_TIME[method]


def preparation_promise(
    created_at: datetime, expires_at: datetime | None, promised_at: datetime | None = None
) -> datetime:
    due = promised_at if promised_at is not None else created_at + PREPARATION_LEAD_TIME
    return min(due, expires_at) if expires_at is not None else due
