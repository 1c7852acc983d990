"""The webhooks process: `python -m omnistock_webhooks.entrypoints.main`."""

from __future__ import annotations

import asyncio
import importlib

from omnistock.webhooks.v1 import webhooks_pb2_grpc
from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.catalogue import read_catalogue
from omnistock_platform.grpc.reflection import contract_files
from omnistock_platform.grpc.server import ServiceApp, Servicer, run_service
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.settings import Settings
from omnistock_webhooks.adapters.sender import Sender
from omnistock_webhooks.domain.networks import AllowedNetworks
from omnistock_webhooks.entrypoints.grpc_servicer import FULL_NAME, WebhooksServicer
from omnistock_webhooks.entrypoints.handlers import FanOutConsumer
from omnistock_webhooks.service_layer.deliveries import Deliveries
from omnistock_webhooks.service_layer.dispatcher import Dispatcher
from omnistock_webhooks.service_layer.fanout import FanOut
from omnistock_webhooks.service_layer.subscriptions import Subscriptions
from omnistock_webhooks.settings import WebhooksSettings

BACK_OFFICE = frozenset({Role.ADMIN, Role.SERVICE})
POLICY: dict[str, frozenset[Role]] = {
    "CreateSubscription": BACK_OFFICE,
    "GetSubscription": BACK_OFFICE,
    "ListSubscriptions": BACK_OFFICE,
    "UpdateSubscription": BACK_OFFICE,
    "DeleteSubscription": BACK_OFFICE,
    "RotateSubscriptionSecret": BACK_OFFICE,
    "ListDeliveries": BACK_OFFICE,
    "ReplayDeliveries": BACK_OFFICE,
    "ListEventTypes": BACK_OFFICE,
}


def bootstrap(platform_settings: Settings) -> ServiceApp:
    settings = WebhooksSettings.of(platform_settings)
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    networks = AllowedNetworks.parse(settings.webhook_allowed_networks)
    catalogue = read_catalogue(contract_files())
    # Every payload decodable here, whichever service's it is (the envelope names it by type URL).
    for module in sorted({entry.module for entry in catalogue.values()}):
        importlib.import_module(module)
    db = Database(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    bus = EventBus(settings, "webhooks")
    idempotency = IdempotencyStore("webhooks")
    sender = Sender(networks, settings.webhook_timeout, settings.webhook_concurrency)
    wake = asyncio.Event()
    consumer = FanOutConsumer(settings, db, bus, FanOut(catalogue), wake)
    dispatcher = Dispatcher(db, sender, settings, consumer.ack_floor, wake)
    servicer = WebhooksServicer(
        Subscriptions(db, idempotency, settings, networks, catalogue), Deliveries(db, idempotency)
    )
    return ServiceApp(
        "webhooks",
        settings,
        db,
        bus,
        servicers=[Servicer(webhooks_pb2_grpc.add_WebhooksServiceServicer_to_server, servicer, FULL_NAME)],
        policy=POLICY,
        background=[consumer.run, dispatcher.run, dispatcher.purge],
    )


def main() -> None:
    run_service(bootstrap, "webhooks")


if __name__ == "__main__":
    main()
