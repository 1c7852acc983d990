"""Events of fulfilment and inventory that move orders on: shipments, short picks, expired and shorted
holds, stock that rose where backordered units may now be had, and transfers received at a store
(or overdue there) whose pickup orders were promised from them."""

from __future__ import annotations

import asyncpg
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock_orders.service_layer.arrivals import MOVES_PROMISES, TransferArrivals
from omnistock_orders.service_layer.backorders import BackorderFilling
from omnistock_orders.service_layer.reactions import OrderReactions
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.consumer import EventConsumer, Handler, PoisonEvent, Wanted
from omnistock_platform.owners import order_of
from omnistock_platform.settings import Settings

# The consumer of stock that may fill backorders (inventory.stock.available).
STOCK_DURABLE = "orders-stock-available"
# Task events after which a picker has the allocation's units in hand: an edit leaves them be.
PICKING_EVENTS = frozenset({"picking_started", "picked", "packed"})
# Stock changes that never make units available: a backorder has nothing to gain from them.
NOTHING_FREED = frozenset(
    {
        inventory_pb2.MOVEMENT_KIND_HOLD,
        inventory_pb2.MOVEMENT_KIND_COMMIT,
        inventory_pb2.MOVEMENT_KIND_TRANSFER,
        inventory_pb2.MOVEMENT_KIND_TRANSFER_OUT,
    }
)


def may_free_units(payload: Message) -> bool:
    """A stock change after which a backorder may be filled: not a hold, a sale or a transfer's, and
    something is available (inventory publishes stock.available for exactly these; checked again)."""
    return (
        isinstance(payload, inventory_pb2.StockChanged)
        and payload.cause not in NOTHING_FREED
        and payload.level.available > 0
    )


def may_move_promises(payload: Message) -> bool:
    """A transfer received at a location, or still shipped to it (announced overdue): not a draft
    made or cancelled."""
    return isinstance(payload, inventory_pb2.TransferChanged) and payload.transfer.status in MOVES_PROMISES


class EventHandlers:
    def __init__(
        self,
        reactions: OrderReactions,
        backorders: BackorderFilling | None = None,
        arrivals: TransferArrivals | None = None,
    ) -> None:
        self.reactions = reactions
        self.backorders = backorders
        self.arrivals = arrivals

    async def on_task(self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        if not isinstance(payload, fulfilment_pb2.TaskChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not TaskChanged")
        task = payload.task
        if not task.order_id or not task.allocation_id:
            return  # a reservation's pickup preparation: none of ours
        event = envelope.type.rsplit(".", 1)[-1]
        if event in ("shipped", "handed_over"):
            picked = {line.sku: line.picked for line in task.lines}
            await self.reactions.shipped(
                conn,
                envelope.event_id,
                task.order_id,
                task.allocation_id,
                handed_over=event == "handed_over",
                picked=picked if any(picked.values()) else None,
            )
        elif event == "short_picked":
            short = {line.sku: line.quantity for line in payload.short if line.quantity > 0}
            await self.reactions.picking_started(conn, task.order_id, task.allocation_id)
            await self.reactions.short_picked(conn, envelope.event_id, task.order_id, task.allocation_id, short)
        elif event in PICKING_EVENTS:
            await self.reactions.picking_started(conn, task.order_id, task.allocation_id)

    async def on_hold(self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        if not isinstance(payload, inventory_pb2.HoldChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not HoldChanged")
        order_id = order_of(payload.hold.owner)
        if order_id:
            await self.reactions.hold_expired(conn, envelope.event_id, order_id, payload.hold.hold_id)

    async def on_hold_shorted(
        self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message
    ) -> None:
        if not isinstance(payload, inventory_pb2.HoldChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not HoldChanged")
        order_id = order_of(payload.hold.owner)
        if not order_id:
            return  # a reservation's hold, or someone else's
        lost: dict[str, dict[str, int]] = {}
        for line in payload.lines:
            at = lost.setdefault(line.location_id, {})
            at[line.sku] = at.get(line.sku, 0) + line.quantity
        await self.reactions.hold_shorted(
            conn, envelope.event_id, order_id, payload.hold.hold_id, lost, payload.shorted_by_transfer_id
        )

    async def on_stock(self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        """Stock rose (a receipt, a transfer or a return received, a count up, units given back):
        the oldest orders waiting for that SKU are filled, each in a transaction of its own, so a
        redelivery finds them filled already. A stale or out-of-order event costs a look only."""
        if not isinstance(payload, inventory_pb2.StockChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not StockChanged")
        if self.backorders is None or not may_free_units(payload):
            return
        await self.backorders.stock_rose(payload.level.location_id, payload.level.sku)

    async def on_transfer(self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        """A transfer was received at a store, or is overdue there: its pickup orders promised via a
        transfer are promised again where it came, or comes, late."""
        if not isinstance(payload, inventory_pb2.TransferChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not TransferChanged")
        if self.arrivals is not None and envelope.type.rsplit(".", 1)[-1] in ("received", "overdue"):
            await self.arrivals.received_at_store(conn, payload.transfer)


def consumers(settings: Settings, db: Database, bus: EventBus, handlers: EventHandlers) -> list[EventConsumer]:
    def _consumer(durable: str, subject: str, handler: Handler, wanted: Wanted | None = None) -> EventConsumer:
        return EventConsumer(
            db, bus, schema="orders", durable=durable, subjects=[subject], handler=handler, wanted=wanted
        )

    return [
        # Every task event through one consumer, in stream order: a short pick is seen before the
        # shipment of the same task. (One wildcard subject also works on NATS before 2.10.)
        _consumer("orders-tasks", settings.subject("fulfilment", "task", "*"), handlers.on_task),
        _consumer("orders-holds", settings.subject("inventory", "hold", "expired"), handlers.on_hold),
        _consumer("orders-shorted-holds", settings.subject("inventory", "hold", "shorted"), handlers.on_hold_shorted),
        # Only the stock changes that leave units available (inventory.stock.available), not every
        # hold's and sale's stock.changed: those would cross NATS and this loop to be skipped.
        _consumer(
            STOCK_DURABLE, settings.subject("inventory", "stock", "available"), handlers.on_stock, wanted=may_free_units
        ),
        # One wildcard subject, as for tasks (works on NATS before 2.10): only a receipt or an overdue
        # transfer can move a promise, the others are skipped.
        _consumer(
            "orders-transfers",
            settings.subject("inventory", "transfer", "*"),
            handlers.on_transfer,
            wanted=may_move_promises,
        ),
    ]
