"""The fault run against a compose stack that is already up (`make compose-test` starts one):

    pytest tests/deploy/compose --compose="docker-compose" --compose-project=NAME [--compose-seed=N]

with OMNISTOCK_E2E_ADDRESSES, DATABASE_URL, NATS_URL and OMNISTOCK_JWT_SECRET pointing at the
stack's published ports and secret. Without --compose these tests are deselected: the suite on
its own has no containers to break."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from omnistock_platform.settings import Settings
from omnistock_platform.testing.plugin import SummaryLines
from omnistock_platform.testing.stack import addresses_from_env
from tests.deploy.compose.cluster import Compose, ComposeCluster

HERE = Path(__file__).resolve().parent
COMPOSE_FILE = HERE.parents[2] / "deploy" / "compose.yaml"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compose", "the fault run against a compose stack (tests/deploy/compose)")
    group.addoption("--compose", default=None, help='the compose command: "docker compose" or "docker-compose"')
    group.addoption("--compose-project", default=None, help="the compose project of the running stack")
    group.addoption("--compose-seed", type=int, default=None, help="seed of the run (default: drawn)")
    group.addoption("--compose-image", default="omnistock:local", help="the Omnistock image the stack runs")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("compose", default=None):
        return
    ours = [item for item in items if HERE in Path(str(item.path)).resolve().parents]
    if ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


@pytest.fixture
def compose_report(request: pytest.FixtureRequest) -> SummaryLines:
    """Lines printed in the summary at the end of the session ("compose fault run")."""
    return SummaryLines(request, "compose fault run")


@pytest.fixture
def compose_seed(request: pytest.FixtureRequest) -> int:
    seed = request.config.getoption("compose_seed", default=None)
    return int(seed) if seed is not None else random.SystemRandom().randrange(1, 1_000_000)


@pytest.fixture
def omnistock_image(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("compose_image", default="omnistock:local"))


@pytest.fixture
def compose(request: pytest.FixtureRequest) -> Compose:
    command = request.config.getoption("compose", default=None)
    project = request.config.getoption("compose_project", default=None)
    assert command and project, "--compose and --compose-project name the running stack"
    return Compose(command, project, COMPOSE_FILE)


@pytest_asyncio.fixture
async def compose_cluster(compose: Compose) -> AsyncIterator[ComposeCluster]:
    addresses = addresses_from_env()
    settings = Settings()
    assert addresses and settings.database_url and settings.nats_url, (
        "OMNISTOCK_E2E_ADDRESSES, DATABASE_URL and NATS_URL must point at the stack's published ports"
    )
    cluster = await ComposeCluster(compose, settings, addresses).start()
    try:
        yield cluster
    finally:
        await cluster.stop()
