"""Server bootstrap shared by every service.

A service's `bootstrap(settings)` builds a `ServiceApp` with its servicers,
access policy and background loops; `ServiceApp.start()` connects to
PostgreSQL and NATS, serves gRPC with health and reflection, and runs the loops
until `stop()`, which drains in-flight calls, then the loops, then NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import Gauge

from omnistock_platform import metrics, telemetry
from omnistock_platform.auth import TokenAuthority, development_secret_in_use, unsafe_for_production
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.relay import OutboxRelay
from omnistock_platform.grpc.access import AccessLogInterceptor
from omnistock_platform.grpc.client import channel_credentials
from omnistock_platform.grpc.connect import ConnectServer
from omnistock_platform.grpc.interceptors import AccessPolicy, ServerInterceptor
from omnistock_platform.grpc.reflection import enable_reflection
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.logging import configure_logging, get_logger
from omnistock_platform.loops import pause, repeat
from omnistock_platform.services import SERVICES, ServiceName
from omnistock_platform.settings import Settings

log = get_logger(__name__)

IDEMPOTENCY_PURGE_SECONDS = 3600.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Calls gRPC holds for the server before the server has taken them up. gRPC's defaults (1,000, and a
# hard limit of 3,000) cancel calls of a burst at random, CANCELLED and with no word of when to come
# back, before the service's own admission control (OMNISTOCK_MAX_IN_FLIGHT: RESOURCE_EXHAUSTED with
# RetryInfo) has seen them. Taken up at once, each costs a moment; beyond this, gRPC cancels again.
MAX_WAITING_CALLS = 20_000
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# The health entry a liveness probe asks: SERVING while the process answers at all, whatever
# PostgreSQL and NATS do ("" and the services' own names are readiness).
LIVENESS = "liveness"

BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]

# How often the event loop is asked to run a timer: the delay past it is work that blocked the loop.
LAG_PROBE_SECONDS = 0.25
EVENT_LOOP_LAG = Gauge(
    "omnistock_event_loop_lag_seconds",
    "How late the service's event loop ran its last probe timer: time something blocked every call",
    ["service"],
)


class UnsafeForProduction(RuntimeError):
    """A service asked to start in production with settings that only belong on a laptop."""


@dataclass
class Servicer:
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    implementation: Any
    full_name: str


@dataclass
class ServiceApp:
    name: ServiceName
    settings: Settings
    db: Database
    bus: EventBus
    servicers: list[Servicer]
    policy: AccessPolicy
    background: list[BackgroundLoop] = field(default_factory=list)
    # Awaited once connected and before serving: state the process needs before its first answer.
    warm_up: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # More conditions of readiness than PostgreSQL and NATS answering.
    ready: list[Callable[[], bool]] = field(default_factory=list)
    # Channels to other services, closed after the server and the loops have stopped.
    channels: list[grpc.aio.Channel] = field(default_factory=list)
    port: int = 0
    # Connect and gRPC-Web (0: not served).
    connect_port: int = 0
    _server: grpc.aio.Server | None = None
    _connect: ConnectServer | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _health: health.aio.HealthServicer = field(default_factory=health.aio.HealthServicer)

    def _check_deployment(self) -> None:
        unsafe = unsafe_for_production(self.settings)
        if self.settings.env == "production" and unsafe:
            raise UnsafeForProduction(
                f"{self.name} refuses to start with OMNISTOCK_ENV=production: {'; '.join(unsafe)}"
            )
        if development_secret_in_use(self.settings):
            log.warning(
                "auth.development_secret",
                service=self.name,
                detail="THE BUILT-IN DEVELOPMENT JWT SECRET IS IN USE: anyone with a checkout of Omnistock can"
                " sign tokens for any role. Set OMNISTOCK_JWT_SECRET (or verify tokens with your identity"
                " provider's keys) anywhere but a laptop; OMNISTOCK_ENV=production refuses to start with it.",
            )

    async def start(self, port: int | None = None, connect_port: int | None = None) -> int:
        """`port` and `connect_port` override the settings (0: a free port)."""
        self._check_deployment()
        self.db.name = self.db.name or self.name  # labels its pool's metrics
        await self.db.connect()
        await self.bus.connect()
        await self.bus.ensure_stream()
        for warm_up in self.warm_up:
            await warm_up()
        authority = None if self.settings.auth_disabled else TokenAuthority(self.settings)
        if authority is None:
            log.warning(
                "auth.disabled",
                service=self.name,
                detail="AUTHENTICATION IS OFF (OMNISTOCK_AUTH_DISABLED): every caller is treated as admin;"
                " never run like this outside a laptop",
            )
        interceptor = ServerInterceptor(
            self.name,
            authority,
            self.policy,
            max_in_flight=self.settings.max_in_flight,
            max_streams_per_caller=self.settings.max_streams_per_caller,
            default_deadline=self.settings.default_deadline.total_seconds(),
        )
        options: list[tuple[str, int]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.server.max_pending_requests", MAX_WAITING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", MAX_WAITING_CALLS),
            ("grpc.so_reuseport", 1),
        ]
        if self.settings.grpc_max_connection_age:
            options.append(
                ("grpc.max_connection_age_ms", int(self.settings.grpc_max_connection_age.total_seconds() * 1000))
            )
        server = grpc.aio.server(
            interceptors=[
                *telemetry.server_interceptors(),
                AccessLogInterceptor(self.name, self.settings.access_log_sample),
                interceptor,
            ],
            options=options,
        )
        for servicer in self.servicers:
            servicer.add_to_server(servicer.implementation, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = [s.full_name for s in self.servicers]
        enable_reflection([*names, health.SERVICE_NAME], server)
        address = f"{self.settings.host}:{self.settings.port(self.name) if port is None else port}"
        self.port = _bind(server, address, self.settings)
        # Health answers the truth from the first call: otherwise "" reads SERVING before anything
        # was checked and the services' own entries are NOT_FOUND until the watcher's first pass.
        await self._check_readiness()
        await self._health.set(LIVENESS, SERVING)
        await server.start()
        self._server = server
        await self._start_connect(connect_port)
        self._stop.clear()
        self._tasks = [asyncio.create_task(loop(self._stop)) for loop in self._loops()]
        log.info(
            "service.started",
            service=self.name,
            address=f"{self.settings.host}:{self.port}",
            connect=f"{self.settings.host}:{self.connect_port}" if self._connect else "off",
            tls=_tls_mode(self.settings),
            auth="disabled" if authority is None else ",".join(authority.algorithms),
            # Passwords in these URLs never reach the log: the log processor redacts them.
            database=self.settings.database_url,
            nats=self.settings.nats_url,
        )
        return self.port

    async def _start_connect(self, port: int | None) -> None:
        """Connect and gRPC-Web, forwarding to the gRPC server just started (so every rule of a
        gRPC call applies to them: omnistock_platform.grpc.connect). `port` None: the settings' port,
        where 0 means none; a caller's explicit 0 (the tests): a free port."""
        if port is None:
            # An app that is none of the services (a test's own) has no Connect port setting.
            port = self.settings.connect_port(self.name) if self.name in SERVICES else 0
            if port == 0:
                return
        connect = ConnectServer(
            self.settings,
            [s.full_name for s in self.servicers],
            f"{_loopback(self.settings.host)}:{self.port}",
            channel_credentials(self.settings),
            max_message_bytes=MAX_MESSAGE_BYTES,
            tls_name=_dialled_name(self.settings.address(self.name)) if self.name in SERVICES else "",
        )
        self.connect_port = await connect.start(port)
        self._connect = connect

    def _loops(self) -> list[BackgroundLoop]:
        relay = OutboxRelay(self.db, self.bus, self.name)
        return [relay.run, self._watch_readiness, self._purge_idempotency, self._watch_event_loop, *self.background]

    async def _watch_event_loop(self, stop: asyncio.Event) -> None:
        """omnistock_event_loop_lag_seconds: how late a timer fires. Anything that holds the loop (a
        slow pattern, a huge message, a synchronous call) delays every call and health check by it."""
        gauge = EVENT_LOOP_LAG.labels(self.name)
        gauge.set(0.0)
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            due = loop.time() + LAG_PROBE_SECONDS
            await pause(stop, LAG_PROBE_SECONDS)
            gauge.set(max(0.0, loop.time() - due))

    async def _purge_idempotency(self, stop: asyncio.Event) -> None:
        """Answers to request ids are kept for the retention period (at least 24 h), then dropped."""
        store = IdempotencyStore(self.name)

        async def purge() -> None:
            await store.purge(self.db, self.settings.idempotency_retention)

        await repeat(stop, IDEMPOTENCY_PURGE_SECONDS, purge, failed="idempotency.purge_failed")

    async def _check_readiness(self) -> None:
        """SERVING only while PostgreSQL answers, NATS is connected and the service's own checks pass."""
        ready = all(check() for check in self.ready) and self.bus.connected and await self.db.ping(timeout=1.0)
        for name in ["", *[s.full_name for s in self.servicers]]:
            await self._health.set(name, SERVING if ready else NOT_SERVING)

    async def _watch_readiness(self, stop: asyncio.Event) -> None:
        await repeat(stop, 1.0, self._check_readiness, failed="health.check_failed")

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.shutdown_grace.total_seconds() if grace is None else grace
        await self._health.enter_graceful_shutdown()
        if self._connect is not None:
            await self._connect.stop()
            self._connect = None
        if self._server is not None:
            await self._server.stop(grace)
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=grace)
        for channel in self.channels:
            await channel.close(None)
        await self.bus.close()
        await self.db.close()
        log.info("service.stopped", service=self.name)

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _dialled_name(address: str) -> str:
    """The host others dial in an address ("dns:///inventory-headless:50051" -> "inventory-headless")."""
    target = address.removeprefix("dns:///").removeprefix("dns:")
    host = target.rsplit(":", 1)[0] if target.count(":") == 1 or target.startswith("[") else target
    return host.strip("[]")


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _tls_mode(settings: Settings) -> str:
    if not (settings.tls_cert_file and settings.tls_key_file):
        return "off"
    return "mutual" if settings.tls_client_ca_file else "on"


