"""One chaos run: traffic and faults for a while, then calm, then every check."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from omnistock_platform.invariants import check_all
from omnistock_platform.testing.chaos import ChaosCluster, FaultPlan, Quiet
from tests.chaos.checks import journal_violations
from tests.chaos.workload import Traffic

# After the storm the system gets this long to finish what was in flight and settle.
SETTLE_SECONDS = 60.0


@dataclass
class StormReport:
    seed: int
    seconds: float
    plan: FaultPlan
    counts: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    quiet: Quiet | None = None
    # Answers worth a look that break no promise (internal errors: the caller could not tell).
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        counts = " ".join(f"{name}={value}" for name, value in self.counts.items())
        lines = [f"chaos run seed={self.seed} ({self.seconds:.0f}s): {counts}", f"  faults: {self.plan}"]
        if self.quiet is not None and not self.quiet.reached:
            lines.append(f"  never quiet after {self.quiet.seconds:.0f}s: {self.quiet.last}")
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  VIOLATION {violation}" for violation in self.violations[:50]]
        if len(self.violations) > 50:
            lines.append(f"  ... and {len(self.violations) - 50} more")
        return "\n".join(lines)


async def storm(
    cluster: ChaosCluster,
    *,
    seed: int,
    seconds: float,
    plan: FaultPlan,
    reservations: int = 3,
    orders: int = 3,
    tills: int = 1,
    impatient: float = 0.0,
    whole_plan: bool = False,
    traffic: Traffic | None = None,
) -> StormReport:
    """With `whole_plan`, traffic flows until every fault of the plan has happened too (a slow
    restart on a busy machine would otherwise push the last faults past the storm's end).
    A `traffic` whose shop is already open (to watch its stock, say) is used as it is."""
    report = StormReport(seed, seconds, plan)
    traffic = traffic or Traffic(cluster.settings, cluster.addresses, seed, impatient=impatient)
    try:
        if not traffic.shop.skus:
            await traffic.open_shop()
        stop = asyncio.Event()
        began = time.monotonic()
        flowing = asyncio.create_task(traffic.run(stop, reservations=reservations, orders=orders, tills=tills))
        faults = asyncio.create_task(cluster.run_plan(plan, stop))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(flowing), seconds)
        if whole_plan:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(faults), seconds * 4)
        stop.set()
        await faults  # a fault under way is healed before the storm ends
        # Callers finish what they started (their retries are bounded), then the system settles.
        await asyncio.wait_for(flowing, 120)
        report.counts["storm_seconds"] = round(time.monotonic() - began, 1)
        report.quiet = await cluster.quiesce(SETTLE_SECONDS)
        report.violations = await settled_violations(cluster)
        assert cluster.db is not None
        found, units = await journal_violations(cluster.db, traffic.journal)
        report.violations += found
        report.counts.update(traffic.journal.summary())
        internal = Counter(
            f"{i.kind}: {i.code} {i.detail.split(';')[0][:120]}" for i in traffic.journal.internal_errors()
        )
        report.notes += [f"{count} x {what}" for what, count in internal.most_common(5)]
        report.counts.update(
            kills=cluster.counts.kills,
            service_restarts=cluster.counts.service_restarts,
            nats_restarts=cluster.counts.nats_restarts,
            nats_pauses=cluster.counts.nats_pauses,
            nats_cuts=cluster.counts.nats_cuts,
            postgres_restarts=cluster.counts.postgres_restarts,
            units_received=units.received,
            units_written_off=-units.adjusted,
            units_sold=units.committed,
            units_sold_acknowledged=traffic.journal.sold,
            units_held=units.held,
        )
        report.counts["events"] = await cluster.db.fetchval(
            "SELECT (SELECT count(*) FROM inventory.outbox) + (SELECT count(*) FROM reservations.outbox)"
            " + (SELECT count(*) FROM orders.outbox) + (SELECT count(*) FROM fulfilment.outbox)"
        )
    finally:
        await traffic.close()
    return report


async def settled_violations(cluster: ChaosCluster, timeout: float = SETTLE_SECONDS) -> list[str]:
    """`check_all`, with the event stream, once the system is quiet. Holds keep expiring and
    recovery loops keep running, so a violation must outlast the settling time to count: a real
    one (a lost effect, a stuck hold) never goes away by itself."""
    deadline = time.monotonic() + timeout
    while True:
        await cluster.quiesce(max(1.0, deadline - time.monotonic()))
        found = [str(v) for v in await check_all(cluster.settings, stream=True, db=cluster.db)]
        if not found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(2.0)
