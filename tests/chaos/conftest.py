"""Options and fixtures of the chaos runs.

    pytest tests/chaos                          # one short run (as in `make test`) and journey 7
    pytest tests/chaos -m chaos --chaos-runs=10 --chaos-seconds=180 --chaos-postgres   # `make chaos`
    pytest tests/chaos --chaos-seed=1234        # the run that failed, again (same faults, same traffic)

Without --chaos-seed a seed is drawn and printed; run N uses seed + N. PostgreSQL is restarted
only with --chaos-postgres, which runs a PostgreSQL of the harness's own (pgserver): the one at
DATABASE_URL is never touched.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from omnistock_platform.testing.chaos import RestartablePostgres
from omnistock_platform.testing.plugin import SummaryLines


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "chaos runs (tests/chaos)")
    group.addoption("--chaos-runs", type=int, default=1, help="how many seeded runs (default 1)")
    group.addoption("--chaos-seed", type=int, default=None, help="seed of the first run (default: drawn)")
    group.addoption("--chaos-seconds", type=float, default=20.0, help="length of each storm (default 20 s)")
    group.addoption(
        "--chaos-impatient",
        type=float,
        default=0.1,
        help="share of calls whose caller gives up at the first failure, leaving them to recovery (default 0.1)",
    )
    group.addoption(
        "--chaos-postgres",
        action="store_true",
        default=False,
        help="run a PostgreSQL of the harness's own and restart it among the faults",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("chaos_seed", default=None) is None:
        # Every pytest-xdist worker must collect the same runs: they share their run's id.
        shared = getattr(config, "workerinput", {}).get("testrunuid")
        drawn = int(shared, 16) if shared else random.SystemRandom().getrandbits(64)
        config.option.chaos_seed = drawn % 999_999 + 1


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "chaos_seed" in metafunc.fixturenames:
        first = metafunc.config.getoption("chaos_seed")
        runs = max(1, metafunc.config.getoption("chaos_runs", default=1))
        seeds = [first + run for run in range(runs)]
        metafunc.parametrize("chaos_seed", seeds, ids=[f"seed{seed}" for seed in seeds])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Each run is bounded: its storm, start-up, the drain of its traffic and the settling after it.
    seconds = config.getoption("chaos_seconds", default=30.0)
    for item in items:
        if "chaos_seed" in getattr(item, "fixturenames", ()) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(int(seconds) + 300))


@pytest.fixture
def chaos_report(request: pytest.FixtureRequest) -> SummaryLines:
    """Texts appended here are printed in the summary at the end of the session ("chaos runs")."""
    return SummaryLines(request, "chaos runs")


@pytest.fixture(scope="session")
def chaos_postgres(request: pytest.FixtureRequest) -> Iterator[RestartablePostgres | None]:
    if not request.config.getoption("chaos_postgres"):
        yield None
        return
    postgres = RestartablePostgres()
    postgres.start()
    yield postgres
    postgres.stop()


@pytest.fixture
def chaos_admin_url(chaos_postgres: RestartablePostgres | None, omnistock_servers: tuple[str, str]) -> str:
    """Where each run creates its database: the harness's own PostgreSQL, or the run's."""
    if chaos_postgres is not None:
        return chaos_postgres.start()
    return omnistock_servers[0]
