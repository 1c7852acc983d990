"""When work is due: tasks are listed and worked in the order of their promise.

A pickup or a reservation's preparation is due when its customer was promised the goods (ready for
pickup from then). A parcel must leave before its promised delivery day, which says nothing of when
it leaves: a ship task stays due a fixed time after the order was placed, or on the delivery day
itself when that comes first. Where no promise was made (carry-out, units on their way that nothing
says when they arrive, an event from a version that sent none) a task is due a fixed time after the
order or reservation was made."""

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
    fixed = placed_at + ORDER_LEAD_TIME[method]
    if promised_at is None:
        return fixed
    return repromised(method, fixed, promised_at)


def repromised(method: Method, due: datetime, promised_at: datetime) -> datetime:
    """When a task due at `due` is due once its customer is promised the goods at `promised_at`: then,
    for a pickup; for a parcel, which leaves before its delivery day, the earlier of the two."""
    if method in (Method.SHIP, Method.UNSPECIFIED):
        return min(due, promised_at)
    return promised_at


def preparation_promise(
    created_at: datetime, expires_at: datetime | None, promised_at: datetime | None = None
) -> datetime:
    due = promised_at if promised_at is not None else created_at + PREPARATION_LEAD_TIME
    return min(due, expires_at) if expires_at is not None else due
