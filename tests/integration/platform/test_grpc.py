"""ServiceApp, the server interceptor, the error mapping and the client channel, over real gRPC.

The service is the generated InventoryService with a stand-in implementation
that raises whatever error the request's SKU names.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from omnistock_platform import errors
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.db import Database, create_database, drop_database, with_database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.grpc.client import open_channel
from omnistock_platform.grpc.errors import details_of, error_from_rpc
from omnistock_platform.grpc.server import ServiceApp, Servicer
from omnistock_platform.idempotency import carried_through
from omnistock_platform.logging import request_id_var
from omnistock_platform.settings import Settings
from omnistock_platform.testing.waiting import eventually
from tests.integration.platform.support import create_platform_schema, new_schema_name

SERVICE = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name
POLICY = {"GetStock": frozenset({Role.ADMIN, Role.CHAT_AGENT}), "WatchStock": frozenset({Role.ADMIN})}

SHORTFALL = errors.Shortfall(
    [errors.ShortLine("STORE-1", "SOFA-GREEN", requested=2, available=1)],
    [errors.Alternative("STORE-2", "City branch", "Leeds", 12.5, {"SOFA-GREEN": 3})],
)
RAISED: dict[str, Exception] = {
    "INVALID": errors.InvalidArgument(
        [errors.FieldViolation("sku", "is not a SKU"), errors.FieldViolation("location_id", "is required")]
    ),
    "SHORT": SHORTFALL,
    "MISSING": errors.NotFound("sku", "SOFA-PINK"),
    "REUSED": errors.IdempotencyMismatch("req-reused"),
    "RACE": errors.Aborted("the stock changed; retry"),
    "TAKEN": errors.AlreadyExists("location STORE-1 exists"),
    "SCOPE": errors.PermissionDenied("pos may not act on STORE-9"),
    "BOOM": RuntimeError("connection to db-primary:5432 failed, password=hunter2"),
    # A read straight on the pool while PostgreSQL restarts.
    "DB-RESTARTING": asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    "DB-CLOSED": asyncpg.InterfaceError("connection is closed"),
    # The driver's state after PostgreSQL ended a connection in the middle of an operation.
    "DB-BROKEN": asyncpg.exceptions.InternalClientError(
        "cannot switch to state 15; another operation (2) is in progress"
    ),
    # The database rolled a change back whole: two transactions waited for each other.
    "DB-DEADLOCK": asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    "DB-SERIALIZATION": asyncpg.exceptions.SerializationError("could not serialize access"),
}


class StandInInventory(inventory_pb2_grpc.InventoryServiceServicer):
    # The channel ONWARD calls on with (the platform client, to this same server).
    onward: grpc.aio.Channel | None = None

    async def GetStock(self, request: inventory_pb2.GetStockRequest, context: Any) -> inventory_pb2.GetStockResponse:
        if request.sku in RAISED:
            raise RAISED[request.sku]
        if request.sku == "SLOW":
            await asyncio.sleep(60)
        if request.sku == "REMAINING":  # how long its caller still waits, in ms
            left = context.time_remaining()
            return inventory_pb2.GetStockResponse(
                levels=[inventory_pb2.StockLevel(sku="REMAINING", on_hand=-1 if left is None else int(left * 1000))]
            )
        if request.sku == "ONWARD":
            assert self.onward is not None
            stub = inventory_pb2_grpc.InventoryServiceStub(self.onward)
            return await stub.GetStock(inventory_pb2.GetStockRequest(sku="REMAINING"))  # type: ignore[no-any-return]
        if request.sku == "CARRIED":  # ONWARD, as a change carried to its end without its caller
            assert self.onward is not None
            carried = inventory_pb2_grpc.InventoryServiceStub(self.onward)

            async def change() -> inventory_pb2.GetStockResponse:
                return await carried.GetStock(inventory_pb2.GetStockRequest(sku="REMAINING"))  # type: ignore[no-any-return]

            return await carried_through(change())
        return inventory_pb2.GetStockResponse(levels=[inventory_pb2.StockLevel(sku=request.sku, on_hand=4)])

    async def WatchStock(
        self, request: inventory_pb2.WatchStockRequest, context: Any
    ) -> AsyncIterator[inventory_pb2.WatchStockResponse]:
        yield inventory_pb2.WatchStockResponse(snapshot=True, snapshot_complete=True)
        for sku in request.skus:
            if sku in RAISED:
                raise RAISED[sku]


@contextlib.asynccontextmanager
async def serving(settings: Settings, schema: str, port: int = 0) -> AsyncIterator[ServiceApp]:
    app = ServiceApp(
        name=schema,  # type: ignore[arg-type]  # the app's relay serves this schema's outbox
        settings=settings,
        db=Database(settings.database_url or "", min_size=1, max_size=2),
        bus=EventBus(settings, f"grpc-test-{schema}"),
        servicers=[Servicer(inventory_pb2_grpc.add_InventoryServiceServicer_to_server, StandInInventory(), SERVICE)],
        policy=POLICY,
    )
    await app.start(port=port)
    try:
        yield app
    finally:
        await app.stop(grace=1.0)


@pytest_asyncio.fixture(scope="module")
async def app(omnistock_settings: Settings, db: Database) -> AsyncIterator[ServiceApp]:
    schema = new_schema_name()
    async with db.connection() as conn:
        await create_platform_schema(conn, schema)
    async with serving(omnistock_settings, schema) as running_app:
        yield running_app


@pytest_asyncio.fixture
async def connect(app: ServiceApp) -> AsyncIterator[Callable[[str], grpc.aio.Channel]]:
    """A channel to the app made by the platform client, sending the given bearer token."""
    channels: list[grpc.aio.Channel] = []

    def channel(token: str) -> grpc.aio.Channel:
        opened = open_channel(app.settings, "inventory", lambda: token, address=f"127.0.0.1:{app.port}")
        channels.append(opened)
        return opened

    yield channel
    for opened in channels:
        await opened.close()


def token(settings: Settings, role: Role = Role.ADMIN, ttl: timedelta = timedelta(minutes=5)) -> str:
    return TokenAuthority(settings).mint(role, "platform-test", ttl=ttl)


async def health(channel: grpc.aio.Channel, service: str = "") -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    return int(response.status)


async def get_stock_error(channel: grpc.aio.Channel, sku: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await inventory_pb2_grpc.InventoryServiceStub(channel).GetStock(inventory_pb2.GetStockRequest(sku=sku))
    return failed.value


async def test_health_answers_serving_without_a_token(connect: Callable[[str], grpc.aio.Channel]) -> None:
    channel = connect("")
    # Both entries are there from the start: a probe of the service's own name never sees NOT_FOUND.
    assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
    assert await health(channel, SERVICE) == health_pb2.HealthCheckResponse.SERVING


async def test_an_allowed_call_succeeds(app: ServiceApp, connect: Callable[[str], grpc.aio.Channel]) -> None:
    stub = inventory_pb2_grpc.InventoryServiceStub(connect(token(app.settings, Role.CHAT_AGENT)))
    response = await stub.GetStock(inventory_pb2.GetStockRequest(sku="SOFA-GREEN"))
    assert [(level.sku, level.on_hand) for level in response.levels] == [("SOFA-GREEN", 4)]


async def test_invalid_argument_carries_field_violations(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel]
) -> None:
    error = await get_stock_error(connect(token(app.settings)), "INVALID")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    [bad_request] = details_of(error, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("sku", "is not a SKU"),
        ("location_id", "is required"),
    ]
    rebuilt = error_from_rpc(error)
    assert isinstance(rebuilt, errors.InvalidArgument)
    assert rebuilt.violations == RAISED["INVALID"].violations  # type: ignore[attr-defined]


async def test_a_shortfall_carries_precondition_failure_and_the_shortfall(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel]
) -> None:
    error = await get_stock_error(connect(token(app.settings)), "SHORT")
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    [precondition] = details_of(error, error_details_pb2.PreconditionFailure)
    assert [(v.type, v.subject) for v in precondition.violations] == [("STOCK", "STORE-1/SOFA-GREEN")]
    [shortfall] = details_of(error, common_pb2.Shortfall)
    assert [(line.sku, line.requested, line.available) for line in shortfall.lines] == [("SOFA-GREEN", 2, 1)]
    assert shortfall.alternatives[0].location_id == "STORE-2"
    rebuilt = error_from_rpc(error)
    assert isinstance(rebuilt, errors.Shortfall)
    assert (rebuilt.lines, rebuilt.alternatives) == (SHORTFALL.lines, SHORTFALL.alternatives)
    assert rebuilt.violations == SHORTFALL.violations


async def test_not_found_names_the_resource(app: ServiceApp, connect: Callable[[str], grpc.aio.Channel]) -> None:
    error = await get_stock_error(connect(token(app.settings)), "MISSING")
    assert error.code() == grpc.StatusCode.NOT_FOUND
    [resource] = details_of(error, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name) == ("sku", "SOFA-PINK")
    rebuilt = error_from_rpc(error)
    assert isinstance(rebuilt, errors.NotFound)
    assert (rebuilt.kind, rebuilt.key, rebuilt.message) == ("sku", "SOFA-PINK", RAISED["MISSING"].message)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sku", "code", "kind"),
    [
        ("REUSED", grpc.StatusCode.FAILED_PRECONDITION, errors.IdempotencyMismatch),
        ("RACE", grpc.StatusCode.ABORTED, errors.Aborted),
        ("TAKEN", grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExists),
        ("SCOPE", grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied),
    ],
)
async def test_other_errors_map_to_their_code_and_travel_on(
    app: ServiceApp,
    connect: Callable[[str], grpc.aio.Channel],
    sku: str,
    code: grpc.StatusCode,
    kind: type[errors.OmnistockError],
) -> None:
    error = await get_stock_error(connect(token(app.settings)), sku)
    assert error.code() == code
    raised = RAISED[sku]
    assert isinstance(raised, errors.OmnistockError)
    assert error.details() == raised.message
    rebuilt = error_from_rpc(error)
    assert type(rebuilt) is kind
    assert rebuilt.message == raised.message
    if isinstance(raised, errors.FailedPrecondition):
        assert isinstance(rebuilt, errors.FailedPrecondition)
        assert rebuilt.violations == raised.violations


@pytest.mark.parametrize("sku", ["DB-RESTARTING", "DB-CLOSED", "DB-BROKEN"])
async def test_a_database_gone_away_is_unavailable_with_retry_info_not_internal(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel], sku: str
) -> None:
    error = await get_stock_error(connect(token(app.settings)), sku)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "retry with the same request_id" in (error.details() or "")
    assert details_of(error, error_details_pb2.RetryInfo)


@pytest.mark.parametrize("sku", ["DB-DEADLOCK", "DB-SERIALIZATION"])
async def test_a_change_the_database_rolled_back_is_aborted_with_retry_info_not_internal(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel], sku: str
) -> None:
    error = await get_stock_error(connect(token(app.settings)), sku)
    assert error.code() == grpc.StatusCode.ABORTED
    assert "retry it" in (error.details() or "")
    assert details_of(error, error_details_pb2.RetryInfo)
    (info,) = details_of(error, error_details_pb2.ErrorInfo)
    assert info.reason == "CONFLICT"


async def test_an_unexpected_exception_is_internal_with_the_request_id(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel]
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    reset = request_id_var.set(request_id)  # the client passes it on as x-request-id
    try:
        error = await get_stock_error(connect(token(app.settings)), "BOOM")
    finally:
        request_id_var.reset(reset)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert request_id in (error.details() or "")
    assert "hunter2" not in (error.details() or "")
    assert error_from_rpc(error) is None


@pytest.mark.parametrize(
    ("sku", "code"),
    [("MISSING", grpc.StatusCode.NOT_FOUND), ("BOOM", grpc.StatusCode.INTERNAL)],
)
async def test_errors_in_a_stream_are_mapped_too(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel], sku: str, code: grpc.StatusCode
) -> None:
    stub = inventory_pb2_grpc.InventoryServiceStub(connect(token(app.settings)))
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        async for response in stub.WatchStock(inventory_pb2.WatchStockRequest(skus=[sku])):
            received.append(response)
    assert failed.value.code() == code
    assert len(received) == 1


def forged(settings: Settings) -> str:
    return token(settings.model_copy(update={"jwt_secret": "not-the-secret-of-this-deployment"}))


def unknown_role(settings: Settings) -> str:
    import jwt

    authority = TokenAuthority(settings)
    good = jwt.decode(authority.mint(Role.ADMIN, "x"), options={"verify_signature": False})
    return jwt.encode({**good, "role": "janitor"}, settings.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize(
    "bearer",
    [
        lambda settings: "",
        lambda settings: "not-a-jwt",
        lambda settings: token(settings, ttl=timedelta(minutes=-5)),
        forged,
        unknown_role,
    ],
    ids=["no-token", "garbage", "expired", "forged", "unknown-role"],
)
async def test_a_call_without_a_valid_token_is_unauthenticated(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel], bearer: Callable[[Settings], str]
) -> None:
    error = await get_stock_error(connect(bearer(app.settings)), "SOFA-GREEN")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_role_outside_the_policy_is_denied(app: ServiceApp, connect: Callable[[str], grpc.aio.Channel]) -> None:
    error = await get_stock_error(connect(token(app.settings, Role.STOREFRONT)), "SOFA-GREEN")
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    # A method missing from the policy is closed to everyone, admin included.
    stub = inventory_pb2_grpc.InventoryServiceStub(connect(token(app.settings, Role.ADMIN)))
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await stub.GetSku(inventory_pb2.GetSkuRequest(sku="SOFA-GREEN"))
    assert failed.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_client_streaming_method_is_never_served_unauthenticated(
    omnistock_settings: Settings, db: Database
) -> None:
    served: list[str] = []

    async def collect(requests: Any, context: Any) -> bytes:
        async for request in requests:
            served.append(request)
        return b""

    def add_collector(implementation: Any, server: grpc.aio.Server) -> None:
        handler = grpc.stream_unary_rpc_method_handler(implementation)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Collector", {"Collect": handler}),))

    schema = new_schema_name()
    async with db.connection() as conn:
        await create_platform_schema(conn, schema)
    app = ServiceApp(
        name=schema,  # type: ignore[arg-type]
        settings=omnistock_settings,
        db=Database(omnistock_settings.database_url or "", min_size=1, max_size=2),
        bus=EventBus(omnistock_settings, f"grpc-test-{schema}"),
        servicers=[Servicer(add_collector, collect, "test.Collector")],
        policy={"Collect": frozenset({Role.ADMIN})},
    )
    await app.start(port=0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            call = channel.stream_unary("/test.Collector/Collect")
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await call(iter([b"anonymous"]))
    finally:
        await app.stop(grace=1.0)
    assert failed.value.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAUTHENTICATED)
    assert served == []


async def test_readiness_follows_the_database(omnistock_servers: tuple[str, str], omnistock_settings: Settings) -> None:
    admin_url = omnistock_servers[0]
    database = f"platformready_{uuid.uuid4().hex[:10]}"
    await create_database(admin_url, database)
    settings = omnistock_settings.model_copy(update={"database_url": with_database(admin_url, database)})
    serving_status = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    try:
        async with serving(settings, "readiness") as running_app:
            channel = open_channel(settings, "inventory", lambda: "", address=f"127.0.0.1:{running_app.port}")
            try:
                assert await health(channel) == serving_status
                await drop_database(admin_url, database)  # terminates every connection to it
                for service in ("", SERVICE):
                    await eventually(lambda s=service: _health_is(channel, s, not_serving), what="NOT_SERVING")
                await create_database(admin_url, database)
                for service in ("", SERVICE):
                    await eventually(lambda s=service: _health_is(channel, s, serving_status), what="SERVING again")
            finally:
                await channel.close()
    finally:
        await drop_database(admin_url, database)


async def _health_is(channel: grpc.aio.Channel, service: str, status: int) -> bool:
    return await health(channel, service) == status


async def test_a_call_without_a_deadline_gets_the_services_default(omnistock_settings: Settings, db: Database) -> None:
    schema = new_schema_name()
    async with db.connection() as conn:
        await create_platform_schema(conn, schema)
    settings = omnistock_settings.model_copy(update={"default_deadline": timedelta(milliseconds=300)})
    async with serving(settings, schema) as app, grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as bare:
        # A bare channel: no deadline of the caller's at all.
        stub = inventory_pb2_grpc.InventoryServiceStub(bare)
        metadata = (("authorization", f"Bearer {token(settings)}"),)
        with pytest.raises(grpc.aio.AioRpcError) as slow:
            await stub.GetStock(inventory_pb2.GetStockRequest(sku="SLOW"), metadata=metadata)
        assert slow.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no answer within 0.3 s" in (slow.value.details() or "")
        # The default bounds onward calls too.
        onward = open_channel(settings, "inventory", lambda: token(settings), address=f"127.0.0.1:{app.port}")
        app.servicers[0].implementation.onward = onward
        try:
            answer = await stub.GetStock(inventory_pb2.GetStockRequest(sku="ONWARD"), metadata=metadata)
        finally:
            await onward.close()
        assert 0 < answer.levels[0].on_hand <= 300 + 100  # gRPC rounds a timeout up a little on the wire


async def test_onward_calls_never_outlast_the_callers_deadline(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel]
) -> None:
    servicer = app.servicers[0].implementation
    servicer.onward = connect(token(app.settings))  # the platform client: its own default is 10 s
    stub = inventory_pb2_grpc.InventoryServiceStub(connect(token(app.settings)))
    answer = await stub.GetStock(inventory_pb2.GetStockRequest(sku="ONWARD"), timeout=4.0)
    # Far below the onward channel's own 10 s; gRPC rounds a timeout up a little on the wire.
    assert 0 < answer.levels[0].on_hand <= 4000 + 100
    alone = await stub.GetStock(inventory_pb2.GetStockRequest(sku="REMAINING"))
    # Without a deadline of its own the onward call has the client's default (gRPC rounds it up a little).
    assert 4000 < alone.levels[0].on_hand <= app.settings.default_deadline.total_seconds() * 1000 + 500


async def test_onward_calls_of_a_change_carried_through_are_not_bounded_by_the_callers_deadline(
    app: ServiceApp, connect: Callable[[str], grpc.aio.Channel]
) -> None:
    """A change carried to its end whether or not its caller waits asks onward within the default
    deadline, however little time its caller has left: bounded by the caller's, an onward call begun
    as that time runs out ends after the other service acted and before its answer came, and the
    change it was to finish fails half done."""
    servicer = app.servicers[0].implementation
    servicer.onward = connect(token(app.settings))
    stub = inventory_pb2_grpc.InventoryServiceStub(connect(token(app.settings)))
    answer = await stub.GetStock(inventory_pb2.GetStockRequest(sku="CARRIED"), timeout=1.0)
    assert 1000 + 100 < answer.levels[0].on_hand <= app.settings.default_deadline.total_seconds() * 1000 + 500


async def test_a_new_channel_reaches_a_server_where_an_earlier_channel_found_none(
    omnistock_settings: Settings, db: Database
) -> None:
    """A port where nothing listened for a while (a peer restarting, a port a stopped server left)
    and a server now serves: a channel opened after the server started answers at once, whatever
    backoff an older channel's failed attempts at that port have reached."""
    schema = new_schema_name()
    async with db.connection() as conn:
        await create_platform_schema(conn, schema)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    earlier = open_channel(omnistock_settings, "inventory", lambda: "", address=f"127.0.0.1:{port}")
    try:
        for _ in range(FAILED_ATTEMPTS):  # each failed attempt lengthens the wait before the next
            with pytest.raises(grpc.aio.AioRpcError) as nobody:
                await health(earlier)
            assert nobody.value.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.sleep(0.5)
        async with serving(omnistock_settings, schema, port):
            later = open_channel(omnistock_settings, "inventory", lambda: "", address=f"127.0.0.1:{port}")
            try:
                assert await health(later) == health_pb2.HealthCheckResponse.SERVING
            finally:
                await later.close()
    finally:
        await earlier.close()


FAILED_ATTEMPTS = 5
