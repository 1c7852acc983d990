"""Reservations as contract messages, and the contract's enums as domain values."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.common.v1 import common_pb2
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.errors import Shortfall
from omnistock_platform.promise_messages import promise_message, said_now
from omnistock_reservations.domain.reservation import Reservation
from omnistock_reservations.domain.status import Status

CHANNELS: dict[int, str] = {
    common_pb2.CHANNEL_WEB: "web",
    common_pb2.CHANNEL_APP: "app",
    common_pb2.CHANNEL_CHAT: "chat",
    common_pb2.CHANNEL_POS: "pos",
    common_pb2.CHANNEL_BACKOFFICE: "backoffice",
    common_pb2.CHANNEL_MARKETPLACE: "marketplace",
}
CHANNEL_CODES = {name: code for code, name in CHANNELS.items()}


def channel_code(name: str) -> common_pb2.Channel.ValueType:
    return common_pb2.Channel.ValueType(CHANNEL_CODES.get(name, common_pb2.CHANNEL_UNSPECIFIED))


STATUSES: dict[pb.ReservationStatus.ValueType, Status] = {
    pb.RESERVATION_STATUS_PENDING: Status.PENDING,
    pb.RESERVATION_STATUS_ACTIVE: Status.ACTIVE,
    pb.RESERVATION_STATUS_READY_FOR_PICKUP: Status.READY_FOR_PICKUP,
    pb.RESERVATION_STATUS_COLLECTED: Status.COLLECTED,
    pb.RESERVATION_STATUS_CANCELLED: Status.CANCELLED,
    pb.RESERVATION_STATUS_EXPIRED: Status.EXPIRED,
    pb.RESERVATION_STATUS_CONVERTED: Status.CONVERTED,
    pb.RESERVATION_STATUS_FAILED: Status.FAILED,
    pb.RESERVATION_STATUS_AWAITING_TRANSFER: Status.AWAITING_TRANSFER,
}
STATUS_CODES: dict[Status, pb.ReservationStatus.ValueType] = {status: code for code, status in STATUSES.items()}


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def reservation(found: Reservation) -> pb.Reservation:
    customer = found.customer
    return pb.Reservation(
        reservation_id=found.reservation_id,
        channel=channel_code(found.channel),
        customer=pb.Customer(
            customer_id=customer.customer_id, name=customer.name, email=customer.email, phone=customer.phone
        ),
        store_id=found.store_id,
        lines=[common_pb2.SkuQuantity(sku=line.sku, quantity=line.quantity) for line in found.lines],
        pickup_code=found.pickup_code,
        status=STATUS_CODES[found.status],
        hold_id=found.hold_id,
        expires_at=timestamp(found.expires_at),
        created_at=timestamp(found.created_at),
        ready_at=timestamp(found.ready_at),
        closed_at=timestamp(found.closed_at),
        order_id=found.order_id,
        cancel_reason=found.cancel_reason,
        transfer_id=found.transfer_id,
        transfer_origin_id=found.transfer_origin_id,
        promised_at=timestamp(found.promised_at),
        promise=said_now(promise_message(found.promise)) if found.promise is not None else None,
        updated_at=timestamp(found.updated_at),
    )


def changed(found: Reservation) -> pb.ReservationChanged:
    return pb.ReservationChanged(
        reservation=reservation(found),
        shorted=[common_pb2.SkuQuantity(sku=sku, quantity=units) for sku, units in sorted(found.shorted.items())],
    )


def demand_refused(found: Reservation, shortfall: Shortfall) -> common_pb2.DemandRefused:
    """What a channel asked for at a store and did not get, for whoever counts lost demand."""
    return common_pb2.DemandRefused(
        channel_service="reservations",
        channel=channel_code(found.channel),
        location_id=found.store_id,
        requested=[common_pb2.SkuQuantity(sku=line.sku, quantity=line.quantity) for line in found.lines],
        short=[
            common_pb2.ShortLine(
                location_id=line.location_id, sku=line.sku, requested=line.requested, available=line.available
            )
            for line in shortfall.lines
        ],
    )
