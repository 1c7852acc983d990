"""Fulfilment holds as contract messages."""

from __future__ import annotations

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.domain.fulfilment_holds import FulfilmentHold, HoldReason, HoldStatus

REASONS: dict[HoldReason, common_pb2.FulfilmentHoldReason.ValueType] = {
    HoldReason.PAYMENT_PENDING: common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING,
    HoldReason.FRAUD_REVIEW: common_pb2.FULFILMENT_HOLD_REASON_FRAUD_REVIEW,
    HoldReason.ADDRESS_CHECK: common_pb2.FULFILMENT_HOLD_REASON_ADDRESS_CHECK,
}
REASON_CODES = {code: reason for reason, code in REASONS.items()}
STATUSES: dict[HoldStatus, orders_pb2.FulfilmentHoldStatus.ValueType] = {
    HoldStatus.REQUESTED: orders_pb2.FULFILMENT_HOLD_STATUS_REQUESTED,
    HoldStatus.ACTIVE: orders_pb2.FULFILMENT_HOLD_STATUS_ACTIVE,
    HoldStatus.RELEASED: orders_pb2.FULFILMENT_HOLD_STATUS_RELEASED,
    HoldStatus.EXPIRED: orders_pb2.FULFILMENT_HOLD_STATUS_EXPIRED,
    HoldStatus.ENDED: orders_pb2.FULFILMENT_HOLD_STATUS_ENDED,
}


def hold_message(hold: FulfilmentHold) -> orders_pb2.FulfilmentHold:
    message = orders_pb2.FulfilmentHold(
        fulfilment_hold_id=hold.hold_id,
        reason=REASONS[hold.reason],
        note=hold.note,
        allocation_id=hold.allocation_id,
        status=STATUSES[hold.status],
        placed_by=hold.placed_by,
        released_by=hold.released_by,
        release_note=hold.release_note,
    )
    if hold.placed_at is not None:
        message.placed_at.FromDatetime(hold.placed_at)
    if hold.expires_at is not None:
        message.expires_at.FromDatetime(hold.expires_at)
    if hold.closed_at is not None:
        message.closed_at.FromDatetime(hold.closed_at)
    return message
