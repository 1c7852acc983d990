"""What the Kubernetes manifests rely on in the servers and clients:

- liveness is not readiness: with PostgreSQL gone, a service is unready ("" NOT_SERVING) and
  still alive ("liveness" SERVING), so a database outage takes pods out of the Service and
  restarts none of them;
- a client spreads its calls over every address a name resolves to (round_robin; a headless
  Service resolves to one address per pod);
- with OMNISTOCK_GRPC_MAX_CONNECTION_AGE a server ends old connections, so clients connect again
  and reach replicas added since."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from omnistock_platform.db import Database, create_database, drop_database, with_database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.grpc.client import open_channel
from omnistock_platform.grpc.server import LIVENESS, ServiceApp
from omnistock_platform.settings import Settings
from omnistock_platform.testing.waiting import wait_until
from tests.integration.platform.support import create_platform_schema, new_schema_name

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@asynccontextmanager
async def service_app(settings: Settings) -> AsyncIterator[ServiceApp]:
    """A ServiceApp with no servicer of its own: health, reflection and its background loops."""
    schema = new_schema_name()
    db = Database(settings.database_url or "", min_size=1, max_size=2)
    await db.connect()
    try:
        async with db.connection() as conn:
            await create_platform_schema(conn, schema)
    finally:
        await db.close()
    app = ServiceApp(
        name=schema,  # type: ignore[arg-type]  # its relay serves this schema's outbox
        settings=settings,
        db=Database(settings.database_url or "", min_size=1, max_size=2),
        bus=EventBus(settings, f"probe-test-{schema}"),
        servicers=[],
        policy={},
    )
    await app.start(port=0)
    try:
        yield app
    finally:
        await app.stop(grace=1.0)


async def status(channel: grpc.aio.Channel, service: str) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(reply.status)


async def test_a_database_outage_makes_a_service_unready_and_leaves_it_alive(
    omnistock_servers: tuple[str, str], omnistock_settings: Settings
) -> None:
    admin_url = omnistock_servers[0]
    database = f"probes_{uuid.uuid4().hex[:10]}"
    await create_database(admin_url, database)
    settings = omnistock_settings.model_copy(update={"database_url": with_database(admin_url, database)})
    try:
        async with service_app(settings) as app, grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            assert (await status(channel, ""), await status(channel, LIVENESS)) == (SERVING, SERVING)
            await drop_database(admin_url, database)  # ends every connection to it: PostgreSQL is gone
            await wait_until(lambda: _is(channel, "", NOT_SERVING), timeout=30, what="readiness to report NOT_SERVING")
            assert await status(channel, LIVENESS) == SERVING
            await create_database(admin_url, database)
            await wait_until(lambda: _is(channel, "", SERVING), timeout=30, what="readiness to come back")
    finally:
        await drop_database(admin_url, database)


async def _is(channel: grpc.aio.Channel, service: str, wanted: int) -> bool:
    return await status(channel, service) == wanted


class CountingHealth(health.aio.HealthServicer):
    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    async def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext) -> object:
        self.checks += 1
        return await super().Check(request, context)


async def test_a_client_spreads_its_calls_over_every_address_of_a_name(omnistock_settings: Settings) -> None:
    servers, counters, ports = [], [], []
    try:
        for _ in range(2):
            server = grpc.aio.server()
            counter = CountingHealth()
            await counter.set("", SERVING)
            health_pb2_grpc.add_HealthServicer_to_server(counter, server)
            ports.append(server.add_insecure_port("127.0.0.1:0"))
            await server.start()
            servers.append(server)
            counters.append(counter)
        # One name, two addresses: what a headless Service's DNS name gives a client.
        target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)
        channel = open_channel(omnistock_settings, "inventory", lambda: "", address=target)
        try:
            # Calls go to the connections that are up; the second one may come up a moment later.
            for _ in range(100):
                assert await status(channel, "") == SERVING
                if all(counter.checks for counter in counters):
                    break
            assert all(counter.checks for counter in counters), [counter.checks for counter in counters]
            for counter in counters:
                counter.checks = 0
            # Both up: the calls take turns.
            for _ in range(20):
                assert await status(channel, "") == SERVING
        finally:
            await channel.close()
        assert [counter.checks for counter in counters] == [10, 10]
    finally:
        for server in servers:
            await server.stop(None)


async def _not_ready(channel: grpc.aio.Channel) -> bool:
    return channel.get_state() != grpc.ChannelConnectivity.READY


async def test_a_server_ends_connections_at_their_maximum_age(omnistock_settings: Settings) -> None:
    assert omnistock_settings.grpc_max_connection_age == timedelta(0)  # off unless set (deploy/k8s sets it)
    aged = omnistock_settings.model_copy(update={"grpc_max_connection_age": timedelta(seconds=1)})
    async with service_app(aged) as app, grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        assert await status(channel, "") == SERVING
        assert channel.get_state() == grpc.ChannelConnectivity.READY
        await wait_until(lambda: _not_ready(channel), timeout=15, what="the server to end the connection")
        # The client connects again by itself on its next call.
        assert await status(channel, "") == SERVING
