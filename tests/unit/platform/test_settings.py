"""Settings from the environment, and the database URL helpers."""

from __future__ import annotations

from datetime import timedelta
from typing import get_args
from urllib.parse import parse_qs, urlsplit

import pydantic
import pytest

from omnistock_platform.db import asyncpg_dsn, sqlalchemy_url, with_database
from omnistock_platform.registry import installed_services, settings_class_of
from omnistock_platform.services import SERVICES, TABLE, Service, ServiceName, service
from omnistock_platform.settings import Settings
from omnistock_platform.validation import duration_text


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test run itself may be configured through these; each test sets its own."""
    for name in ("DATABASE_URL", "NATS_URL", "OMNISTOCK_DATABASE_URL", "OMNISTOCK_NATS_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_standard_connection_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.internal:5432/omnistock")
    monkeypatch.setenv("NATS_URL", "nats://nats.internal:4222")
    settings = Settings()
    assert settings.database_url == "postgresql://app@db.internal:5432/omnistock"
    assert settings.nats_url == "nats://nats.internal:4222"


def test_the_connection_urls_may_carry_the_prefix_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNISTOCK_DATABASE_URL", "postgresql://prefixed/db")
    monkeypatch.setenv("OMNISTOCK_NATS_URL", "nats://prefixed:4222")
    settings = Settings()
    assert (settings.database_url, settings.nats_url) == ("postgresql://prefixed/db", "nats://prefixed:4222")


def test_the_standard_name_wins_over_the_prefixed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://standard/db")
    monkeypatch.setenv("OMNISTOCK_DATABASE_URL", "postgresql://prefixed/db")
    assert Settings().database_url == "postgresql://standard/db"


def test_without_urls_the_embedded_stack_is_meant() -> None:
    settings = Settings()
    assert settings.database_url is None
    assert settings.nats_url is None


def test_everything_else_is_read_with_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNISTOCK_STREAM_NAME", "OMNISTOCK_EU")
    monkeypatch.setenv("OMNISTOCK_CONSUMER_MAX_DELIVER", "7")
    monkeypatch.setenv("OMNISTOCK_DEDUPE_WINDOW", "PT2H")
    monkeypatch.setenv("OMNISTOCK_AUTH_DISABLED", "true")
    monkeypatch.setenv("OMNISTOCK_JWT_ALGORITHMS", '["RS256", "ES256"]')
    monkeypatch.setenv("OMNISTOCK_INVENTORY_ADDRESS", "inventory.svc:443")
    monkeypatch.setenv("SUBJECT_PREFIX", "unprefixed-is-ignored")
    settings = Settings()
    assert settings.stream_name == "OMNISTOCK_EU"
    assert settings.consumer_max_deliver == 7
    assert settings.dedupe_window == timedelta(hours=2)
    assert settings.auth_disabled is True
    assert settings.jwt_algorithms == ("RS256", "ES256")
    assert settings.address("inventory") == "inventory.svc:443"
    assert settings.subject_prefix == "omnistock"


def test_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNISTOCK_CONSUMER_MAX_DELIVER", "many")
    with pytest.raises(pydantic.ValidationError, match="consumer_max_deliver"):
        Settings()


@pytest.mark.parametrize("value", ["99999999999d", "1000000000000000000000000s"])
def test_a_duration_past_any_calendar_is_a_bad_value_not_a_crash(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """More days than a timedelta holds: refused as the setting's bad value, not an OverflowError."""
    monkeypatch.setenv("OMNISTOCK_IDEMPOTENCY_RETENTION", value)
    with pytest.raises(pydantic.ValidationError, match="idempotency_retention"):
        Settings()


def test_code_builds_settings_by_field_name_and_they_stay_frozen() -> None:
    settings = Settings(database_url="postgresql://code/db", nats_url="nats://code:4222", reservations_port=6000)
    assert settings.database_url == "postgresql://code/db"
    assert settings.address("reservations") == "127.0.0.1:6000"
    assert settings.subject("inventory", "stock", "changed") == "omnistock.inventory.stock.changed"
    with pytest.raises(pydantic.ValidationError):
        settings.stream_name = "OTHER"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "dsn", "alchemy", "renamed"),
    [
        (
            "postgres://app:pw@db:5432/omnistock",
            "postgresql://app:pw@db:5432/omnistock",
            "postgresql+asyncpg://app:pw@db:5432/omnistock",
            "postgres://app:pw@db:5432/other",
        ),
        (
            "postgresql+asyncpg://app@db/omnistock?sslmode=require",
            "postgresql://app@db/omnistock?sslmode=require",
            "postgresql+asyncpg://app@db/omnistock?sslmode=require",
            "postgresql+asyncpg://app@db/other?sslmode=require",
        ),
        (
            # libpq's socket form: no host in the authority, the socket directory in the query.
            "postgresql:///omnistock?host=/run/postgresql",
            "postgresql:///omnistock?host=/run/postgresql",
            "postgresql+asyncpg:///omnistock?host=/run/postgresql",
            "postgresql:///other?host=/run/postgresql",
        ),
        (
            # What pgserver hands out.
            "postgresql://postgres:@/postgres?host=/tmp/pg/data",
            "postgresql://postgres:@/postgres?host=/tmp/pg/data",
            "postgresql+asyncpg://postgres:@/postgres?host=/tmp/pg/data",
            "postgresql://postgres:@/other?host=/tmp/pg/data",
        ),
        ("postgresql://db", "postgresql://db", "postgresql+asyncpg://db", "postgresql://db/other"),
    ],
)
def test_database_urls(url: str, dsn: str, alchemy: str, renamed: str) -> None:
    assert asyncpg_dsn(url) == dsn
    assert sqlalchemy_url(url) == alchemy
    assert with_database(url, "other") == renamed
    assert sqlalchemy_url(with_database(url, "other")) == with_database(alchemy, "other")


