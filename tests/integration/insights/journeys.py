"""Customer journeys written as the events the other services publish, and publishing them.

The tests publish the events themselves, so the figures they check do not
depend on how far the other services have come. Every journey happens at
locations of its own (unique ids), on a fixed day in the past.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from google.protobuf.message import Message
from nats.js.errors import NotFoundError

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_insights.entrypoints.handlers import DURABLE
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.testing.stack import unique_id

DAY = date(2026, 6, 1)
MORNING = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Event:
    """One event as a service would publish it: type <service>.<entity>.<event>, at a moment."""

    type: str
    payload: Message
    at: datetime

    def envelope(self) -> common_pb2.EventEnvelope:
        envelope = new_envelope(self.type, self.payload, source=self.type.split(".")[0], request_id=unique_id())
        envelope.time.FromDatetime(self.at)
        return envelope


def _stamp(message: Message, name: str, moment: datetime | None) -> None:
    if moment is not None:
        getattr(message, name).FromDatetime(moment)


def allocation(location_id: str, lines: dict[str, int]) -> opb.Allocation:
    return opb.Allocation(
        allocation_id=unique_id("ALLOC-"),
        location_id=location_id,
        hold_id=unique_id("HOLD-"),
        lines=[common_pb2.SkuQuantity(sku=sku, quantity=quantity) for sku, quantity in lines.items()],
        status=opb.ALLOCATION_STATUS_HELD,
    )


@dataclass
class Order:
    """An order's snapshot, changed step by step as its journey goes on."""

    channel: int
    method: int
    lines: list[tuple[str, int, int]]  # sku, quantity, unit price (minor units)
    created_at: datetime
    store_id: str = ""
    currency: str = "EUR"
    order_id: str = field(default_factory=lambda: unique_id("ORD-"))
    allocations: list[opb.Allocation] = field(default_factory=list)
    status: int = opb.ORDER_STATUS_PENDING
    # A set's components by its SKU, units per set, as orders puts them on the line.
    sets: dict[str, dict[str, int]] = field(default_factory=dict)
    # Split sets (Order.sets): their part lines are among `lines`, at price 0.
    split: list[opb.OrderSet] = field(default_factory=list)

    def event(self, name: str, at: datetime, new: Iterable[opb.Allocation] = ()) -> Event:
        order = opb.Order(
            order_id=self.order_id,
            channel=self.channel,  # type: ignore[arg-type]
            customer_id="CUST-1",
            method=self.method,  # type: ignore[arg-type]
            store_id=self.store_id,
            status=self.status,  # type: ignore[arg-type]
            currency=self.currency,
            lines=[
                opb.OrderLine(
                    line_no=n,
                    sku=sku,
                    quantity=qty,
                    unit_price_minor=price,
                    currency=self.currency,
                    components=[
                        common_pb2.SkuQuantity(sku=part, quantity=units)
                        for part, units in self.sets.get(sku, {}).items()
                    ],
                )
                for n, (sku, qty, price) in enumerate(self.lines, start=1)
            ],
            allocations=self.allocations,
            total_minor=sum(qty * price for _, qty, price in self.lines)
            + sum(found.quantity * found.unit_price_minor for found in self.split),
            sets=self.split,
        )
        _stamp(order, "created_at", self.created_at)
        _stamp(order, "updated_at", at)
        return Event(f"orders.order.{name}", opb.OrderChanged(order=order, new_allocations=list(new)), at)

    def created(self, *allocations: opb.Allocation) -> Event:
        self.allocations.extend(allocations)
        self.status = opb.ORDER_STATUS_ALLOCATED if allocations else opb.ORDER_STATUS_PENDING
        return self.event("created", self.created_at, allocations)

    def allocated(self, at: datetime, *allocations: opb.Allocation) -> Event:
        self.allocations.extend(allocations)
        self.status = opb.ORDER_STATUS_ALLOCATED
        return self.event("allocated", at, allocations)

    def rerouted(self, at: datetime, short: opb.Allocation, *replacements: opb.Allocation) -> Event:
        short.status = opb.ALLOCATION_STATUS_SHORT
        self.allocations.extend(replacements)
        return self.event("rerouted", at, replacements)

    def finished(self, name: str, at: datetime, status: int) -> Event:
        self.status = status
        return self.event(name, at)


