"""Reservations process: `python -m omnistock_reservations.entrypoints.main`."""

from __future__ import annotations

import asyncio

import grpc

from omnistock.reservations.v1 import reservations_pb2, reservations_pb2_grpc
from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.consumer import EventConsumer
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.client import service_channel
from omnistock_platform.grpc.server import BackgroundLoop, ServiceApp, Servicer, run_service
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.resuming import Resume, Resumer, resume
from omnistock_platform.settings import Settings
from omnistock_reservations.adapters.inventory_client import InventoryClient
from omnistock_reservations.entrypoints.grpc_servicer import ReservationsServicer
from omnistock_reservations.entrypoints.handlers import (
    forgetting_changed_stores,
    learning_skus,
    on_hold_expired,
    on_hold_shorted,
    on_transfer,
)
from omnistock_reservations.service_layer.arrivals import Arrivals
from omnistock_reservations.service_layer.creating import Creating
from omnistock_reservations.service_layer.lifecycle import Lifecycle
from omnistock_reservations.service_layer.recovery import Recovery
from omnistock_reservations.service_layer.syncing import HoldSync
from omnistock_reservations.service_layer.unit import Deps
from omnistock_reservations.settings import ReservationsSettings

CHANNELS_AND_STAFF = frozenset({Role.STOREFRONT, Role.APP, Role.CHAT_AGENT, Role.POS, Role.ADMIN, Role.SERVICE})

POLICY = {
    "CreateReservation": CHANNELS_AND_STAFF,
    "GetReservation": CHANNELS_AND_STAFF,
    "ListReservations": CHANNELS_AND_STAFF,
    "ExtendReservation": CHANNELS_AND_STAFF,
    "CancelReservation": CHANNELS_AND_STAFF,
    # At the till, by the store's staff (or fulfilment's hand-over).
    "CollectReservation": frozenset({Role.POS, Role.ADMIN, Role.SERVICE}),
    # Staff (or fulfilment) have the items at the pickup desk.
    "MarkReservationReady": frozenset({Role.POS, Role.WAREHOUSE, Role.ADMIN, Role.SERVICE}),
    # Orders takes a reservation's hold over.
    "ConvertReservation": frozenset({Role.SERVICE, Role.ADMIN}),
}


def _closing(channel: grpc.aio.Channel) -> BackgroundLoop:
    """Closes the channel to inventory once the server has drained its calls."""

    async def close(stop: asyncio.Event) -> None:
        await stop.wait()
        await channel.close()

    return close


def begun_changes(lifecycle: Lifecycle) -> dict[str, Resume]:
    """The changes that begin before inventory is asked, each as the Resumer runs it again."""
    return {
        "CollectReservation": resume(reservations_pb2.CollectReservationRequest, lifecycle.collect),
        "CancelReservation": resume(reservations_pb2.CancelReservationRequest, lifecycle.cancel),
        "ExtendReservation": resume(reservations_pb2.ExtendReservationRequest, lifecycle.extend),
        "ConvertReservation": resume(reservations_pb2.ConvertReservationRequest, lifecycle.convert),
    }


def bootstrap(platform_settings: Settings) -> ServiceApp:
    settings = ReservationsSettings.of(platform_settings)
    db = Database(settings.database_url or "", min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    bus = EventBus(settings, "reservations")
    inventory_channel = service_channel(settings, "reservations", "inventory")
    deps = Deps(
        db=db,
        outbox=Outbox(settings, "reservations"),
        idempotency=IdempotencyStore("reservations"),
        inventory=InventoryClient(inventory_channel),
        settings=settings,
    )
    sync = HoldSync(deps)
    creating = Creating(deps)
    recovery = Recovery(deps, creating, sync)
    lifecycle = Lifecycle(deps, sync)
    cut_short = Resumer("reservations", settings, db, deps.idempotency, begun_changes(lifecycle))
    expiries = EventConsumer(
        db,
        bus,
        schema="reservations",
        durable="reservations-holds",
        subjects=[settings.subject("inventory", "hold", "expired")],
        handler=on_hold_expired(sync),
    )
    arrivals_of_transfers = Arrivals(deps)
    arrivals = EventConsumer(
        db,
        bus,
        schema="reservations",
        durable="reservations-transfers",
        # One subject per consumer (NATS before 2.10): the handler acts on received and cancelled.
        subjects=[settings.subject("inventory", "transfer", "*")],
        handler=on_transfer(arrivals_of_transfers),
    )
    shortenings = EventConsumer(
        db,
        bus,
        schema="reservations",
        durable="reservations-shorted-holds",
        subjects=[settings.subject("inventory", "hold", "shorted")],
        handler=on_hold_shorted(arrivals_of_transfers),
    )
    return ServiceApp(
        name="reservations",
        settings=settings,
        db=db,
        bus=bus,
        servicers=[
            Servicer(
                reservations_pb2_grpc.add_ReservationsServiceServicer_to_server,
                ReservationsServicer(creating, lifecycle),
                reservations_pb2.DESCRIPTOR.services_by_name["ReservationsService"].full_name,
            )
        ],
        policy=POLICY,
        background=[
            expiries.run,
            arrivals.run,
            shortenings.run,
            recovery.run,
            cut_short.run,
            forgetting_changed_stores(bus, deps.inventory),
            learning_skus(deps.inventory),
            _closing(inventory_channel),
        ],
    )


def main() -> None:
    run_service(bootstrap, "reservations")


if __name__ == "__main__":
    main()
