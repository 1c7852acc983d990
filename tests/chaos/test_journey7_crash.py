"""Journey 7, crash in the middle: while reservations and orders stream in, inventory,
reservations, orders and fulfilment are each killed with SIGKILL (one at a time, at seeded
moments) and started again. Every request acknowledged to its caller is still there; nothing
that was refused holds stock; every committed change reaches the event stream exactly once in
effect; the stock invariants hold."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from omnistock_platform.testing.chaos import ChaosCluster, Fault, FaultPlan
from omnistock_platform.testing.plugin import SummaryLines
from tests.chaos.storm import storm

SECONDS = 20.0
VICTIMS = ("inventory", "reservations", "orders", "fulfilment")


def kill_each_once(seed: int, seconds: float) -> FaultPlan:
    rng = random.Random(seed)
    victims = list(VICTIMS)
    rng.shuffle(victims)
    slot = seconds * 0.8 / len(victims)
    faults = [
        Fault(round(2.0 + index * slot + rng.uniform(0, slot / 2), 2), "kill", victim, round(rng.uniform(0, 1.5), 2))
        for index, victim in enumerate(victims)
    ]
    return FaultPlan(seed, tuple(faults))


@pytest.mark.chaos
async def test_any_service_killed_mid_stream_loses_nothing_acknowledged(
    chaos_seed: int, chaos_admin_url: str, chaos_report: SummaryLines, tmp_path: Path
) -> None:
    cluster = ChaosCluster(chaos_admin_url, tmp_path / "cluster")
    plan = kill_each_once(chaos_seed, SECONDS)
    await cluster.start()
    passed = False
    try:
        report = await storm(
            cluster, seed=chaos_seed, seconds=SECONDS, plan=plan, reservations=3, orders=3, tills=1, whole_plan=True
        )
        chaos_report.append("journey 7: " + report.text())
        print(report.text())
        assert cluster.counts.kills == len(VICTIMS)
        assert report.counts["acknowledged"] > 0
        assert not report.violations, f"{report.text()}\nrerun: --chaos-seed={chaos_seed}\n{cluster.log_tails()}"
        passed = True
    finally:
        await cluster.stop(drop=passed)
