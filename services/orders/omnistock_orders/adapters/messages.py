"""Orders, plans and their protobuf form."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from google.protobuf import timestamp_pb2

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.hold_messages import hold_message
from omnistock_orders.adapters.repository import OrderRecord
from omnistock_orders.domain.fulfilment_holds import on_hold
from omnistock_orders.domain.order import Allocation, AllocationStatus, OrderStatus
from omnistock_orders.domain.routing import Method, PassReason, Plan
from omnistock_platform.promise_messages import said_now

METHOD_TO_PROTO: dict[Method, common_pb2.FulfilmentMethod.ValueType] = {
    Method.SHIP: common_pb2.FULFILMENT_METHOD_SHIP,
    Method.PICKUP: common_pb2.FULFILMENT_METHOD_PICKUP,
    Method.CARRY_OUT: common_pb2.FULFILMENT_METHOD_CARRY_OUT,
}
METHOD_FROM_PROTO = {value: key for key, value in METHOD_TO_PROTO.items()}

CHANNELS = frozenset(
    {
        common_pb2.CHANNEL_WEB,
        common_pb2.CHANNEL_APP,
        common_pb2.CHANNEL_CHAT,
        common_pb2.CHANNEL_POS,
        common_pb2.CHANNEL_BACKOFFICE,
        common_pb2.CHANNEL_MARKETPLACE,
    }
)

STATUS_TO_PROTO: dict[OrderStatus, orders_pb2.OrderStatus.ValueType] = {
    OrderStatus.PENDING: orders_pb2.ORDER_STATUS_PENDING,
    OrderStatus.ALLOCATED: orders_pb2.ORDER_STATUS_ALLOCATED,
    OrderStatus.PARTIALLY_SHIPPED: orders_pb2.ORDER_STATUS_PARTIALLY_SHIPPED,
    OrderStatus.COMPLETED: orders_pb2.ORDER_STATUS_COMPLETED,
    OrderStatus.CANCELLED: orders_pb2.ORDER_STATUS_CANCELLED,
    OrderStatus.BACKORDERED: orders_pb2.ORDER_STATUS_BACKORDERED,
}
STATUS_FROM_PROTO = {value: key for key, value in STATUS_TO_PROTO.items()}

ALLOCATION_STATUS_TO_PROTO: dict[AllocationStatus, orders_pb2.AllocationStatus.ValueType] = {
    AllocationStatus.HELD: orders_pb2.ALLOCATION_STATUS_HELD,
    AllocationStatus.SHIPPED: orders_pb2.ALLOCATION_STATUS_SHIPPED,
    AllocationStatus.HANDED_OVER: orders_pb2.ALLOCATION_STATUS_HANDED_OVER,
    AllocationStatus.SHORT: orders_pb2.ALLOCATION_STATUS_SHORT,
    AllocationStatus.CANCELLED: orders_pb2.ALLOCATION_STATUS_CANCELLED,
}

REASON_TO_PROTO: dict[PassReason, orders_pb2.PassOverReason.ValueType] = {
    PassReason.METHOD_NOT_SERVED: orders_pb2.PASS_OVER_REASON_METHOD_NOT_SERVED,
    PassReason.TOO_FAR: orders_pb2.PASS_OVER_REASON_TOO_FAR,
    PassReason.NOT_ENOUGH_STOCK: orders_pb2.PASS_OVER_REASON_NOT_ENOUGH_STOCK,
    PassReason.SAFETY_STOCK: orders_pb2.PASS_OVER_REASON_SAFETY_STOCK,
    PassReason.LOWER_RANK: orders_pb2.PASS_OVER_REASON_LOWER_RANK,
    PassReason.FARTHER: orders_pb2.PASS_OVER_REASON_FARTHER,
    PassReason.MORE_SPLITS: orders_pb2.PASS_OVER_REASON_MORE_SPLITS,
    PassReason.EXCLUDED: orders_pb2.PASS_OVER_REASON_EXCLUDED,
    PassReason.NOT_A_WAREHOUSE: orders_pb2.PASS_OVER_REASON_NOT_A_WAREHOUSE,
    PassReason.INACTIVE: orders_pb2.PASS_OVER_REASON_INACTIVE,
    PassReason.CHANNEL_POOL: orders_pb2.PASS_OVER_REASON_CHANNEL_POOL,
}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def sku_quantities(quantities: Mapping[str, int]) -> list[common_pb2.SkuQuantity]:
    return [
        common_pb2.SkuQuantity(sku=sku, quantity=quantity)
        for sku, quantity in sorted(quantities.items())
        if quantity > 0
    ]


def plan_message(plan: Plan) -> orders_pb2.RoutingPlan:
    return orders_pb2.RoutingPlan(
        allocations=[
            orders_pb2.PlannedAllocation(
                location_id=allocation.location_id,
                lines=sku_quantities(allocation.lines),
                distance_km=round(allocation.distance_km or 0.0, 3),
                routing_rank=allocation.routing_rank,
                warehouse=allocation.is_warehouse,
            )
            for allocation in plan.allocations
        ],
        passed_over=[
            orders_pb2.PassedOver(
                location_id=passed.location_id, reason=REASON_TO_PROTO[passed.reason], detail=passed.detail
            )
            for passed in plan.passed_over
        ],
        unfilled=sku_quantities(plan.unfilled),
        complete=plan.complete,
        splits=plan.splits,
        total_distance_km=round(plan.total_distance_km, 3),
        stock_versions=[
            orders_pb2.StockVersion(location_id=location_id, sku=sku, version=version)
            for location_id, sku, version in plan.versions
        ],
        explanation=plan.explanation,
    )


def allocation_message(allocation: Allocation) -> orders_pb2.Allocation:
    return orders_pb2.Allocation(
        allocation_id=allocation.allocation_id,
        location_id=allocation.location_id,
        hold_id=allocation.hold_id,
        lines=sku_quantities(allocation.lines),
        status=ALLOCATION_STATUS_TO_PROTO[allocation.status],
        distance_km=round(allocation.distance_km or 0.0, 3),
    )


def order_message(record: OrderRecord) -> orders_pb2.Order:
    order = record.order
    held, fulfilled = order.held_units(), order.fulfilled_units()
    message = orders_pb2.Order(
        order_id=order.order_id,
        channel=record.channel,
        customer_id=record.customer_id,
        lines=[
            orders_pb2.OrderLine(
                line_no=line.line_no,
                sku=line.sku,
                quantity=line.quantity,
                unit_price_minor=line.unit_price_minor,
                currency=line.currency,
                allocated=held.get(line.sku, 0) + fulfilled.get(line.sku, 0),
                fulfilled=fulfilled.get(line.sku, 0),
                backordered=line.backordered,
                cancelled=line.cancelled,
                components=[common_pb2.SkuQuantity(sku=part, quantity=per_set) for part, per_set in line.components],
                part_of=line.part_of,
            )
            for line in order.lines
        ],
        sets=[
            orders_pb2.OrderSet(
                sku=split.sku,
                quantity=split.quantity,
                unit_price_minor=split.unit_price_minor,
                currency=split.currency,
                components=[common_pb2.SkuQuantity(sku=part, quantity=per_set) for part, per_set in split.components],
                fulfilled=split.whole(fulfilled),
            )
            for split in order.sets
        ],
        method=METHOD_TO_PROTO[order.method],
        store_id=record.store_id,
        reservation_id=record.reservation_id,
        status=STATUS_TO_PROTO[order.status],
        allocations=[allocation_message(allocation) for allocation in order.allocations],
        total_minor=order.total_minor,
        currency=record.currency,
        holds=[hold_message(hold) for hold in record.holds],
        on_hold=on_hold(order, record.holds),
    )
    if record.ship_to is not None:
        message.ship_to.CopyFrom(record.ship_to)
    if record.decision is not None:
        message.decision.CopyFrom(record.decision)
        # The promise lives in the decision: made with the plan the order committed, moved by a
        # re-promise (a re-route keeps the decision and writes the new date into it). Its day is
        # said of today, in the decision as in the order.
        if record.decision.HasField("promise"):
            message.decision.promise.CopyFrom(said_now(record.decision.promise))
            message.promise.CopyFrom(message.decision.promise)
    if record.created_at is not None:
        message.created_at.CopyFrom(timestamp(record.created_at))
    if record.updated_at is not None:
        message.updated_at.CopyFrom(timestamp(record.updated_at))
    return message


def order_changed(
    record: OrderRecord,
    new_allocations: list[Allocation] | None = None,
    *,
    message: orders_pb2.Order | None = None,
) -> orders_pb2.OrderChanged:
    """The event of the order as `record` has it; `message` is its `order_message` when the caller
    has made it already (a placed order's answer and events are one message, made once)."""
    return orders_pb2.OrderChanged(
        order=order_message(record) if message is None else message,
        new_allocations=[allocation_message(allocation) for allocation in new_allocations or []],
    )
