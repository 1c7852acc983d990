"""Returns in their protobuf form."""

from __future__ import annotations

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.messages import timestamp
from omnistock_orders.domain.returns import Condition, Return, ReturnStatus

STATUS_TO_PROTO: dict[ReturnStatus, orders_pb2.ReturnStatus.ValueType] = {
    ReturnStatus.AUTHORISED: orders_pb2.RETURN_STATUS_AUTHORISED,
    ReturnStatus.RECEIVED: orders_pb2.RETURN_STATUS_RECEIVED,
    ReturnStatus.CANCELLED: orders_pb2.RETURN_STATUS_CANCELLED,
}
STATUS_FROM_PROTO = {value: key for key, value in STATUS_TO_PROTO.items()}

CONDITION_FROM_PROTO: dict[orders_pb2.ReturnCondition.ValueType, Condition] = {
    orders_pb2.RETURN_CONDITION_RESTOCK: Condition.RESTOCK,
    orders_pb2.RETURN_CONDITION_DAMAGED: Condition.DAMAGED,
    orders_pb2.RETURN_CONDITION_WRITE_OFF: Condition.WRITE_OFF,
}


def return_message(found: Return) -> orders_pb2.Return:
    message = orders_pb2.Return(
        return_id=found.return_id,
        order_id=found.order_id,
        channel=common_pb2.Channel.Value(found.channel),
        customer_id=found.customer_id,
        location_id=found.location_id,
        by_post=found.by_post,
        reason=found.reason,
        status=STATUS_TO_PROTO[found.status],
        lines=[
            orders_pb2.ReturnLine(
                sku=line.sku,
                quantity=line.quantity,
                restocked=line.restocked,
                damaged=line.damaged,
                written_off=line.written_off,
            )
            for line in found.lines
        ],
        received_by=found.received_by,
        cancel_reason=found.cancel_reason,
        sets=[
            orders_pb2.ReturnSet(
                sku=item.sku,
                quantity=item.quantity,
                components=[common_pb2.SkuQuantity(sku=part, quantity=per_set) for part, per_set in item.components],
                restocked=item.restocked,
                damaged=item.damaged,
                written_off=item.written_off,
            )
            for item in found.sets
        ],
    )
    if found.created_at is not None:
        message.created_at.CopyFrom(timestamp(found.created_at))
    if found.updated_at is not None:
        message.updated_at.CopyFrom(timestamp(found.updated_at))
    if found.received_at is not None:
        message.received_at.CopyFrom(timestamp(found.received_at))
    return message


def return_changed(found: Return) -> orders_pb2.ReturnChanged:
    return orders_pb2.ReturnChanged(order_return=return_message(found))
