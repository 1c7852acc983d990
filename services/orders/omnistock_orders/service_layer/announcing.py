"""What an order's change tells the others, in the order they hear it.

A change that moves the order (a re-route, a backorder filled, an edit, a hold given back) first
announces its own event, then the status it reached, and last `orders.order.repromised` when the
promise moved: the customer hears the new date after what moved it.
"""

from __future__ import annotations

from collections.abc import Collection

import asyncpg

from omnistock_orders.adapters.messages import order_changed, order_message
from omnistock_orders.adapters.repository import OrderRecord
from omnistock_orders.domain.order import Order, OrderStatus
from omnistock_platform.events.outbox import Outbox

STATUS_EVENTS = {
    OrderStatus.PARTIALLY_SHIPPED: "order.partially_shipped",
    OrderStatus.COMPLETED: "order.completed",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.BACKORDERED: "order.backordered",
}


async def announce(
    outbox: Outbox,
    conn: asyncpg.Connection,
    saved: OrderRecord,
    record: OrderRecord,
    before: Order,
    repromised: bool,
    *,
    told: Collection[str] = (),
) -> None:
    """After the change's own event: the status `saved` reached when it differs from `before`'s
    (unless the change already told it, one of `told`), then `order.repromised` with `record`, the
    order as it was, as its previous state."""
    changed_to = STATUS_EVENTS.get(saved.order.status) if saved.order.status is not before.status else None
    if changed_to is not None and changed_to not in told:
        await outbox.add(conn, changed_to, order_changed(saved))
    if repromised:
        moved = order_changed(saved)
        moved.previous.CopyFrom(order_message(record))
        await outbox.add(conn, "order.repromised", moved)
