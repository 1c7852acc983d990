"""Helpers for fulfilment tests: the events other services would publish, stock to work with in
inventory, and bounded waiting for what the service does in the background."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.message import Message
from nats.js.errors import NotFoundError

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2
from omnistock.reservations.v1 import reservations_pb2
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import eventually

T = TypeVar("T")

ORDERS_CONSUMER = "fulfilment-orders"
RESERVATIONS_CONSUMER = "fulfilment-reservations"


@dataclass
class Published:
    envelope: common_pb2.EventEnvelope
    seq: int


class Events:
    """Publishes what orders and reservations would, and waits until fulfilment handled it."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.settings = bus.settings

    async def publish(self, subject: str, envelope: common_pb2.EventEnvelope, msg_id: str | None = None) -> Published:
        ack = await self.bus.js.publish(
            subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": msg_id or envelope.event_id}
        )
        return Published(envelope, int(ack.seq))

    async def order(self, event: str, payload: orders_pb2.OrderChanged, msg_id: str | None = None) -> Published:
        envelope = new_envelope(f"orders.order.{event}", payload, source="orders", request_id=unique_id())
        return await self.publish(self.settings.subject("orders", "order", event), envelope, msg_id)

    async def reservation(
        self, event: str, payload: reservations_pb2.ReservationChanged, msg_id: str | None = None
    ) -> Published:
        envelope = new_envelope(f"reservations.reservation.{event}", payload, source="reservations", request_id="")
        return await self.publish(self.settings.subject("reservations", "reservation", event), envelope, msg_id)

    async def handled(self, consumer: str, published: Published, timeout: float = 10.0) -> None:
        """Fulfilment's consumer has acknowledged everything up to `published`."""

        async def acked() -> bool:
            try:
                info = await self.bus.js.consumer_info(self.settings.stream_name, consumer)
            except NotFoundError:
                return False
            return bool(info.ack_floor and (info.ack_floor.stream_seq or 0) >= published.seq)

        await eventually(acked, timeout, f"{consumer} to handle event {published.seq}")


def order_changed(
    *allocations: orders_pb2.Allocation,
    order_id: str | None = None,
    method: int = common_pb2.FULFILMENT_METHOD_SHIP,
    placed_at: datetime | None = None,
) -> orders_pb2.OrderChanged:
    order = orders_pb2.Order(order_id=order_id or unique_id("ORD-"), method=method)  # type: ignore[arg-type]
    order.created_at.FromDatetime(placed_at or datetime.now(UTC))
    order.allocations.extend(allocations)
    return orders_pb2.OrderChanged(order=order, new_allocations=allocations)


def allocation(location_id: str, lines: dict[str, int], hold_id: str | None = None) -> orders_pb2.Allocation:
    return orders_pb2.Allocation(
        allocation_id=unique_id("ALLOC-"),
        location_id=location_id,
        hold_id=hold_id or unique_id("HOLD-"),
        lines=[common_pb2.SkuQuantity(sku=sku, quantity=quantity) for sku, quantity in lines.items()],
        status=orders_pb2.ALLOCATION_STATUS_HELD,
    )


def reservation_changed(
    store_id: str,
    lines: dict[str, int],
    *,
    reservation_id: str | None = None,
    hold_id: str | None = None,
    pickup_code: str | None = None,
    created_at: datetime | None = None,
    expires_in: timedelta = timedelta(days=2),
) -> reservations_pb2.ReservationChanged:
    created = created_at or datetime.now(UTC)
    reservation = reservations_pb2.Reservation(
        reservation_id=reservation_id or unique_id("RES-"),
        channel=common_pb2.CHANNEL_CHAT,
        store_id=store_id,
        lines=[common_pb2.SkuQuantity(sku=sku, quantity=quantity) for sku, quantity in lines.items()],
        pickup_code=pickup_code or unique_id("")[:6].upper(),
        status=reservations_pb2.RESERVATION_STATUS_ACTIVE,
        hold_id=hold_id or unique_id("HOLD-"),
    )
    reservation.created_at.FromDatetime(created)
    reservation.expires_at.FromDatetime(created + expires_in)
    return reservations_pb2.ReservationChanged(reservation=reservation)


async def tasks_of(db: Database, **where: str) -> list[dict[str, Any]]:
    """Every task row with the given column values, straight from the fulfilment schema."""
    conditions = " AND ".join(f"{column} = ${index}" for index, column in enumerate(where, start=1))
    rows = await db.fetch(f"SELECT * FROM fulfilment.tasks WHERE {conditions} ORDER BY created_at", *where.values())
    return [dict(row) for row in rows]


async def created_events(db: Database, task_id: str) -> int:
    """How many task.created events the outbox holds for a task."""
    rows = await db.fetch("SELECT subject, envelope FROM fulfilment.outbox WHERE subject LIKE '%.task.created'")
    count = 0
    for row in rows:
        changed = fpb.TaskChanged()
        common_pb2.EventEnvelope.FromString(bytes(row["envelope"])).payload.Unpack(changed)
        count += changed.task.task_id == task_id
    return count


async def one_task(db: Database, timeout: float = 10.0, **where: str) -> dict[str, Any]:
    found = await eventually(lambda: tasks_of(db, **where), timeout, f"a task with {where}")
    assert len(found) == 1, found
    return found[0]


@dataclass
class Shelf:
    """Locations, SKUs and holds in the real inventory service."""

    inventory: Any

    async def location(self, kind: int = ipb.LOCATION_KIND_WAREHOUSE) -> str:
        location_id = unique_id("LOC-")
        await self.inventory.UpsertLocation(
            ipb.UpsertLocationRequest(
                request_id=unique_id(),
                location=ipb.Location(
                    location_id=location_id,
                    name=f"Location {location_id}",
                    kind=kind,  # type: ignore[arg-type]
                    city="Berlin",
                    point=common_pb2.GeoPoint(latitude=52.52, longitude=13.405),
                    routing_rank=1,
                    ships=True,
                    pickup=True,
                    till_sales=True,
                    active=True,
                ),
            )
        )
        return location_id

    async def sku(self) -> str:
        sku = unique_id("SKU-")
        await self.inventory.UpsertSku(
            ipb.UpsertSkuRequest(
                request_id=unique_id(),
                sku=ipb.Sku(sku=sku, title="Green velvet sofa", price_minor=99900, currency="EUR"),
            )
        )
        return sku

    async def receive(self, location_id: str, sku: str, quantity: int) -> None:
        await self.inventory.ReceiveStock(
            ipb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=quantity)
        )

    async def hold(self, lines: list[tuple[str, str, int]]) -> str:
        response = await self.inventory.Hold(
            ipb.HoldRequest(
                request_id=unique_id(),
                owner=f"order:{unique_id()}",
                channel=common_pb2.CHANNEL_WEB,
                lines=[ipb.HoldLineRequest(location_id=loc, sku=sku, quantity=qty) for loc, sku, qty in lines],
            )
        )
        return str(response.hold.hold_id)

    async def level(self, location_id: str, sku: str) -> tuple[int, int]:
        """(on_hand, held) of one stock row."""
        response = await self.inventory.GetStock(ipb.GetStockRequest(sku=sku, location_id=location_id))
        (level,) = response.levels
        return int(level.on_hand), int(level.held)

    async def get_hold(self, hold_id: str) -> ipb.Hold:
        return (await self.inventory.GetHold(ipb.GetHoldRequest(hold_id=hold_id))).hold


def request_id() -> str:
    return str(uuid.uuid4())


def payload_task(payload: Message) -> fpb.Task:
    assert isinstance(payload, fpb.TaskChanged)
    return payload.task
