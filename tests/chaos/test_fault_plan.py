"""The fault plan of a chaos run is a function of its seed: a failing run can be run again."""

from __future__ import annotations

from omnistock_platform.testing.chaos import FaultPlan

SERVICES = ["inventory", "reservations", "orders", "fulfilment", "insights"]


def test_the_same_seed_gives_the_same_faults_and_every_kind_comes() -> None:
    kinds = ("kill", "nats_restart", "nats_pause", "nats_cut", "postgres_restart")
    plan = FaultPlan.seeded(42, 180, SERVICES, kinds=kinds)  # type: ignore[arg-type]
    assert plan == FaultPlan.seeded(42, 180, SERVICES, kinds=kinds)  # type: ignore[arg-type]
    assert plan != FaultPlan.seeded(43, 180, SERVICES, kinds=kinds)  # type: ignore[arg-type]
    assert {fault.kind for fault in plan.faults} == set(kinds)
    assert {fault.target for fault in plan.faults if fault.kind == "kill"} == set(SERVICES)
    assert all(fault.target in SERVICES for fault in plan.faults if fault.kind == "nats_cut")
    moments = [fault.at for fault in plan.faults]
    assert moments == sorted(moments) and moments[0] > 0 and moments[-1] < 180
