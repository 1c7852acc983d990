"""The compose stack under faults: while channels reserve, order, sell and work tasks through
the published ports, one service container is killed and started again, NATS is killed and
started again on its volume, and PostgreSQL is restarted (`compose restart postgres`). Once
quiet, every invariant of the system holds over the whole database and the event stream
(`check_all`), and every acknowledged request is there as it was answered."""

from __future__ import annotations

import pytest

from omnistock_platform.testing.chaos import FaultPlan
from omnistock_platform.testing.plugin import SummaryLines
from tests.chaos.storm import storm
from tests.deploy.compose.cluster import ComposeCluster

STORM_SECONDS = 30.0
KINDS = ("kill", "nats_restart", "postgres_restart")

pytestmark = pytest.mark.timeout(900)


async def test_the_stack_keeps_every_promise_through_its_faults(
    compose_cluster: ComposeCluster, compose_seed: int, compose_report: SummaryLines
) -> None:
    cluster = compose_cluster
    plan = FaultPlan.seeded(compose_seed, STORM_SECONDS, cluster.services, every=STORM_SECONDS, kinds=KINDS)
    report = await storm(cluster, seed=compose_seed, seconds=STORM_SECONDS, plan=plan, whole_plan=True)
    compose_report.append(report.text())
    compose_report.append(
        f"faults injected: {len(cluster.faults)} ({', '.join(cluster.faults)});"
        f" acknowledged requests: {report.counts['acknowledged']};"
        f" invariants: {'all hold' if not report.violations else f'{len(report.violations)} violated'}"
    )
    assert sorted(fault.split()[0] for fault in cluster.faults) == sorted(KINDS), cluster.faults
    assert report.counts["acknowledged"] > 0, "no request got through: the run checked nothing"
    if report.violations:
        # The report first: a CI log keeps only the end of this output. The containers' own logs
        # are in compose-test's containers.log.
        pytest.fail(f"{report.text()}\nrerun: --compose-seed={compose_seed}", pytrace=False)
