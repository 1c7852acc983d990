"""Inventory process: `python -m omnistock_inventory.entrypoints.main`."""

from __future__ import annotations

from omnistock.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from omnistock_inventory.domain.transfers import LeadTimes
from omnistock_inventory.entrypoints.grpc_servicer import InventoryServicer
from omnistock_inventory.service_layer.catalogue import Catalogue
from omnistock_inventory.service_layer.counts import Counts
from omnistock_inventory.service_layer.hold_edits import HoldEdits
from omnistock_inventory.service_layer.holds import Holds
from omnistock_inventory.service_layer.pools import PoolBook, Pools
from omnistock_inventory.service_layer.request_records import RequestRecords
from omnistock_inventory.service_layer.stock import StockLevels
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.service_layer.transfers import Transfers
from omnistock_inventory.service_layer.watch import StockWatcher
from omnistock_inventory.settings import InventorySettings
from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.server import ServiceApp, Servicer, run_service
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.settings import Settings

EVERYONE = frozenset(Role)
READERS = EVERYONE
STAFF_WRITE = frozenset({Role.WAREHOUSE, Role.ADMIN, Role.SERVICE})
CATALOGUE_WRITE = frozenset({Role.ADMIN, Role.SERVICE})
SELLERS = frozenset({Role.STOREFRONT, Role.APP, Role.CHAT_AGENT, Role.POS, Role.ADMIN, Role.SERVICE})
INTERNAL = frozenset({Role.SERVICE, Role.ADMIN})
COUNTERS = frozenset({Role.WAREHOUSE, Role.POS, Role.ADMIN, Role.SERVICE})

POLICY = {
    "UpsertLocation": CATALOGUE_WRITE,
    "GetLocation": READERS,
    "BatchGetLocations": READERS,
    "ListLocations": READERS,
    "UpsertSku": CATALOGUE_WRITE,
    "GetSku": READERS,
    "BatchGetSkus": READERS,
    "ListSkus": READERS,
    "ReceiveStock": STAFF_WRITE,
    # A till adjusts only for customer returns (checked in the service layer).
    "AdjustStock": STAFF_WRITE | {Role.POS},
    "SetSafetyStock": STAFF_WRITE,
    "ExpectStock": STAFF_WRITE,
    "GetStock": READERS,
    "BatchGetStock": READERS,
    "FindAvailability": READERS,
    "WatchStock": READERS,
    "ListMovements": frozenset({Role.WAREHOUSE, Role.POS, Role.ADMIN, Role.SERVICE}),
    # Channels take holds through reservations and orders; a till sells directly.
    "Hold": frozenset({Role.POS, Role.ADMIN, Role.SERVICE}),
    "GetHold": INTERNAL | {Role.POS, Role.WAREHOUSE},
    "ListHolds": INTERNAL,
    "ReleaseHold": INTERNAL,
    # Whether a change a service asked for went through: the service's own request ids only.
    "GetRequestRecord": frozenset({Role.ADMIN, Role.SERVICE}),
    "CommitHold": INTERNAL,
    "ExtendHold": INTERNAL,
    "TransferHold": INTERNAL,
    "AdjustHold": INTERNAL,
    # Cycle counts: staff count their own locations; a variance beyond the threshold is approved in the back office.
    "CreateCount": COUNTERS,
    "GetCount": COUNTERS,
    "ListCounts": COUNTERS,
    "ListCountLines": COUNTERS,
    "RecordCount": COUNTERS,
    "ReviewCount": COUNTERS,
    "ApproveCount": frozenset({Role.ADMIN}),
    "CompleteCount": COUNTERS,
    "CancelCount": COUNTERS,
    # Transfers: staff ship from their own location and receive at their own (checked in the service layer).
    "CreateTransfer": COUNTERS,
    "ShipTransfer": COUNTERS,
    "ReceiveTransfer": COUNTERS,
    "CancelTransfer": COUNTERS,
    "GetTransfer": COUNTERS,
    "ListTransfers": COUNTERS,
    # Location groups and channel pools: set in the back office, read by everyone.
    "UpsertLocationGroup": CATALOGUE_WRITE,
    "ListLocationGroups": READERS,
    "SetChannelPools": CATALOGUE_WRITE,
    "ListChannelPools": READERS,
}


def bootstrap(platform_settings: Settings) -> ServiceApp:
    settings = InventorySettings.of(platform_settings)
    db = Database(settings.database_url or "", min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    bus = EventBus(settings, "inventory")
    outbox = Outbox(settings, "inventory")
    idempotency = IdempotencyStore("inventory")
    book = PoolBook(db)
    view = StockView(db, settings)
    holds = Holds(db, outbox, idempotency, settings)
    transfers = Transfers(db, outbox, idempotency, settings)
    stock = StockLevels(db, outbox, idempotency, view, book, LeadTimes(transfers.lead_pairs, transfers.lead_by_kind))
    servicer = InventoryServicer(
        Catalogue(db, idempotency, outbox),
        stock,
        holds,
        StockWatcher(bus, stock),
        Counts(db, outbox, idempotency, settings),
        transfers,
        Pools(db, outbox, idempotency, book),
        HoldEdits(db, outbox, idempotency),
        RequestRecords(db, idempotency),
    )
    return ServiceApp(
        name="inventory",
        settings=settings,
        db=db,
        bus=bus,
        servicers=[
            Servicer(
                inventory_pb2_grpc.add_InventoryServiceServicer_to_server,
                servicer,
                inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name,
            )
        ],
        policy=POLICY,
        background=[holds.sweep, transfers.sweep, view.run],
        warm_up=[view.load],
        ready=[view.ready],
    )


def main() -> None:
    run_service(bootstrap, "inventory")


if __name__ == "__main__":
    main()
