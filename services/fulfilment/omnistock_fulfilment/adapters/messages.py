"""Tasks to and from their protobuf form, and the values fulfilment takes from other services' events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock.reservations.v1 import reservations_pb2
from omnistock_fulfilment.domain.task import Method, Task, TaskKind, TaskStatus

KIND_TO_PROTO: dict[TaskKind, fulfilment_pb2.TaskKind.ValueType] = {
    TaskKind.PICK: fulfilment_pb2.TASK_KIND_PICK,
    TaskKind.PICKUP_PREPARATION: fulfilment_pb2.TASK_KIND_PICKUP_PREPARATION,
}
KIND_FROM_PROTO = {value: key for key, value in KIND_TO_PROTO.items()}

STATUS_TO_PROTO: dict[TaskStatus, fulfilment_pb2.TaskStatus.ValueType] = {
    TaskStatus.OPEN: fulfilment_pb2.TASK_STATUS_OPEN,
    TaskStatus.PICKING: fulfilment_pb2.TASK_STATUS_PICKING,
    TaskStatus.PICKED: fulfilment_pb2.TASK_STATUS_PICKED,
    TaskStatus.PACKED: fulfilment_pb2.TASK_STATUS_PACKED,
    TaskStatus.SHIPPED: fulfilment_pb2.TASK_STATUS_SHIPPED,
    TaskStatus.READY_FOR_PICKUP: fulfilment_pb2.TASK_STATUS_READY_FOR_PICKUP,
    TaskStatus.HANDED_OVER: fulfilment_pb2.TASK_STATUS_HANDED_OVER,
    TaskStatus.WITHDRAWN: fulfilment_pb2.TASK_STATUS_WITHDRAWN,
}
STATUS_FROM_PROTO = {value: key for key, value in STATUS_TO_PROTO.items()}

METHOD_TO_PROTO: dict[Method, common_pb2.FulfilmentMethod.ValueType] = {
    Method.UNSPECIFIED: common_pb2.FULFILMENT_METHOD_UNSPECIFIED,
    Method.SHIP: common_pb2.FULFILMENT_METHOD_SHIP,
    Method.PICKUP: common_pb2.FULFILMENT_METHOD_PICKUP,
    Method.CARRY_OUT: common_pb2.FULFILMENT_METHOD_CARRY_OUT,
}
METHOD_FROM_PROTO = {value: key for key, value in METHOD_TO_PROTO.items()}

# A task's hold reason (as orders' events name it, see adapters.hold_messages) in the contract.
HOLD_REASONS: dict[str, common_pb2.FulfilmentHoldReason.ValueType] = {
    "payment_pending": common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING,
    "fraud_review": common_pb2.FULFILMENT_HOLD_REASON_FRAUD_REVIEW,
    "address_check": common_pb2.FULFILMENT_HOLD_REASON_ADDRESS_CHECK,
}


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def from_timestamp(stamp: timestamp_pb2.Timestamp) -> datetime | None:
    """None for an unset timestamp."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def task_message(task: Task) -> fulfilment_pb2.Task:
    message = fulfilment_pb2.Task(
        task_id=task.task_id,
        kind=KIND_TO_PROTO[task.kind],
        location_id=task.location_id,
        status=STATUS_TO_PROTO[task.status],
        order_id=task.order_id,
        allocation_id=task.allocation_id,
        reservation_id=task.reservation_id,
        hold_id=task.hold_id,
        lines=[
            fulfilment_pb2.TaskLine(
                sku=line.sku,
                quantity=line.quantity,
                picked=line.picked,
                components=[
                    common_pb2.SkuQuantity(sku=sku, quantity=units * line.quantity) for sku, units in line.components
                ],
            )
            for line in task.lines
        ],
        promise_at=timestamp(task.promise_at),
        carrier=task.carrier,
        tracking_number=task.tracking_number,
        method=METHOD_TO_PROTO[task.method],
        withdrawn_reason=task.withdrawn_reason,
        hold_reason=HOLD_REASONS.get(task.hold_reason, common_pb2.FULFILMENT_HOLD_REASON_UNSPECIFIED),
    )
    if task.created_at is not None:
        message.created_at.CopyFrom(timestamp(task.created_at))
    if task.updated_at is not None:
        message.updated_at.CopyFrom(timestamp(task.updated_at))
    return message