@dataclass
class Reservation:
    channel: int
    store_id: str
    created_at: datetime
    reservation_id: str = field(default_factory=lambda: unique_id("RES-"))
    status: int = rpb.RESERVATION_STATUS_ACTIVE
    ready_at: datetime | None = None
    closed_at: datetime | None = None

    def event(self, name: str, at: datetime) -> Event:
        reservation = rpb.Reservation(
            reservation_id=self.reservation_id,
            channel=self.channel,  # type: ignore[arg-type]
            store_id=self.store_id,
            lines=[common_pb2.SkuQuantity(sku="SKU-SOFA", quantity=1)],
            pickup_code="ABC123",
            status=self.status,  # type: ignore[arg-type]
        )
        _stamp(reservation, "created_at", self.created_at)
        _stamp(reservation, "ready_at", self.ready_at)
        _stamp(reservation, "closed_at", self.closed_at)
        return Event(f"reservations.reservation.{name}", rpb.ReservationChanged(reservation=reservation), at)

    def created(self) -> Event:
        return self.event("created", self.created_at)

    def ready(self, at: datetime) -> Event:
        self.status, self.ready_at = rpb.RESERVATION_STATUS_READY_FOR_PICKUP, at
        return self.event("ready", at)

    def closed(self, name: str, at: datetime, status: int) -> Event:
        self.status, self.closed_at = status, at
        return self.event(name, at)


@dataclass
class Task:
    location_id: str
    created_at: datetime
    order_id: str = ""
    reservation_id: str = ""
    task_id: str = field(default_factory=lambda: unique_id("TASK-"))
    status: int = fpb.TASK_STATUS_OPEN

    def event(self, name: str, at: datetime, status: int | None = None, short: int = 0) -> Event:
        if status is not None:
            self.status = status
        task = fpb.Task(
            task_id=self.task_id,
            kind=fpb.TASK_KIND_PICK if self.order_id else fpb.TASK_KIND_PICKUP_PREPARATION,
            location_id=self.location_id,
            status=self.status,  # type: ignore[arg-type]
            order_id=self.order_id,
            reservation_id=self.reservation_id,
            lines=[fpb.TaskLine(sku="SKU-A", quantity=2, picked=2 - short)],
        )
        _stamp(task, "created_at", self.created_at)
        _stamp(task, "updated_at", at)
        missing = [common_pb2.SkuQuantity(sku="SKU-A", quantity=short)] if short else []
        return Event(f"fulfilment.task.{name}", fpb.TaskChanged(task=task, short=missing), at)


def demand_refused(
    service: str, channel: int, location_id: str, at: datetime, short: list[tuple[str, int, int]]
) -> Event:
    """short: (sku, requested, available) at location_id."""
    payload = common_pb2.DemandRefused(
        channel_service=service,
        channel=channel,  # type: ignore[arg-type]
        location_id=location_id,
        requested=[common_pb2.SkuQuantity(sku=sku, quantity=requested) for sku, requested, _ in short],
        short=[
            common_pb2.ShortLine(location_id=location_id, sku=sku, requested=requested, available=available)
            for sku, requested, available in short
        ],
    )
    return Event(f"{service}.demand.refused", payload, at)


def stock_changed(
    location_id: str,
    at: datetime,
    on_hand: int,
    held: int,
    incoming: int = 0,
    in_transit: int = 0,
    in_transit_reserved: int = 0,
) -> Event:
    level = ipb.StockLevel(
        location_id=location_id,
        sku="SKU-A",
        on_hand=on_hand,
        held=held,
        incoming=incoming,
        in_transit=in_transit,
        in_transit_reserved=in_transit_reserved,
    )
    _stamp(level, "updated_at", at)
    return Event("inventory.stock.changed", ipb.StockChanged(level=level, cause=ipb.MOVEMENT_KIND_HOLD), at)


