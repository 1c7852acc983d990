"""The chaos run: every service as a process, a stream of reservations, orders, till sales and
warehouse work through retrying clients, while services are SIGKILLed and started again, NATS is
killed and restarted on its data directory and frozen for seconds, one service at a time loses
its connection to NATS for seconds (and, with --chaos-postgres,
PostgreSQL crashes). Afterwards, once quiet: every invariant of `check_all` holds, with the event
stream; every acknowledged request is there as answered; nothing refused holds stock; no unit
was sold twice and every receipt counted once.

One short run in `make test`; `make chaos` runs ten longer ones, with PostgreSQL restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnistock_platform.testing.chaos import ChaosCluster, FaultPlan, RestartablePostgres
from omnistock_platform.testing.plugin import SummaryLines
from tests.chaos.storm import storm


@pytest.mark.chaos
async def test_storm_of_faults_keeps_every_promise(
    chaos_seed: int,
    chaos_admin_url: str,
    chaos_postgres: RestartablePostgres | None,
    chaos_report: SummaryLines,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    seconds = request.config.getoption("chaos_seconds")
    cluster = ChaosCluster(chaos_admin_url, tmp_path / "cluster", postgres=chaos_postgres)
    kinds = ("kill", "nats_restart", "nats_pause", "nats_cut") + (("postgres_restart",) if chaos_postgres else ())
    plan = FaultPlan.seeded(chaos_seed, seconds, cluster.services, kinds=kinds)
    await cluster.start()
    passed = False
    try:
        report = await storm(
            cluster, seed=chaos_seed, seconds=seconds, plan=plan, impatient=request.config.getoption("chaos_impatient")
        )
        chaos_report.append(report.text())
        print(report.text())
        assert report.counts["acknowledged"] > 0, "no request got through: the run checked nothing"
        assert not report.violations, f"{report.text()}\nrerun: --chaos-seed={chaos_seed}\n{cluster.log_tails()}"
        passed = True
    finally:
        await cluster.stop(drop=passed)