def test_a_socket_url_keeps_its_socket_directory() -> None:
    for converted in (asyncpg_dsn, sqlalchemy_url, lambda url: with_database(url, "x")):
        parts = urlsplit(converted("postgresql:///omnistock?host=/run/postgresql"))
        assert parts.hostname is None
        assert parse_qs(parts.query) == {"host": ["/run/postgresql"]}


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row.name)
def test_each_row_of_the_service_table_gives_its_settings(row: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SERVICES:
        for suffix in ("PORT", "ADDRESS", "METRICS_PORT", "CONNECT_PORT"):
            monkeypatch.delenv(f"OMNISTOCK_{name.upper()}_{suffix}", raising=False)
    defaults = Settings()
    assert (defaults.port(row.name), defaults.metrics_port(row.name), defaults.connect_port(row.name)) == (
        row.port,
        row.metrics_port,
        row.port + 1000,
    )
    assert defaults.address(row.name) == f"127.0.0.1:{row.port}"
    monkeypatch.setenv(f"{row.env_prefix}PORT", "6100")
    monkeypatch.setenv(f"{row.env_prefix}ADDRESS", f"{row.name}.internal:6100")
    monkeypatch.setenv(f"{row.env_prefix}METRICS_PORT", "0")
    monkeypatch.setenv(f"{row.env_prefix}CONNECT_PORT", "7100")
    settings = Settings()
    assert settings.port(row.name) == 6100
    assert settings.address(row.name) == f"{row.name}.internal:6100"
    assert (settings.metrics_port(row.name), settings.connect_port(row.name)) == (0, 7100)
    others = [name for name in SERVICES if name != row.name]
    assert [settings.port(name) for name in others] == [service(name).port for name in others]


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row.name)
def test_a_service_moved_to_another_port_takes_its_connect_port_along(
    row: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second stack on one machine (OMNISTOCK_<SERVICE>_PORT moved) serves Connect beside its own
    gRPC port: the Connect port stayed at the default, the first stack's, so `omnistock up` refused
    to start until six more variables were set (and a service started by itself bound it beside the
    first stack's, SO_REUSEPORT, so the kernel split a storefront's calls between two systems)."""
    for name in SERVICES:
        for suffix in ("PORT", "CONNECT_PORT"):
            monkeypatch.delenv(f"OMNISTOCK_{name.upper()}_{suffix}", raising=False)
    monkeypatch.setenv(f"{row.env_prefix}PORT", "6100")
    moved = Settings()
    assert moved.connect_port(row.name) == 7100
    assert Settings.of(moved).connect_port(row.name) == 7100
    assert Settings(**{f"{row.name}_port": 6200}).connect_port(row.name) == 7200
    monkeypatch.setenv(f"{row.env_prefix}CONNECT_PORT", "0")
    assert Settings().connect_port(row.name) == 0


def test_the_service_table_names_every_service_once_with_ports_of_its_own() -> None:
    assert get_args(ServiceName) == SERVICES
    ports = [port for row in TABLE for port in (row.port, row.metrics_port, row.connect_port)]
    assert len(ports) == len(set(ports))
    assert installed_services() == list(SERVICES)
    assert [row.entrypoint for row in TABLE] == [f"omnistock_{name}.entrypoints.main" for name in SERVICES]


def other_than(default: object) -> object:
    """A valid value of the default's type that is not the default."""
    if isinstance(default, bool):
        return not default
    if isinstance(default, timedelta):
        return default + timedelta(seconds=1)
    if isinstance(default, int | float):
        return default + 1
    if isinstance(default, str):
        return f"{default}other"
    raise AssertionError(f"no other value for {default!r}")


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_of_its_own_settings_gets_what_code_gives_the_platforms(name: ServiceName) -> None:
    own_class = settings_class_of(name)
    own = set(own_class.model_fields) - set(Settings.model_fields)
    if own_class is Settings:
        assert own == set()
        return
    assert own, f"{name} keeps a settings class without a setting of its own"
    for field in sorted(own):
        default = own_class.model_fields[field].default
        if isinstance(default, tuple):
            continue
        value = other_than(default)
        narrowed = own_class.of(Settings(host="10.0.0.9", **{field: value}))
        assert (narrowed.host, getattr(narrowed, field)) == ("10.0.0.9", value), field
        assert own_class.of(narrowed) is narrowed


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(0), "0s"),
        (timedelta(seconds=-5), "-5s"),
    ],
)
def test_a_duration_in_a_message_reads_as_callers_write_it(value: timedelta, text: str) -> None:
    assert duration_text(value) == text
