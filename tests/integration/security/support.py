"""What the security tests share: the table of every RPC, raw calls, and a quiet stack of
their own — a fresh database and stream that nothing else writes to, so any row that
changes during a call was changed by that call."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache

import grpc
from google.protobuf import descriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.registry import installed_services, module_name
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings
from omnistock_platform.testing.plugin import isolated_run
from omnistock_platform.testing.stack import Stack, unique_id

# Background writers that are not the call under test.
UNWATCHED_TABLES = frozenset({"outbox", "inbox"})
CALL_TIMEOUT = 10.0


def policy_of(service: str) -> dict[str, frozenset[Role]]:
    return importlib.import_module(f"{module_name(service)}.entrypoints.main").POLICY  # type: ignore[no-any-return]


@cache
def service_descriptor(service: str) -> descriptor.ServiceDescriptor:
    """The service's gRPC service, from its contract module (protos/omnistock/<service>/v1)."""
    contract = importlib.import_module(f"omnistock.{service}.v1.{service}_pb2")
    (only,) = contract.DESCRIPTOR.services_by_name.values()
    return only  # type: ignore[no-any-return]


def every_rpc() -> list[tuple[ServiceName, str]]:
    """(service, method) for every RPC of every installed service, known at collection time."""
    return [(service, rpc.name) for service in installed_services() for rpc in service_descriptor(service).methods]


def method_descriptor(service: str, method: str) -> descriptor.MethodDescriptor:
    return service_descriptor(service).methods_by_name[method]


