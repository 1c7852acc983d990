"""The fulfilment process: `bootstrap` builds the object graph, `main` serves it."""

from __future__ import annotations

import functools

from omnistock.fulfilment.v1 import fulfilment_pb2, fulfilment_pb2_grpc
from omnistock_fulfilment.adapters.inventory_client import InventoryClient
from omnistock_fulfilment.adapters.reservations_client import ReservationsClient
from omnistock_fulfilment.adapters.task_feed import TaskFeed
from omnistock_fulfilment.entrypoints.grpc_servicer import FULL_NAME, FulfilmentServicer
from omnistock_fulfilment.entrypoints.handlers import EventHandlers, consumers
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_fulfilment.service_layer.intake import TaskIntake
from omnistock_fulfilment.service_layer.watch import TaskWatch
from omnistock_fulfilment.service_layer.work import TaskWork
from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.client import service_channel
from omnistock_platform.grpc.server import BackgroundLoop, ServiceApp, Servicer, run_service
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.resuming import Resumer, resume
from omnistock_platform.settings import Settings

_READERS = frozenset({Role.WAREHOUSE, Role.POS, Role.ADMIN, Role.SERVICE})
_STAFF = frozenset({Role.WAREHOUSE, Role.POS, Role.ADMIN})

POLICY: dict[str, frozenset[Role]] = {
    "ListTasks": _READERS,
    "GetTask": _READERS,
    "WatchTasks": _READERS,
    "StartPicking": _STAFF,
    "ConfirmPick": _STAFF,
    "Pack": _STAFF,
    "Ship": _STAFF,
    "MarkReadyForPickup": _STAFF,
    "HandOver": _STAFF,
}


def bootstrap(settings: Settings) -> ServiceApp:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    db = Database(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    bus = EventBus(settings, "fulfilment")
    channels = [
        service_channel(settings, "fulfilment", "inventory"),
        service_channel(settings, "fulfilment", "reservations"),
    ]
    changes = TaskChanges(Outbox(settings, "fulfilment"))
    idempotency = IdempotencyStore("fulfilment")
    inventory = InventoryClient(channels[0])
    work = TaskWork(db, changes, idempotency, inventory, ReservationsClient(channels[1]))
    watch = TaskWatch(db, TaskFeed(bus))
    intake = TaskIntake(changes, inventory, db)
    handlers = EventHandlers(intake)
    servicer = Servicer(
        fulfilment_pb2_grpc.add_FulfilmentServiceServicer_to_server, FulfilmentServicer(work, watch), FULL_NAME
    )
    cut_short = Resumer(
        "fulfilment",
        settings,
        db,
        idempotency,
        {
            "ConfirmPick": resume(fulfilment_pb2.ConfirmPickRequest, work.confirm_pick),
            "Ship": resume(fulfilment_pb2.ShipRequest, work.ship),
            "MarkReadyForPickup": resume(fulfilment_pb2.MarkReadyForPickupRequest, work.mark_ready_for_pickup),
            "HandOver": resume(fulfilment_pb2.HandOverRequest, work.hand_over),
        },
    )
    loops: list[BackgroundLoop] = [consumer.run for consumer in consumers(settings, db, bus, handlers)]
    loops.append(cut_short.run)
    loops.append(functools.partial(intake.purge_give_backs, retention=settings.idempotency_retention))
    return ServiceApp(
        "fulfilment", settings, db, bus, servicers=[servicer], policy=POLICY, background=loops, channels=channels
    )


def main() -> None:
    run_service(bootstrap, "fulfilment")


if __name__ == "__main__":
    main()
