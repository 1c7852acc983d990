"""Events of orders and reservations that make, finish or withdraw work here."""

from __future__ import annotations

import dataclasses

import asyncpg
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock.reservations.v1 import reservations_pb2
from omnistock_fulfilment.adapters.hold_messages import order_holds_of
from omnistock_fulfilment.adapters.messages import allocations_of, edited_allocations_of, promised_at, reservation_of
from omnistock_fulfilment.service_layer.holds import TaskHolds
from omnistock_fulfilment.service_layer.intake import TaskIntake
from omnistock_platform.db import Database
from omnistock_platform.errors import InvalidArgument
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.consumer import EventConsumer, PoisonEvent
from omnistock_platform.logging import get_logger
from omnistock_platform.settings import Settings

log = get_logger(__name__)

# Each consumer filters on one wildcard subject, which every JetStream server supports (several
# filter subjects need NATS 2.10); the events fulfilment has no part in are acknowledged unread.
ORDER_EVENTS = frozenset(
    {"allocated", "rerouted", "cancelled", "held", "hold_released", "hold_expired", "edited", "repromised"}
)
# Allocations that left the location (inventory sold them): a cancellation of the rest keeps their task.
LEFT_STATUSES = frozenset({orders_pb2.ALLOCATION_STATUS_SHIPPED, orders_pb2.ALLOCATION_STATUS_HANDED_OVER})
RESERVATION_EVENTS = frozenset(
    {"created", "ready", "shorted", "cancelled", "expired", "converted", "collected", "repromised"}
)


class EventHandlers:
    def __init__(self, intake: TaskIntake, holds: TaskHolds | None = None) -> None:
        self.intake = intake
        self.holds = holds or TaskHolds(intake.changes)

    async def on_order(self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        event = envelope.type.rsplit(".", 1)[-1]
        if event not in ORDER_EVENTS:
            return
        if not isinstance(payload, orders_pb2.OrderChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not OrderChanged")
        try:
            # Every order event carries the order's holds and allocations: the newest says what waits,
            # and what each allocation holds. An event handled after a newer one (a retry) makes and
            # changes its tasks as the newer one says.
            heard = order_holds_of(payload)
            newest = await self.holds.order_changed(conn, heard)
            # An edit, or a re-route of units a hold lost before they were picked (a transfer received
            # short: `previous` is set): the allocation's task gets its new lines.
            if event == "edited" or (event == "rerouted" and payload.HasField("previous")):
                for allocation_id, said in edited_allocations_of(payload):
                    lines = newest.lines_now(allocation_id, said)
                    if lines is None and said is not None:
                        continue  # a newer event ended the allocation, and did what that asked
                    await self.intake.allocation_edited(
                        conn,
                        envelope.event_id,
                        payload.order.order_id,
                        allocation_id,
                        lines,
                        newest.held_beside(allocation_id),
                    )
            if event in ("allocated", "rerouted", "edited"):
                for allocation in allocations_of(payload):
                    lines = newest.lines_now(allocation.allocation_id, allocation.lines)
                    if lines is None:
                        continue  # held no longer, as a newer event said: nothing to fetch
                    promise = allocation.promised_at
                    if newest.version > heard.version and newest.promised_at is not None:
                        promise = newest.promised_at  # re-promised since this event: the newest promise wins
                    await self.intake.allocation_made(
                        conn, dataclasses.replace(allocation, lines=lines, promised_at=promise)
                    )
            elif event == "repromised" and newest.version <= heard.version:  # not overtaken by a newer event
                await self.intake.order_repromised(conn, payload.order.order_id, promised_at(payload.order.promise))
            elif event == "cancelled":
                left = frozenset(
                    allocation.allocation_id
                    for allocation in payload.order.allocations
                    if allocation.status in LEFT_STATUSES
                )
                await self.intake.order_cancelled(conn, payload.order.order_id, "order cancelled", left)
        except InvalidArgument as error:
            raise PoisonEvent(f"{envelope.type} {envelope.event_id}: {error.message}") from error

    async def on_reservation(
        self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message
    ) -> None:
        event = envelope.type.rsplit(".", 1)[-1]
        if event not in RESERVATION_EVENTS:
            return
        if not isinstance(payload, reservations_pb2.ReservationChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not ReservationChanged")
        reservation_id = payload.reservation.reservation_id
        try:
            if event == "created":
                if payload.reservation.status in (
                    reservations_pb2.RESERVATION_STATUS_FAILED,
                    # Ship to store: the units are not at the store yet; the task comes when they arrive.
                    reservations_pb2.RESERVATION_STATUS_AWAITING_TRANSFER,
                ):
                    return
                await self.intake.reservation_made(conn, reservation_of(payload))
            elif event == "ready":
                if payload.reservation.transfer_id:  # arrived on its transfer, received and held at the store
                    await self.intake.reservation_made(conn, reservation_of(payload), ready=True)
            elif event == "repromised":  # units on their way came later: the customer was told a new time
                await self.intake.reservation_repromised(conn, reservation_of(payload))
            elif event == "shorted":  # units on their way did not come: prepare what is still held
                await self.intake.reservation_shortened(conn, reservation_of(payload))
            elif event in ("cancelled", "expired", "converted"):
                await self.intake.reservation_closed(conn, reservation_id, f"reservation {event}")
            elif event == "collected":
                await self.intake.reservation_collected(conn, reservation_id)
        except InvalidArgument as error:
            raise PoisonEvent(f"{envelope.type} {envelope.event_id}: {error.message}") from error


def consumers(settings: Settings, db: Database, bus: EventBus, handlers: EventHandlers) -> list[EventConsumer]:
    return [
        EventConsumer(
            db,
            bus,
            schema="fulfilment",
            durable="fulfilment-orders",
            subjects=[settings.subject("orders", "order", ">")],
            handler=handlers.on_order,
        ),
        EventConsumer(
            db,
            bus,
            schema="fulfilment",
            durable="fulfilment-reservations",
            subjects=[settings.subject("reservations", "reservation", ">")],
            handler=handlers.on_reservation,
        ),
    ]