async def call(
    channel: grpc.aio.Channel, service: str, method: str, request: Message | bytes, timeout: float = CALL_TIMEOUT
) -> tuple[grpc.StatusCode, grpc.aio.AioRpcError | None]:
    """One call, unary or the first message of a stream; the code and the error, if any."""
    rpc = method_descriptor(service, method)
    path = f"/{rpc.containing_service.full_name}/{method}"

    def serialize(value: Message | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.SerializeToString()

    try:
        if rpc.server_streaming:
            stream = channel.unary_stream(path, request_serializer=serialize, response_deserializer=bytes)(
                request, timeout=timeout
            )
            try:
                async for _ in stream:
                    break
            finally:
                stream.cancel()
        else:
            await channel.unary_unary(path, request_serializer=serialize, response_deserializer=bytes)(
                request, timeout=timeout
            )
    except grpc.aio.AioRpcError as error:
        return error.code(), error
    return grpc.StatusCode.OK, None


async def answer(
    channel: grpc.aio.Channel, service: str, method: str, request: Message, timeout: float = CALL_TIMEOUT
) -> Message:
    """The response of a unary call, decoded as the RPC's output message (errors raised)."""
    rpc = method_descriptor(service, method)
    stub = channel.unary_unary(
        f"/{rpc.containing_service.full_name}/{method}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=rpc.output_type._concrete_class.FromString,
    )
    return await stub(request, timeout=timeout)  # type: ignore[no-any-return]


@dataclass(repr=False)
class QuietStack:
    """Every installed service in-process on a database and stream of its own, with a small
    catalogue, a reservation and an order in it (their ids are `known`, as "kind:id")."""

    stack: Stack
    db: Database
    bus: EventBus
    tables: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    _admin: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    def admin(self, service: str) -> grpc.aio.Channel:
        """An admin's channel to the service (one per service, kept open)."""
        if service not in self._admin:
            self._admin[service] = self.stack.channel(service)  # type: ignore[arg-type]
        return self._admin[service]

    # -- nothing else is writing -------------------------------------------------------------------

    async def settle(self, timeout: float = 15.0) -> None:
        """Until every outbox is published and every consumer has handled what it was given, seen
        twice in a row with nothing published or delivered between the two looks: the effects of
        earlier calls are over before the next one is measured. An event a handler failed on
        counts as unacknowledged while it waits to come again."""
        unpublished = " + ".join(
            f"(SELECT count(*) FROM {service}.outbox WHERE published_at IS NULL)" for service in installed_services()
        )
        deadline = asyncio.get_running_loop().time() + timeout
        seen: tuple[int, ...] | None = None
        while True:
            # The consumers first: a handler's outbox rows are committed before it acknowledges.
            consumers = await self.bus.js.consumers_info(self.settings.stream_name)
            waiting = await self.db.fetchval(f"SELECT {unpublished}")
            last = (await self.bus.js.stream_info(self.settings.stream_name)).state.last_seq
            for consumer in consumers:
                waiting += (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
            now = (last, *sorted(consumer.delivered.stream_seq or 0 for consumer in consumers))
            if not waiting and now == seen:
                return
            seen = now if not waiting else None
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the stack did not settle in {timeout} s: {waiting} events in flight")
            if waiting:
                await asyncio.sleep(0.02)

    async def snapshot(self) -> tuple[int, dict[str, int]]:
        """The first transaction id not yet started, and the row count of every watched table."""
        async with self.db.connection() as conn:
            xmax = int(await conn.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"))
            counts = await conn.fetch(
                " UNION ALL ".join(f"SELECT '{table}' AS t, count(*) AS n FROM {table}" for table in self.tables)
            )
        return xmax, {row["t"]: row["n"] for row in counts}

    async def changed_since(self, snapshot: tuple[int, dict[str, int]]) -> dict[str, str]:
        """Tables with a row written (inserted or updated) by a transaction that started after the
        snapshot, or with fewer rows (deleted). xmin is 32 bits; in a fresh database it never wraps."""
        xmax, before = snapshot
        query = " UNION ALL ".join(
            f"SELECT '{t}' AS t, count(*) AS n, count(*) FILTER (WHERE xmin::text::bigint >= $1) AS newer FROM {t}"
            for t in self.tables
        )
        changed = {}
        for row in await self.db.fetch(query, xmax % 2**32):
            if row["newer"] or row["n"] != before.get(row["t"], 0):
                changed[row["t"]] = f"{row['newer']} rows written, {before.get(row['t'], 0)} -> {row['n']} rows"
        return changed

    async def health(self, service: str) -> str:
        """The service's health ("" = the server as a whole): SERVING, NOT_SERVING, ..."""
        reply = await health_pb2_grpc.HealthStub(self.admin(service)).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    # -- a little of everything, so requests can name things that exist ---------------------------

    async def seed(self) -> None:
        inventory = self.stack.stub("inventory")
        store, warehouse = unique_id("LOC-STORE-"), unique_id("LOC-WH-")
        for location_id, kind in ((store, ipb.LOCATION_KIND_STORE), (warehouse, ipb.LOCATION_KIND_WAREHOUSE)):
            await inventory.UpsertLocation(
                ipb.UpsertLocationRequest(
                    request_id=unique_id(),
                    location=ipb.Location(
                        location_id=location_id,
                        name=location_id,
                        kind=kind,  # type: ignore[arg-type]
                        city="Hamburg",
                        point=common_pb2.GeoPoint(latitude=53.55, longitude=9.99),
                        routing_rank=1,
                        ships=True,
                        pickup=True,
                        till_sales=True,
                        active=True,
                    ),
                )
            )
        skus = [unique_id("SKU-"), unique_id("SKU-")]
        for sku in skus:
            await inventory.UpsertSku(ipb.UpsertSkuRequest(request_id=unique_id(), sku=ipb.Sku(sku=sku, title=sku)))
            for location_id in (store, warehouse):
                await inventory.ReceiveStock(
                    ipb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=50)
                )
        customer = unique_id("CUST-")
        reservation = (
            await self.stack.stub("reservations").CreateReservation(
                rpb.CreateReservationRequest(
                    request_id=unique_id(),
                    channel=common_pb2.CHANNEL_CHAT,
                    customer=rpb.Customer(customer_id=customer, name="Ada"),
                    store_id=store,
                    lines=[common_pb2.SkuQuantity(sku=skus[0], quantity=1)],
                )
            )
        ).reservation
        known = [f"location:{store}", f"location:{warehouse}", *(f"sku:{sku}" for sku in skus)]
        known += [f"customer:{customer}", f"reservation:{reservation.reservation_id}"]
        known += [f"code:{reservation.pickup_code}", f"hold:{reservation.hold_id}"]
        known.append(f"owner:reservation:{reservation.reservation_id}")  # how reservations name their holds
        count = (
            await inventory.CreateCount(
                ipb.CreateCountRequest(request_id=unique_id(), location_id=store, scope=ipb.COUNT_SCOPE_ALL)
            )
        ).count
        known.append(f"count:{count.count_id}")
        if "orders" in self.stack.apps:
            order = (
                await self.stack.stub("orders").CreateOrder(
                    opb.CreateOrderRequest(
                        request_id=unique_id(),
                        channel=common_pb2.CHANNEL_WEB,
                        customer_id=customer,
                        lines=[opb.OrderLineRequest(sku=skus[1], quantity=1)],
                        method=common_pb2.FULFILMENT_METHOD_SHIP,
                        ship_to=opb.Address(name="Ada", point=common_pb2.GeoPoint(latitude=53.5, longitude=10.0)),
                    )
                )
            ).order
            known += [f"order:{order.order_id}", f"owner:order:{order.order_id}"]
            known += [f"hold:{allocation.hold_id}" for allocation in order.allocations if allocation.hold_id]
        await self.settle()
        if "fulfilment" in self.stack.apps:
            fulfilment = self.stack.stub("fulfilment")
            tasks = (await fulfilment.ListTasks(fpb.ListTasksRequest())).tasks
            known += [f"task:{task.task_id}" for task in tasks]
        self.known = sorted({entry for entry in known if not entry.endswith(":")})


@asynccontextmanager
async def quiet_stack(admin_url: str, nats_url: str) -> AsyncIterator[QuietStack]:
    async with isolated_run(
        admin_url,
        nats_url,
        label="quiet",
        # No writer on a timer: holds are not swept and nothing is recovered while measuring.
        sweep_interval=timedelta(hours=1),
        reservation_recovery_interval=timedelta(hours=1),
        order_recovery_interval=timedelta(hours=1),
        order_backorder_sweep_interval=timedelta(hours=1),
        consumer_retry_delay=timedelta(milliseconds=100),
        # Calls come one at a time; the session's stack holds connections of its own meanwhile.
        db_pool_min=1,
        db_pool_max=3,
    ) as settings:
        services = installed_services()
        stack = Stack(settings)
        db = Database(settings.database_url or "", min_size=1, max_size=2)
        bus = EventBus(settings, "quiet-stack")
        try:
            await stack.start(*services)
            await db.connect()
            await bus.connect()
            rows = await db.fetch(
                "SELECT n.nspname || '.' || c.relname AS t FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1::text[]) AND NOT (c.relname = ANY($2::text[]))"
                " ORDER BY 1",
                list(services),
                sorted(UNWATCHED_TABLES),
            )
            quiet = QuietStack(stack, db, bus, tables=[row["t"] for row in rows])
            await quiet.seed()
            yield quiet
        finally:
            await stack.close()
            await bus.close()
            await db.close()