def store_day(store: str, warehouse: str) -> list[Event]:
    """One day at a store, in the order the services would publish it:

    - 3 web orders: a split ship order (store + warehouse, shipped after 26 h), a pickup
      order re-routed to the warehouse after a short pick, a carry-out sale;
    - 4 chat reservations: 2 collected (ready after 2 h and 4 h), 1 expired, 1 cancelled;
    - 5 tasks at the store, 2 of them short-picked (one web, one chat);
    - 2 refused demands (web and chat), 3 stock changes, none of them an oversell.
    """
    web, chat = common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_CHAT
    events: list[Event] = []
    shipped = Order(web, common_pb2.FULFILMENT_METHOD_SHIP, [("SKU-A", 2, 1500), ("SKU-B", 1, 3000)], MORNING)
    events.append(shipped.created())
    here, there = allocation(store, {"SKU-A": 2}), allocation(warehouse, {"SKU-B": 1})
    events.append(shipped.allocated(MORNING + HOUR / 60, here, there))
    shipped_task = Task(store, MORNING + HOUR / 30, order_id=shipped.order_id)
    events.append(shipped_task.event("created", shipped_task.created_at))
    events.append(shipped_task.event("picked", MORNING + HOUR, fpb.TASK_STATUS_PICKED))
    events.append(shipped_task.event("packed", MORNING + 2 * HOUR, fpb.TASK_STATUS_PACKED))
    events.append(shipped_task.event("shipped", MORNING + 26 * HOUR, fpb.TASK_STATUS_SHIPPED))
    events.append(shipped.finished("partially_shipped", MORNING + 26 * HOUR, opb.ORDER_STATUS_PARTIALLY_SHIPPED))

    pickup = Order(web, common_pb2.FULFILMENT_METHOD_PICKUP, [("SKU-A", 1, 1500)], MORNING + HOUR, store_id=store)
    first = allocation(store, {"SKU-A": 1})
    events.append(pickup.created(first))
    pickup_task = Task(store, MORNING + 2 * HOUR, order_id=pickup.order_id)
    events.append(pickup_task.event("created", pickup_task.created_at))
    events.append(pickup_task.event("short_picked", MORNING + 3 * HOUR, fpb.TASK_STATUS_PICKED, short=1))
    events.append(pickup.rerouted(MORNING + 3 * HOUR, first, allocation(warehouse, {"SKU-A": 1})))

    carry_out = Order(
        web, common_pb2.FULFILMENT_METHOD_CARRY_OUT, [("SKU-C", 3, 999)], MORNING + 5 * HOUR, store_id=store
    )
    events.append(carry_out.created())
    events.append(carry_out.allocated(MORNING + 5 * HOUR, allocation(store, {"SKU-C": 3})))
    till_task = Task(store, MORNING + 5 * HOUR, order_id=carry_out.order_id)
    events.append(till_task.event("created", till_task.created_at))
    events.append(till_task.event("picked", MORNING + 5 * HOUR + HOUR / 6, fpb.TASK_STATUS_PICKED))
    events.append(till_task.event("handed_over", MORNING + 5 * HOUR + HOUR / 3, fpb.TASK_STATUS_HANDED_OVER))
    events.append(carry_out.finished("completed", MORNING + 5 * HOUR + HOUR / 3, opb.ORDER_STATUS_COMPLETED))

    collected, early = Reservation(chat, store, MORNING), Reservation(chat, store, MORNING + HOUR)
    for reservation, ready_after, short in ((collected, 2 * HOUR, 0), (early, 4 * HOUR, 1)):
        events.append(reservation.created())
        task = Task(store, reservation.created_at + HOUR / 6, reservation_id=reservation.reservation_id)
        events.append(task.event("created", task.created_at))
        events.append(
            task.event("short_picked" if short else "picked", task.created_at + HOUR / 6, fpb.TASK_STATUS_PICKED, short)
        )
        at = reservation.created_at + ready_after
        events.append(reservation.ready(at))
        events.append(task.event("ready_for_pickup", at, fpb.TASK_STATUS_READY_FOR_PICKUP))
        events.append(reservation.closed("collected", at + 3 * HOUR, rpb.RESERVATION_STATUS_COLLECTED))
    no_show = Reservation(chat, store, MORNING + 2 * HOUR)
    events.append(no_show.created())
    events.append(no_show.closed("expired", MORNING + 50 * HOUR, rpb.RESERVATION_STATUS_EXPIRED))
    changed_mind = Reservation(chat, store, MORNING + 3 * HOUR)
    events.append(changed_mind.created())
    events.append(changed_mind.closed("cancelled", MORNING + 4 * HOUR, rpb.RESERVATION_STATUS_CANCELLED))

    events.append(demand_refused("orders", web, store, MORNING + 6 * HOUR, [("SKU-D", 2, 0)]))
    events.append(demand_refused("reservations", chat, store, MORNING + 7 * HOUR, [("SKU-D", 1, 0), ("SKU-E", 3, 1)]))
    for hour, (on_hand, held) in enumerate([(5, 0), (5, 2), (3, 0)], start=8):
        events.append(stock_changed(store, MORNING + hour * HOUR, on_hand, held))
    return events


class Publisher:
    """Publishes events as the services would, and waits until insights counted them."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.settings = bus.settings

    async def publish(self, envelope: common_pb2.EventEnvelope, msg_id: str | None = None) -> int:
        service, entity, name = envelope.type.split(".")
        ack = await self.bus.js.publish(
            self.settings.subject(service, entity, name),
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": msg_id or envelope.event_id},
        )
        return int(ack.seq)

    async def publish_all(self, events: Iterable[Event]) -> list[common_pb2.EventEnvelope]:
        envelopes = [event.envelope() for event in events]
        last = 0
        for envelope in envelopes:
            last = await self.publish(envelope)
        await self.counted(last)
        return envelopes

    async def redeliver(self, envelopes: Iterable[common_pb2.EventEnvelope]) -> None:
        """The same events again under new Nats-Msg-Ids: JetStream stores each a second time."""
        last = 0
        for envelope in envelopes:
            last = await self.publish(envelope, msg_id=unique_id())
        await self.counted(last)

    async def counted(self, sequence: int, timeout: float = 15.0) -> None:
        """The projection's consumer has acknowledged everything up to `sequence`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                info = await self.bus.js.consumer_info(self.settings.stream_name, DURABLE)
                if info.ack_floor and (info.ack_floor.stream_seq or 0) >= sequence:
                    return
            except NotFoundError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"insights did not count the events up to {sequence} in {timeout} s")
            await asyncio.sleep(0.05)