def _bind(server: grpc.aio.Server, address: str, settings: Settings) -> int:
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise ValueError("TLS needs both tls_cert_file and tls_key_file")
    if settings.tls_client_ca_file and not settings.tls_cert_file:
        raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file: client certificates need TLS")
    if settings.tls_cert_file and settings.tls_key_file:
        client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
        credentials = grpc.ssl_server_credentials(
            [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )
        return server.add_secure_port(address, credentials)
    return server.add_insecure_port(address)


def freeze_startup_heap() -> None:
    """Take what start-up made (modules, message descriptors, the app itself) out of the garbage
    collector's reach. It lives as long as the process; left in, every full collection walks all
    of it and stops the event loop meanwhile: in inventory under `make bench` load, up to 88 ms
    (45 ms on average) every few seconds, against at most 4 ms once frozen. Only for a process's
    entry point: a process that starts many apps (the tests) would keep their garbage for good."""
    gc.freeze()


def run_service(bootstrap: Callable[[Settings], ServiceApp], name: ServiceName) -> None:
    """Process entry point: serve until SIGTERM or SIGINT, then shut down gracefully."""
    settings = Settings()
    configure_logging(
        settings.log_level,
        settings.log_json,
        service=name,
        secrets=[settings.jwt_secret, settings.database_url, settings.nats_url],
    )
    tracing = telemetry.configure(name, settings)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency, but plain asyncio works too
        pass

    async def serve() -> None:
        app = bootstrap(settings)
        try:
            await app.start()
        except UnsafeForProduction as refused:
            log.error("service.refused_to_start", service=name, reason=str(refused))
            raise SystemExit(2) from None
        freeze_startup_heap()
        metrics.serve(settings, name)
        if tracing:
            log.info("tracing.on", service=name, exporter=os.environ.get("OTEL_TRACES_EXPORTER", ""))
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        log.info("service.stopping", service=name)
        await app.stop()
        telemetry.shutdown()

    asyncio.run(serve())
