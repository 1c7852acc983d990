"""pytest plugin (registered by the package): the Omnistock test stack.

PostgreSQL and NATS come from DATABASE_URL / NATS_URL when set, otherwise
embedded servers are started for the run. Every run gets its own database and
its own stream name and subject prefix, so runs never see each other.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import settings as hypothesis_settings

from omnistock_platform.db import Database, create_database, drop_database, with_database
from omnistock_platform.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from omnistock_platform.events.bus import EventBus
from omnistock_platform.logging import configure_logging
from omnistock_platform.migrations import upgrade_async
from omnistock_platform.registry import installed_services, settings_class_of
from omnistock_platform.services import SERVICES
from omnistock_platform.settings import Settings
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, addresses_from_env

# Property tests assert what holds, never how long an example took: hypothesis's 200 ms deadline per
# example failed them on a busy machine (a test's own @settings keeps what it sets and inherits this).
hypothesis_settings.register_profile("omnistock", deadline=None)
hypothesis_settings.load_profile("omnistock")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    # pytest-xdist hands each worker COLUMNS=80 (its own terminal's width). The CLI's consoles
    # fix their width from COLUMNS when first imported, so every command a test runs in-process
    # would print at 80 columns whatever width the test asks for (tests/integration/cli). Before
    # the first conftest: one named on the command line (tests/e2e/console's) imports the CLI.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.pop("COLUMNS", None)


# A test's lines for the summary at the end of the session travel on its report (user
# properties), so they reach the summary from a pytest-xdist worker as well.
SUMMARY_PROPERTY = "omnistock-summary"


class SummaryLines:
    """Lines a test adds to one section of the session's closing summary (`.append(text)`)."""

    def __init__(self, request: pytest.FixtureRequest, section: str) -> None:
        self._node = request.node
        self._section = section

    def append(self, text: str) -> None:
        self._node.user_properties.append((SUMMARY_PROPERTY, (self._section, text)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    sections: dict[str, list[str]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == SUMMARY_PROPERTY:
                    section, text = value
                    sections.setdefault(section, []).append(text)
    for section, lines in sections.items():
        terminalreporter.section(section)
        for text in lines:
            terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def omnistock_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(admin database URL, NATS URL) for the whole run."""
    embedded: list[EmbeddedPostgres | EmbeddedNats] = []
    if addresses_from_env():
        yield os.environ.get("DATABASE_URL", ""), os.environ.get("NATS_URL", "")
        return
    database_url = os.environ.get("DATABASE_URL", "")
    nats_url = os.environ.get("NATS_URL", "")
    base: Path = tmp_path_factory.mktemp("omnistock")
    if not database_url:
        # Not under pytest's temp folder: each pytest start makes that owner-only, which would
        # lock out PostgreSQL (it runs as its own user) in the middle of another run.
        postgres = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="omnistock-pg-")))
        database_url = postgres.start()
        embedded.append(postgres)
    if not nats_url:
        nats = EmbeddedNats(base / "nats", port=free_port())
        nats_url = nats.start()
        embedded.append(nats)
    yield database_url, nats_url
    for server in reversed(embedded):
        server.stop()
        if isinstance(server, EmbeddedPostgres):
            shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def omnistock_settings(omnistock_servers: tuple[str, str]) -> AsyncIterator[Settings]:
    configure_logging(os.environ.get("OMNISTOCK_LOG_LEVEL", "WARNING"), json=True)
    if addresses_from_env():
        # Services run elsewhere (compose, make run): use their database and stream as they are.
        yield Settings()
        return
    async with isolated_run(*omnistock_servers, label="test") as settings:
        yield settings


@asynccontextmanager
async def isolated_run(admin_url: str, nats_url: str, label: str, **overrides: Any) -> AsyncIterator[Settings]:
    """Settings of a database and a stream of their own, migrated; both removed afterwards.
    `overrides` replace the test defaults (any Settings field)."""
    run_id = uuid.uuid4().hex[:10]
    database = f"omnistock_{label}_{run_id}"
    await create_database(admin_url, database)
    defaults: dict[str, Any] = {
        "data_dir": Path(".omnistock-test"),
        "sweep_interval": settings_class_of("inventory").model_fields["sweep_interval"].default / 5,
        "consumer_retry_delay": Settings.model_fields["consumer_retry_delay"].default / 10,
        # A consumer killed mid-delivery hands its events back quickly in crash tests.
        "consumer_ack_wait": timedelta(seconds=2),
        # Webhook receivers in the tests listen on loopback, and nothing else may be reached.
        "webhook_allowed_networks": ("loopback",),
        "webhook_require_https": False,
        "webhook_retry_base": timedelta(milliseconds=20),
        "webhook_retry_max": timedelta(milliseconds=200),
        "webhook_poll_interval": timedelta(milliseconds=100),
        "webhook_timeout": timedelta(seconds=5),
        # Connect is served where a test asks for it (Stack: a free port), never on the default ports.
        **{f"{name}_connect_port": 0 for name in SERVICES},
    }
    settings = Settings(
        database_url=with_database(admin_url, database),
        nats_url=nats_url,
        stream_name=f"OMNISTOCK_{label.upper()}_{run_id.upper()}",
        subject_prefix=f"omnistock_{label}_{run_id}",
        **{**defaults, **overrides},
    )
    await upgrade_async(settings, installed_services())
    try:
        yield settings
    finally:
        bus = EventBus(settings, "test-cleanup")
        try:
            await bus.connect()
            await bus.js.delete_stream(settings.stream_name)
        except Exception:  # the stream may never have been created
            pass
        finally:
            await bus.close()
        await drop_database(admin_url, database)


@pytest_asyncio.fixture(scope="session")
async def db(omnistock_settings: Settings) -> AsyncIterator[Database]:
    database = Database(omnistock_settings.database_url or "", min_size=1, max_size=4)
    await database.connect()
    yield database
    await database.close()


@pytest_asyncio.fixture(scope="session")
async def bus(omnistock_settings: Settings) -> AsyncIterator[EventBus]:
    event_bus = EventBus(omnistock_settings, "test")
    await event_bus.connect()
    await event_bus.ensure_stream()
    yield event_bus
    await event_bus.close()


@pytest_asyncio.fixture(scope="session")
async def stack(omnistock_settings: Settings) -> AsyncIterator[Stack]:
    """Every installed service, running in this process on free ports (or at
    OMNISTOCK_E2E_ADDRESSES when given)."""
    running = Stack(
        omnistock_settings,
        addresses=addresses_from_env(),
        connect_urls=addresses_from_env("OMNISTOCK_E2E_CONNECT_URLS"),
    )
    await running.start(*installed_services())
    yield running
    await running.close()


@pytest_asyncio.fixture(scope="module")
async def fresh_stack(omnistock_servers: tuple[str, str]) -> AsyncIterator[Stack]:
    """Every installed service in-process on a database and stream of their own, for tests that
    look at the whole database (verify) and must not see what other tests left behind."""
    async with isolated_run(*omnistock_servers, label="fresh") as settings:
        running = Stack(settings)
        await running.start(*installed_services())
        try:
            yield running
        finally:
            await running.close()


@pytest_asyncio.fixture
async def tap(bus: EventBus) -> AsyncIterator[EventTap]:
    """Every event published from the start of the test; the test fails if a service published one
    that the event catalogue (docs/events.md) lacks."""
    event_tap = await EventTap(bus, f"{bus.settings.subject_prefix}.>").start()
    yield event_tap
    await event_tap.stop()
    missing = event_tap.uncatalogued()
    assert not missing, f"events missing from the catalogue (declare them in protos/, then make docs): {missing}"
