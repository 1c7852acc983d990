"""Events reservations consumes: inventory telling it a hold ran out, what became of a transfer
bringing a reservation's units to its store, or that a store changed."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from google.protobuf.message import Message
from nats.aio.msg import Msg

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock_platform.errors import OmnistockError
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.consumer import Handler, PoisonEvent
from omnistock_platform.grpc.server import BackgroundLoop
from omnistock_platform.logging import get_logger
from omnistock_platform.loops import pause
from omnistock_reservations.adapters.inventory_client import InventoryClient, transfer_view
from omnistock_reservations.service_layer.arrivals import Arrivals
from omnistock_reservations.service_layer.syncing import HoldSync

log = get_logger(__name__)


def on_hold_expired(sync: HoldSync) -> Handler:
    async def handle(conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        if not isinstance(payload, inventory_pb2.HoldChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not HoldChanged")
        await sync.hold_expired(conn, payload.hold.hold_id, payload.hold.owner)

    return handle


def on_hold_shorted(arrivals: Arrivals) -> Handler:
    async def handle(conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        if not isinstance(payload, inventory_pb2.HoldChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not HoldChanged")
        lost: dict[str, int] = {}
        for line in payload.lines:
            lost[line.sku] = lost.get(line.sku, 0) + line.quantity
        await arrivals.shorted(conn, payload.hold.owner, payload.hold.hold_id, lost)

    return handle


def on_transfer(arrivals: Arrivals) -> Handler:
    async def handle(conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        if not isinstance(payload, inventory_pb2.TransferChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not TransferChanged")
        transfer = payload.transfer
        event = envelope.type.rsplit(".", 1)[-1]
        if not transfer.hold_owner:
            # Units on their way that reservations were promised from came, or are late.
            if event in ("received", "overdue"):
                await arrivals.received_at_store(conn, transfer_view(transfer))
            return
        if event == "received":
            await arrivals.received(conn, transfer.hold_owner, transfer_view(transfer))
        elif event == "cancelled":
            await arrivals.cancelled(conn, transfer.hold_owner, transfer_view(transfer))
        elif event == "overdue":
            await arrivals.overdue(conn, transfer.hold_owner, transfer_view(transfer))

    return handle


def forgetting_changed_stores(bus: EventBus, inventory: InventoryClient) -> BackgroundLoop:
    """Each process forgets a store inventory says changed. A plain subscription, not a durable
    consumer: every process must hear it, and nothing is lost by one missed (the store is asked
    again within a few seconds anyway)."""

    async def on_message(message: Msg) -> None:
        try:
            envelope = common_pb2.EventEnvelope.FromString(message.data)
            event = inventory_pb2.LocationChanged()
            envelope.payload.Unpack(event)
        except Exception as error:  # cannot tell which store: forget them all
            log.warning("reservations.location_event_unreadable", error=repr(error))
            inventory.forget_stores()
            return
        inventory.forget_store(event.location.location_id)

    async def run(stop: asyncio.Event) -> None:
        subscription = await bus.nc.subscribe(bus.settings.subject("inventory", "location", "changed"), cb=on_message)
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):  # the connection may be drained already
                await subscription.unsubscribe()

    return run


# Between attempts to learn the catalogue while inventory does not answer.
LEARN_RETRY_SECONDS = 2.0


def learning_skus(inventory: InventoryClient) -> BackgroundLoop:
    """Learns the catalogue's SKUs once at start (CreateReservation then asks inventory only for SKUs
    created since). Until it has, or if inventory cannot be asked, each new SKU is asked for as before."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                known = await inventory.learn_skus()
            except OmnistockError as error:
                log.warning("reservations.skus_not_learnt", error=error.message)
                await pause(stop, LEARN_RETRY_SECONDS)
                continue
            log.info("reservations.skus_learnt", known=known)
            return

    return run
