"""The orders process: `bootstrap` builds the object graph, `main` serves it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc

from omnistock.orders.v1 import orders_pb2, orders_pb2_grpc
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.reservations_client import ReservationsClient
from omnistock_orders.entrypoints.grpc_servicer import FULL_NAME, OrdersServicer
from omnistock_orders.entrypoints.handlers import EventHandlers, consumers
from omnistock_orders.service_layer.arrivals import TransferArrivals
from omnistock_orders.service_layer.backorders import BackorderFilling
from omnistock_orders.service_layer.cancelling import OrderCancellation
from omnistock_orders.service_layer.editing import OrderEditing
from omnistock_orders.service_layer.fulfilment_holds import OrderHolds
from omnistock_orders.service_layer.placing import OrderPlacement
from omnistock_orders.service_layer.planning import Planner
from omnistock_orders.service_layer.queries import OrderQueries
from omnistock_orders.service_layer.reactions import OrderReactions
from omnistock_orders.service_layer.returns import OrderReturns
from omnistock_orders.settings import OrdersSettings
from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.client import service_channel
from omnistock_platform.grpc.server import BackgroundLoop, ServiceApp, Servicer, run_service
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.logging import get_logger
from omnistock_platform.loops import repeat
from omnistock_platform.resuming import Resumer, resume
from omnistock_platform.settings import Settings

log = get_logger(__name__)

# Carry-out at a till is further limited to pos and admin in the use case itself.
_CHANNELS = frozenset({Role.STOREFRONT, Role.APP, Role.CHAT_AGENT, Role.POS, Role.ADMIN, Role.SERVICE})
_HOLDERS = _CHANNELS - {Role.POS}

POLICY: dict[str, frozenset[Role]] = {
    "QuoteRouting": _CHANNELS,
    "CreateOrder": _CHANNELS,
    "GetOrder": _CHANNELS,
    "ListOrders": _CHANNELS,
    "CancelOrder": _CHANNELS,
    # A fulfilment hold is the web shop's, the app's, the chat's or the back office's; never a till's.
    "HoldOrder": _HOLDERS,
    "ReleaseOrderHold": _HOLDERS,
    # Returns: a customer's channel authorises one; a till or a warehouse takes the units in (scoped
    # to its locations in the use case).
    "CreateReturn": _CHANNELS,
    "GetReturn": _CHANNELS | {Role.WAREHOUSE},
    "ListReturns": _CHANNELS | {Role.WAREHOUSE},
    "ReceiveReturn": frozenset({Role.POS, Role.WAREHOUSE, Role.ADMIN, Role.SERVICE}),
    "CancelReturn": _CHANNELS | {Role.WAREHOUSE},
    # Store staff edit only orders at their locations (checked in the use case).
    "EditOrder": _CHANNELS,
}


@dataclass
class OrdersService:
    """Every part of the service, wired; `bootstrap` serves them, tests may drive them directly."""

    settings: OrdersSettings
    db: Database
    bus: EventBus
    channels: list[grpc.aio.Channel]
    placement: OrderPlacement
    queries: OrderQueries
    cancellation: OrderCancellation
    reactions: OrderReactions
    idempotency: IdempotencyStore
    holds: OrderHolds
    returns: OrderReturns
    editing: OrderEditing
    backorders: BackorderFilling
    arrivals: TransferArrivals


def wire(platform_settings: Settings) -> OrdersService:
    settings = OrdersSettings.of(platform_settings)
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    db = Database(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    bus = EventBus(settings, "orders")
    channels = [
        service_channel(settings, "orders", "inventory"),
        service_channel(settings, "orders", "reservations"),
    ]
    inventory = InventoryClient(channels[0])
    reservations = ReservationsClient(channels[1])
    outbox = Outbox(settings, "orders")
    idempotency = IdempotencyStore("orders")
    planner = Planner(inventory, settings)
    cancellation = OrderCancellation(db, outbox, idempotency, inventory)
    reactions = OrderReactions(db, outbox, planner, inventory, settings)
    return OrdersService(
        settings=settings,
        db=db,
        bus=bus,
        channels=channels,
        placement=OrderPlacement(db, outbox, planner, inventory, reservations, settings),
        queries=OrderQueries(db, inventory),
        cancellation=cancellation,
        reactions=reactions,
        idempotency=idempotency,
        holds=OrderHolds(db, outbox, idempotency, inventory, cancellation, settings),
        returns=OrderReturns(db, outbox, idempotency, inventory),
        editing=OrderEditing(db, outbox, idempotency, planner, inventory, settings),
        backorders=BackorderFilling(db, reactions, settings.order_backorder_batch),
        arrivals=TransferArrivals(outbox, inventory),
    )


def bootstrap(settings: Settings) -> ServiceApp:
    parts = wire(settings)
    servicer = Servicer(
        orders_pb2_grpc.add_OrdersServiceServicer_to_server,
        OrdersServicer(parts.placement, parts.queries, parts.cancellation, parts.holds, parts.returns, parts.editing),
        FULL_NAME,
    )
    handlers = EventHandlers(parts.reactions, parts.backorders, parts.arrivals)
    loops: list[BackgroundLoop] = [consumer.run for consumer in consumers(settings, parts.db, parts.bus, handlers)]
    loops.append(_recover_pending(parts))
    loops.append(parts.holds.sweep)
    loops.append(_fill_backorders(parts))
    cut_short = Resumer(
        "orders",
        settings,
        parts.db,
        parts.idempotency,
        {
            "CancelOrder": resume(orders_pb2.CancelOrderRequest, parts.cancellation.cancel),
            "HoldOrder": resume(orders_pb2.HoldOrderRequest, parts.holds.hold),
            "ReleaseOrderHold": resume(orders_pb2.ReleaseOrderHoldRequest, parts.holds.release),
            "CreateReturn": resume(orders_pb2.CreateReturnRequest, parts.returns.create),
            "ReceiveReturn": resume(orders_pb2.ReceiveReturnRequest, parts.returns.receive),
            "EditOrder": resume(orders_pb2.EditOrderRequest, parts.editing.edit),
        },
    )
    loops.append(cut_short.run)
    return ServiceApp(
        "orders",
        settings,
        parts.db,
        parts.bus,
        servicers=[servicer],
        policy=POLICY,
        background=loops,
        channels=parts.channels,
    )


def _recover_pending(parts: OrdersService) -> BackgroundLoop:
    """Orders a crash left PENDING are finished (the recorded hold request is made again) or dropped."""
    interval = parts.settings.order_recovery_interval.total_seconds()

    async def one_round() -> None:
        settled = await parts.placement.recover()
        if settled:
            log.info("orders.recovered", count=settled)

    async def loop(stop: asyncio.Event) -> None:
        await repeat(stop, interval, one_round, failed="orders.recovery_failed")

    return loop


def _fill_backorders(parts: OrdersService) -> BackgroundLoop:
    """The catch-all for backordered units: stock events fill them promptly, this sweep whatever an
    event missed (a crash between, an event handled before the stock could be had)."""
    interval = parts.settings.order_backorder_sweep_interval.total_seconds()

    async def one_round() -> None:
        await parts.backorders.sweep()

    async def loop(stop: asyncio.Event) -> None:
        await repeat(stop, interval, one_round, failed="orders.backorder_sweep_failed")

    return loop


def main() -> None:
    run_service(bootstrap, "orders")


if __name__ == "__main__":
    main()
