"""Pickup orders promised from units on their way to their store, when a transfer reaches it or is late.

A pickup order may hold units a transfer has shipped to its store and the store has not received (a
pool's units in transit): it is promised from the transfer's expected arrival. When a transfer is
received at the store (`inventory.transfer.received`), each such order there is promised again from
its holds as they are now: the units on the shelf (ready once prepared from now), or the transfers
still on their way. Where that is later than its promise (the transfer came late), the order takes it
and `orders.order.repromised` tells the customer; an early or on-time transfer keeps every promise,
as reservations do for theirs. A transfer that passes its expected arrival without being received
(`inventory.transfer.overdue`) is taken as arriving now, as a new order is promised from it: the
orders promised from its arrival, a time now gone, are promised from now the same way.

It runs in the consumer's transaction, with its inbox row, under each order's row lock: a redelivered
event is not handled twice, and an order re-promised once is promised from the shelf, no longer via a
transfer, so a later transfer leaves it be.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import asyncpg

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters import repository
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import order_changed, order_message
from omnistock_orders.adapters.repository import OrderRecord
from omnistock_orders.domain.order import OrderStatus
from omnistock_orders.domain.routing import Method
from omnistock_orders.service_layer.planning import on_the_way, pickup_promise
from omnistock_platform.errors import OmnistockError
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.logging import get_logger
from omnistock_platform.promise_messages import beyond_shelf, promise_message
from omnistock_platform.promising import Promise

log = get_logger(__name__)

# A transfer received, or still on its way past its expected arrival (announced overdue).
MOVES_PROMISES = frozenset({inventory_pb2.TRANSFER_STATUS_RECEIVED, inventory_pb2.TRANSFER_STATUS_SHIPPED})
# Orders whose promise a transfer's arrival may move: still to be handed over.
OPEN = frozenset({OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED})


def promised_via_transfer(decision: orders_pb2.RoutingPlan | None) -> bool:
    return (
        decision is not None
        and decision.HasField("promise")
        and decision.promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    )


class TransferArrivals:
    def __init__(self, outbox: Outbox, inventory: InventoryClient) -> None:
        self.outbox = outbox
        self.inventory = inventory

    async def received_at_store(self, conn: asyncpg.Connection, transfer: inventory_pb2.Transfer) -> list[str]:
        """The transfer was received at its destination, or is overdue there (shipped, past its
        expected arrival): the pickup orders there promised via a transfer are promised again; the
        ids of those re-promised."""
        store_id = transfer.destination_location_id
        if not store_id or transfer.status not in MOVES_PROMISES:
            return []
        waiting = [
            order_id
            for order_id, decision in await repository.open_pickups_at(conn, store_id)
            if promised_via_transfer(decision)
        ]
        if not waiting:
            return []
        store = await self.inventory.location(store_id)
        if store is None:
            return []
        moved = []
        for order_id in waiting:
            record = await repository.get(conn, order_id, lock=True)
            if record is None or record.order.status not in OPEN or not promised_via_transfer(record.decision):
                continue  # changed since it was listed
            try:
                fresh = await self._promise_now(record, store)
            except OmnistockError as error:
                log.warning("orders.repromise_unavailable", order_id=order_id, error=error.message)
                continue
            assert record.decision is not None
            if fresh is None or fresh.at <= record.decision.promise.at.ToDatetime(tzinfo=UTC):
                continue
            decision = orders_pb2.RoutingPlan.FromString(record.decision.SerializeToString())
            decision.promise.CopyFrom(promise_message(fresh))
            saved = await repository.save(conn, replace(record, decision=decision))
            event = order_changed(saved)
            event.previous.CopyFrom(order_message(record))
            await self.outbox.add(conn, "order.repromised", event)
            log.info(
                "order.repromised_after_transfer",
                order_id=order_id,
                transfer_id=transfer.transfer_id,
                promised_at=fresh.at.isoformat(),
            )
            moved.append(order_id)
        return moved

    async def _promise_now(self, record: OrderRecord, store: inventory_pb2.Location) -> Promise | None:
        """Ready at the store from now, once what the order's holds there still wait for has arrived;
        None when nothing on its way says when (the order keeps its promise)."""
        assert record.order.method is Method.PICKUP
        held = [a for a in record.order.allocations if a.held and a.hold_id and a.location_id == store.location_id]
        if not held:
            return None
        token = ""
        for hold_id in sorted({allocation.hold_id for allocation in held}):
            _, token = await self.inventory.read_hold(hold_id)
        skus = {sku for allocation in held for sku in allocation.lines}
        levels = await self.inventory.stock(
            skus, record.channel, location_ids=[store.location_id], consistency_token=token
        )
        rows = [level for level in levels if level.location_id == store.location_id and level.sku in skus]
        missing = beyond_shelf(rows, {})
        waiting = await on_the_way(self.inventory, store.location_id, missing, rows) if missing else None
        if waiting is not None and waiting.awaited.arrival is None:
            return None
        return pickup_promise(store, datetime.now(UTC), waiting)
