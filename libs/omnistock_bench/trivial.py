"""Ceiling A: an empty unary call to a servicer that does nothing, served by the same
bootstrap as every service (ServiceApp, the server interceptor with authentication, metrics
and error mapping, health, reflection). What it reaches is the framework's own limit.

Run as `python -m omnistock_bench.trivial`; the port comes from OMNISTOCK_BENCH_PORT.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any, cast

import grpc
from google.protobuf import empty_pb2

from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.grpc.server import BackgroundLoop, ServiceApp, Servicer, freeze_startup_heap
from omnistock_platform.logging import configure_logging
from omnistock_platform.settings import ServiceName, Settings

SERVICE = "omnistock.bench.v1.Trivial"
PING = f"/{SERVICE}/Ping"
POLICY = {"Ping": frozenset(Role)}


async def ping(request: empty_pb2.Empty, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
    return empty_pb2.Empty()


def add_trivial(implementation: Any, server: grpc.aio.Server) -> None:
    handler = grpc.unary_unary_rpc_method_handler(
        implementation,
        request_deserializer=empty_pb2.Empty.FromString,
        response_serializer=empty_pb2.Empty.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Ping": handler}),))


class TrivialApp(ServiceApp):
    """ServiceApp without the outbox relay: this servicer owns no schema, and a relay would
    publish some other service's outbox and skew that service's figures."""

    def _loops(self) -> list[BackgroundLoop]:
        return [self._watch_readiness]


def bootstrap(settings: Settings) -> ServiceApp:
    return TrivialApp(
        # The name only labels logs and metrics; the port is given to start().
        name=cast(ServiceName, "bench"),
        settings=settings,
        db=Database(settings.database_url or "", min_size=1, max_size=2),
        bus=EventBus(settings, "bench-trivial"),
        servicers=[Servicer(add_trivial, ping, SERVICE)],
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
