"""Ceiling A: an empty unary call to a servicer that does nothing, served by the same
bootstrap as every service (ServiceApp, the server interceptor with authentication, metrics
and error mapping, health, reflection). What it reaches is the framework's own limit.

`Query` is the same call plus one `SELECT 1` on the pool: the least any call that reads the
database costs, so a read such as GetStock can be told apart from what a round trip costs.
`Relay` is the same call making one `Ping` of its own over a service channel (the client stack
services call each other with): the least a call that crosses to another service costs, which
CreateReservation (reservations, then inventory) and CreateOrder (orders, then inventory three
times) pay before any work of their own. `Stock` takes a GetStockRequest and answers a
GetStockResponse made once, of the size and shape GetStock answers for one SKU at one location:
what exchanging GetStock's messages costs, with no work to find the answer.

Run as `python -m omnistock_bench.trivial`; the port comes from OMNISTOCK_BENCH_PORT.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import cast

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from omnistock.inventory.v1 import inventory_pb2
from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.grpc.client import ServiceToken, open_channel, remote_call
from omnistock_platform.grpc.server import BackgroundLoop, ServiceApp, Servicer, freeze_startup_heap
from omnistock_platform.logging import configure_logging
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

SERVICE = "omnistock.bench.v1.Trivial"
PING = f"/{SERVICE}/Ping"
QUERY = f"/{SERVICE}/Query"
RELAY = f"/{SERVICE}/Relay"
STOCK = f"/{SERVICE}/Stock"
POLICY = {name: frozenset(Role) for name in ("Ping", "Query", "Relay", "Stock")}


def stock_answer() -> inventory_pb2.GetStockResponse:
    """An answer as GetStock gives it from memory for one SKU at one location of the bench's stock."""
    level = inventory_pb2.StockLevel(
        location_id="BENCH-LOC-0042", sku="BENCH-SKU-004217", on_hand=1000, held=37, available=963, version=1174
    )
    level.updated_at.GetCurrentTime()
    answer = inventory_pb2.GetStockResponse(levels=[level], consistency_token="3817264")
    answer.as_of.GetCurrentTime()
    return answer


class Trivial:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._ping: grpc.aio.UnaryUnaryMultiCallable | None = None
        self._stock = stock_answer()

    async def Ping(self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    async def Query(self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        await self.db.pool.fetchval("SELECT 1")
        return empty_pb2.Empty()

    async def Relay(self, request: empty_pb2.Empty, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        if self._ping is None:  # opened on the first call: the server answers by then
            channel = open_channel(
                self.settings,
                "inventory",
                ServiceToken(self.settings, "bench"),
                address=f"127.0.0.1:{os.environ['OMNISTOCK_BENCH_PORT']}",
                traced=True,
            )
            self._ping = channel.unary_unary(
                PING,
                request_serializer=empty_pb2.Empty.SerializeToString,
                response_deserializer=empty_pb2.Empty.FromString,
            )
        return await remote_call("bench", self._ping(empty_pb2.Empty()))

    async def Stock(
        self, request: inventory_pb2.GetStockRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.GetStockResponse:
        return self._stock


def add_trivial(implementation: Trivial, server: grpc.aio.Server) -> None:
    messages: dict[str, type[Message]] = {"Stock": inventory_pb2.GetStockRequest}
    answers: dict[str, type[Message]] = {"Stock": inventory_pb2.GetStockResponse}
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(implementation, name),
            request_deserializer=messages.get(name, empty_pb2.Empty).FromString,
            response_serializer=answers.get(name, empty_pb2.Empty).SerializeToString,
        )
        for name in POLICY
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


class TrivialApp(ServiceApp):
    """ServiceApp without the outbox relay: this servicer owns no schema, and a relay would
    publish some other service's outbox and skew that service's figures."""

    def _loops(self) -> list[BackgroundLoop]:
        return [self._watch_readiness]


def bootstrap(settings: Settings) -> ServiceApp:
    # A pool like every service's: Query holds a connection for its round trip.
    db = Database(settings.database_url or "", min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    return TrivialApp(
        # The name only labels logs and metrics; the port is given to start().
        name=cast(ServiceName, "bench"),
        settings=settings,
        db=db,
        bus=EventBus(settings, "bench-trivial"),
        servicers=[Servicer(add_trivial, Trivial(db, settings), SERVICE)],
        policy=POLICY,
    )


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json, service="bench")
    import uvloop

    uvloop.install()

    async def serve() -> None:
        app = bootstrap(settings)
        await app.start(port=int(os.environ["OMNISTOCK_BENCH_PORT"]))
        freeze_startup_heap()  # as run_service does for every service
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        await app.stop(1.0)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
