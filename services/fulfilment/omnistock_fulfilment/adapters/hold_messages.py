"""Fulfilment holds as orders' events tell them, and as a task shows its own."""

from __future__ import annotations

from datetime import UTC, datetime

from omnistock.orders.v1 import orders_pb2
from omnistock_fulfilment.adapters.messages import HOLD_REASONS, from_timestamp, promised_at
from omnistock_fulfilment.domain.order_holds import ActiveHold, HeldAllocation, OrderHolds

REASON_NAMES = {code: name for name, code in HOLD_REASONS.items()}


def order_holds_of(event: orders_pb2.OrderChanged) -> OrderHolds:
    """The order's active holds as the event saw them (none once the order is over), its
    allocations' lines while held, and when it promised the customer the goods."""
    order = event.order
    over = order.status in (orders_pb2.ORDER_STATUS_COMPLETED, orders_pb2.ORDER_STATUS_CANCELLED)
    active = tuple(
        ActiveHold(hold.allocation_id, REASON_NAMES.get(hold.reason, "on_hold"))
        for hold in order.holds
        if hold.status == orders_pb2.FULFILMENT_HOLD_STATUS_ACTIVE and not over
    )
    version = from_timestamp(order.updated_at) or datetime.now(UTC)
    allocations = {
        allocation.allocation_id: HeldAllocation(
            allocation.location_id, allocation.hold_id, tuple((line.sku, line.quantity) for line in allocation.lines)
        )
        if allocation.status == orders_pb2.ALLOCATION_STATUS_HELD
        else None
        for allocation in order.allocations
    }
    return OrderHolds(order.order_id, version, active, over, allocations, promised_at(order.promise))
