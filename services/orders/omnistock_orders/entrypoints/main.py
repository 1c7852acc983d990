"""The orders process: `bootstrap` builds the object graph, `main` serves it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc

from omnistock.orders.v1 import orders_pb2, orders_pb2_grpc
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.repository import OrderRepository
from omnistock_orders.adapters.reservations_client import ReservationsClient
from omnistock_orders.entrypoints.grpc_servicer import FULL_NAME, OrdersServicer
from omnistock_orders.entrypoints.handlers import EventHandlers, consumers
from omnistock_orders.service_layer.cancelling import OrderCancellation
from omnistock_orders.service_layer.fulfilment_holds import OrderHolds
from omnistock_orders.service_layer.placing import OrderPlacement
from omnistock_orders.service_layer.planning import Planner
from omnistock_orders.service_layer.queries import OrderQueries
from omnistock_orders.service_layer.reactions import OrderReactions
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
}


@dataclass
class OrdersService:
    """Every part of the service, wired; `bootstrap` serves them, tests may drive them directly."""

    settings: Settings
    db: Database
    bus: EventBus
    channels: list[grpc.aio.Channel]
    placement: OrderPlacement
    queries: OrderQueries
    cancellation: OrderCancellation
    reactions: OrderReactions
    idempotency: IdempotencyStore
    holds: OrderHolds


def wire(settings: Settings) -> OrdersService:
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
    repository = OrderRepository()
    outbox = Outbox(settings, "orders")
    idempotency = IdempotencyStore("orders")
    planner = Planner(inventory, settings)
    cancellation = OrderCancellation(db, repository, outbox, idempotency, inventory)
    return OrdersService(
        settings=settings,
        db=db,
        bus=bus,
        channels=channels,
        placement=OrderPlacement(db, repository, outbox, planner, inventory, reservations, settings),
        queries=OrderQueries(db, repository),
        cancellation=cancellation,
        reactions=OrderReactions(db, repository, outbox, planner, inventory, settings),
        idempotency=idempotency,
        holds=OrderHolds(db, repository, outbox, idempotency, inventory, cancellation, settings),
    )


def bootstrap(settings: Settings) -> ServiceApp:
    parts = wire(settings)
    servicer = Servicer(
        orders_pb2_grpc.add_OrdersServiceServicer_to_server,
        OrdersServicer(parts.placement, parts.queries, parts.cancellation, parts.holds),
        FULL_NAME,
    )
    handlers = EventHandlers(parts.reactions)
    loops: list[BackgroundLoop] = [consumer.run for consumer in consumers(settings, parts.db, parts.bus, handlers)]
    loops.append(_recover_pending(parts))
    loops.append(parts.holds.sweep)
    cut_short = Resumer(
        "orders",
        settings,
        parts.db,
        parts.idempotency,
        {
            "CancelOrder": resume(orders_pb2.CancelOrderRequest, parts.cancellation.cancel),
            "HoldOrder": resume(orders_pb2.HoldOrderRequest, parts.holds.hold),
            "ReleaseOrderHold": resume(orders_pb2.ReleaseOrderHoldRequest, parts.holds.release),
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


def main() -> None:
    run_service(bootstrap, "orders")


if __name__ == "__main__":
    main()