def sku_quantities(quantities: dict[str, int]) -> list[common_pb2.SkuQuantity]:
    return [common_pb2.SkuQuantity(sku=sku, quantity=quantity) for sku, quantity in sorted(quantities.items())]


# What fulfilment needs to know of other services' events, free of their message types.


@dataclass(frozen=True)
class AllocationToFulfil:
    order_id: str
    allocation_id: str
    location_id: str
    hold_id: str
    method: Method
    lines: tuple[tuple[str, int], ...]
    order_placed_at: datetime | None
    # When the customer was promised the order (Order.promise.at); None where no promise was made.
    promised_at: datetime | None = None


def allocations_of(event: orders_pb2.OrderChanged) -> list[AllocationToFulfil]:
    order = event.order
    method = METHOD_FROM_PROTO.get(order.method, Method.UNSPECIFIED)
    return [
        AllocationToFulfil(
            order_id=order.order_id,
            allocation_id=allocation.allocation_id,
            location_id=allocation.location_id,
            hold_id=allocation.hold_id,
            method=method,
            lines=tuple((line.sku, line.quantity) for line in allocation.lines),
            order_placed_at=from_timestamp(order.created_at),
            promised_at=promised_at(order.promise),
        )
        for allocation in event.new_allocations
    ]


def promised_at(promise: common_pb2.Promise) -> datetime | None:
    """When the customer was promised the goods; None for an order or reservation promised nothing."""
    return from_timestamp(promise.at)


def edited_allocations_of(event: orders_pb2.OrderChanged) -> list[tuple[str, tuple[tuple[str, int], ...] | None]]:
    """(allocation id, its new lines, or None when the edit emptied it) for each allocation that was
    held before the edit and changed with it."""
    before = {a.allocation_id: a for a in event.previous.allocations}
    changed: list[tuple[str, tuple[tuple[str, int], ...] | None]] = []
    for allocation in event.order.allocations:
        was = before.get(allocation.allocation_id)
        if was is None or was.status != orders_pb2.ALLOCATION_STATUS_HELD:
            continue
        if allocation.status != orders_pb2.ALLOCATION_STATUS_HELD:
            changed.append((allocation.allocation_id, None))
        elif list(allocation.lines) != list(was.lines):
            changed.append((allocation.allocation_id, tuple((line.sku, line.quantity) for line in allocation.lines)))
    return changed


@dataclass(frozen=True)
class ReservationToPrepare:
    reservation_id: str
    store_id: str
    hold_id: str
    pickup_code: str
    lines: tuple[tuple[str, int], ...]
    created_at: datetime | None
    expires_at: datetime | None
    # The reservation's updated_at: orders its events (None from a version that did not send it).
    version: datetime | None = None
    # When the customer was told the items are ready (Reservation.promise.at); None where no promise was made.
    promised_at: datetime | None = None


def reservation_of(event: reservations_pb2.ReservationChanged) -> ReservationToPrepare:
    reservation = event.reservation
    return ReservationToPrepare(
        reservation_id=reservation.reservation_id,
        store_id=reservation.store_id,
        hold_id=reservation.hold_id,
        pickup_code=reservation.pickup_code,
        lines=tuple((line.sku, line.quantity) for line in reservation.lines),
        created_at=from_timestamp(reservation.created_at),
        expires_at=from_timestamp(reservation.expires_at),
        version=from_timestamp(reservation.updated_at),
        promised_at=promised_at(reservation.promise),
    )
