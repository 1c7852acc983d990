"""The insights process: `python -m omnistock_insights.entrypoints.main`."""

from __future__ import annotations

from omnistock.insights.v1 import insights_pb2_grpc
from omnistock_insights.adapters.stream import StreamReplay
from omnistock_insights.entrypoints.grpc_servicer import FULL_NAME, InsightsServicer
from omnistock_insights.entrypoints.handlers import LiveProjection, consumer
from omnistock_insights.service_layer.projection import Projection
from omnistock_insights.service_layer.rebuild import Rebuild
from omnistock_insights.service_layer.report import ChannelInsightsReport
from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.grpc.server import BackgroundLoop, ServiceApp, Servicer, run_service
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.settings import Settings

POLICY: dict[str, frozenset[Role]] = {
    # Store and warehouse staff only for their own locations (checked in the use case).
    "GetChannelInsights": frozenset({Role.ADMIN, Role.SERVICE, Role.POS, Role.WAREHOUSE}),
    "RebuildInsights": frozenset({Role.ADMIN}),
}


def bootstrap(settings: Settings) -> ServiceApp:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    db = Database(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    bus = EventBus(settings, "insights")
    idempotency = IdempotencyStore("insights")
    projection = Projection()
    rebuild = Rebuild(db, projection, StreamReplay(bus), idempotency)
    servicer = InsightsServicer(ChannelInsightsReport(db), rebuild)
    live = consumer(settings, db, bus, LiveProjection(projection))
    loops: list[BackgroundLoop] = [live.run]
    return ServiceApp(
        "insights",
        settings,
        db,
        bus,
        servicers=[Servicer(insights_pb2_grpc.add_InsightsServiceServicer_to_server, servicer, FULL_NAME)],
        policy=POLICY,
        background=loops,
    )


def main() -> None:
    run_service(bootstrap, "insights")


if __name__ == "__main__":
    main()
