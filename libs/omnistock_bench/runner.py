"""One benchmark run: start the stack, seed, run every row, check the invariants, report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_bench import seeding
from omnistock_bench.cpu import CORES, CpuWindow
from omnistock_bench.load import ClientFleet, Outcome, Spec
from omnistock_bench.rows import BY_NAME, CEILINGS, ROWS, Row
from omnistock_bench.stack import BenchStack, StackOptions
from omnistock_bench.stats import RowResult, percentile
from omnistock_bench.trivial import PING, QUERY, RELAY, STOCK
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_inventory.settings import InventorySettings
from omnistock_platform.db import Database

Say = Callable[[str], None]


@dataclass
class BenchConfig:
    duration: float = 10.0
    warmup: float = 2.0
    concurrency: int = 64
    clients: int = 2
    only: list[str] = field(default_factory=list)
    skus: int = 10_000
    locations: int = 50
    inventory_processes: int = 1
    db_pool_max: int = 10
    propagation_rate: float = 50.0
    sellout_units: int = 1000
    max_lines: int = 20
    output_dir: Path = Path("bench/results")
    database_url: str | None = None
    nats_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    # Off only for quick iterations (profiling one row): without them there are no ratios.
    ceilings: bool = True

    def rows(self) -> list[Row]:
        """The ceilings always run (unless switched off): every other figure is read against them."""
        unknown = sorted(set(self.only) - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown rows: {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        wanted = set(self.only) | (set(CEILINGS) if self.ceilings else set()) if self.only else set(BY_NAME)
        if "hold-spread-70" in wanted:
            wanted.add("hold-spread")
        if wanted & {"get-stock", "find-availability"}:
            wanted.add("ceiling-a-query")  # what the reads are explained against
        if "get-stock" in wanted:
            wanted.add("ceiling-a-stock")  # what GetStock's messages cost before any work
        if wanted & {"reserve-spread", "reserve-hot", "order", "order-20"}:
            wanted.add("ceiling-a-hop")  # what the flows that cross services pay for each crossing
        return [row for row in ROWS if row.name in wanted]


class Progress:
    """What the runner tells whoever shows progress (the CLI's rich bar, or nothing)."""

    def begin(self, rows: list[Row]) -> None: ...
    def row(self, row: Row, seconds: float) -> None: ...
    def tick(self, elapsed: float) -> None: ...
    def done(self, result: RowResult) -> None: ...


class Bench:
    def __init__(self, config: BenchConfig, progress: Progress | None = None, say: Say = lambda _: None) -> None:
        self.config = config
        self.progress = progress or Progress()
        self.say = say
        self.stack = BenchStack(
            StackOptions(
                database_url=config.database_url,
                nats_url=config.nats_url,
                inventory_processes=config.inventory_processes,
                db_pool_max=config.db_pool_max,
                extra_env=config.extra_env,
                service_env=config.service_env,
            )
        )
        self.catalogue = seeding.make_catalogue(config.skus, config.locations, config.sellout_units)
        self.results: dict[str, RowResult] = {}
        self.fleet: ClientFleet | None = None
        self.db: Database | None = None
        self.hot_units = 0  # units the hot-row rows were granted (through inventory or replayed)

    # -- the run --------------------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        rows = self.config.rows()
        started = datetime.now(UTC)
        try:
            self.say("starting PostgreSQL database, NATS and migrations")
            settings = await self.stack.start()
            self.say(f"seeding {self.catalogue.skus:,} SKUs x {self.catalogue.locations} locations with COPY")
            seeded = await seeding.seed(settings.database_url or "", self.catalogue)
            self.say(f"seeded {seeded.rows:,} stock rows in {seeded.seconds:.1f} s")
            self.db = Database(settings.database_url or "", min_size=1, max_size=2)
            await self.db.connect()
            seed_violations = await check_invariants(self.db)
            self.say(f"starting services ({self.config.inventory_processes} inventory process(es)) and clients")
            self.fleet = ClientFleet(self.config.clients)
            await self.stack.start_services()
            await self.fleet.ready()
            settled = await self._wait_views(120.0)
            self.say(f"inventory's in-memory stock caught up with the seed in {settled:.1f} s")
            await self._settle()
            self.progress.begin(rows)
            for row in rows:
                # Each row on a quiet system: the relays publish what the row before left behind
                # first, or their work would be counted against this row.
                drained = await self._wait_outbox(60.0)
                result = await self._row(row)
                if result is not None:
                    result.extra["outbox_drain_before_s"] = drained
                    self.results[row.name] = result
                    self.progress.done(result)
            self._ratios()
            checks = await self._checks()
            report = self._report(started, seeded, seed_violations, checks)
        finally:
            if self.fleet is not None:
                await asyncio.to_thread(self.fleet.close)
            if self.db is not None:
                await self.db.close()
            await self.stack.stop()
        self._write(report)
        return report

    async def _settle(self) -> None:
        """Ceiling A's load once, unmeasured, before the first row. The row measured first on a freshly
        started system came out 8-50 % slower than the same load measured next, even with the database
        vacuumed and checkpointed; ceiling A is that row, and every ratio divides by it."""
        self.say("settling: ceiling A's load once, unmeasured")
        measured = self.config
        self.config = replace(measured, warmup=0.0)
        try:
            await self._row(BY_NAME["ceiling-a"], shown=False)
        finally:
            self.config = measured

    async def _wait_views(self, timeout: float) -> float:
        """Seconds until every inventory process's memory holds every change made so far. Right after
        its load a process reads every row once more (its first round's watermark is still 0), which
        would otherwise be counted against the first rows (the ceilings)."""
        assert self.db is not None
        started = time.monotonic()
        env = {**self.config.extra_env, **self.config.service_env.get("inventory", {})}
        if not InventorySettings.of(self.stack.ready).stock_view or env.get("OMNISTOCK_STOCK_VIEW", "true").lower() in (
            "false",
            "0",
        ):
            return 0.0
        target = await self.db.fetchval(
            "SELECT GREATEST((SELECT max(change_seq) FROM inventory.stock),"
            " (SELECT max(change_seq) FROM inventory.skus), (SELECT max(change_seq) FROM inventory.locations))"
        )
        for process in self.stack.processes.get("inventory", []):
            while time.monotonic() - started < timeout:
                if await asyncio.to_thread(view_watermark, process.metrics_port) >= (target or 0):
                    break
                await asyncio.sleep(0.25)
        return time.monotonic() - started

    def _write(self, report: dict[str, Any]) -> None:
        self.config.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.config.output_dir / f"{report['started_at'].replace(':', '').replace('-', '')[:15]}.json"
        path.write_text(json.dumps(report, indent=2))
        report["path"] = str(path)

    # -- one row ----------------------------------------------------------------------------------------

    def _split(self, total: int) -> list[int]:
        clients = max(1, len(self.fleet or ()))
        return [total // clients + (1 if index < total % clients else 0) for index in range(clients)]

    def _address(self, row: Row) -> str:
        return "" if row.target == "postgres" else self.stack.address(row.target)

    def _params(self, row: Row) -> dict[str, Any]:
        catalogue = self.catalogue
        settings = self.stack.ready
        hot_sku = seeding.SELLOUT_SKU if row.kind == "sellout" else seeding.HOT_SKU
        params: dict[str, Any] = {
            "skus": catalogue.sku_ids,
            "locations": catalogue.location_ids,
            "stores": catalogue.store_ids,
            "points": list(catalogue.points.values()),
            "hot": (catalogue.hot_location, hot_sku) if row.hot else None,
            "method": {"ceiling-a-query": QUERY, "ceiling-a-hop": RELAY, "ceiling-a-stock": STOCK}.get(row.name, PING),
            "max_lines": self.config.max_lines,
            "database_url": settings.database_url,
            "subject_prefix": settings.subject_prefix,
            # Ceiling B opens as many connections, over all clients, as inventory's pools hold.
            "pool": math.ceil(
                self.config.db_pool_max * self.config.inventory_processes / max(1, len(self.fleet or ()))
            ),
        }
        return params

    async def _cpu_groups(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for name, processes in self.stack.processes.items():
            for index, process in enumerate(processes):
                groups[f"{name}#{index}" if len(processes) > 1 else name] = [process.pid]
        assert self.db is not None
        # Our database's backends and PostgreSQL's own workers (WAL writer, checkpointer, ...);
        # other databases on a shared server are someone else's load.
        rows = await self.db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR backend_type <> 'client backend'"
        )
        groups["postgres"] = [row["pid"] for row in rows]
        nats = self.stack.nats_pid()
        if nats is not None:
            groups["nats"] = [nats]
        groups["clients"] = self.fleet.pids if self.fleet else []
        groups["bench"] = [os.getpid()]
        return groups

    async def _row(self, row: Row, *, shown: bool = True) -> RowResult | None:
        if row.kind == "propagation":
            return await self._propagation(row)
        if row.kind == "staleness":
            return await self._staleness(row)
        config = self.config
        params = self._params(row)
        warmup = 0.0 if row.kind == "sellout" else config.warmup
        if row.paced_from:
            peak = self.results.get(row.paced_from)
            if peak is None or peak.throughput <= 0:
                return None
            params["rate"] = row.pace * peak.throughput / max(1, len(self.fleet or ()))
        kind = "hold" if row.kind == "sellout" else row.kind
        if shown:
            self.progress.row(row, warmup + config.duration)
        start_at = time.time() + 0.5
        specs = [
            Spec(
                kind=kind,
                address=self._address(row),
                token=self.stack.token(),
                concurrency=share,
                warmup=warmup,
                duration=config.duration,
                start_at=start_at,
                seed=index + 1,
                params=params,
            )
            for index, share in enumerate(self._split(config.concurrency))
        ]
        window = CpuWindow({})
        assert self.fleet is not None
        running = asyncio.create_task(self.fleet.run(specs))
        await self._sample(window, start_at + warmup, config.duration, start_at)
        outcomes = await running
        result = self._combine(row, outcomes, config.duration)
        result.cpu = window.result
        result.extra["cpu_ms_per_op"] = cpu_per_op(window.result, result.throughput)
        result.limit = limit_of(row, result, self.stack.processes, len(self.fleet))
        if row.hot:
            units = sum(outcome.units for outcome in outcomes)
            result.extra["units_granted"] = units
            if row.kind == "sellout":
                result.extra.update(await self._sellout_check(units))
            else:
                self.hot_units += units
        return result

    async def _sample(self, window: CpuWindow, window_start: float, duration: float, start_at: float) -> None:
        """CPU over the measured window, and progress ticks meanwhile."""
        while time.time() < window_start:
            self.progress.tick(max(0.0, time.time() - start_at))
            await asyncio.sleep(0.2)
        # Resolved now, not before the row: pools open their connections as the load arrives.
        window.groups = await self._cpu_groups()
        window.start()
        while time.time() < window_start + duration:
            self.progress.tick(max(0.0, time.time() - start_at))
            window.sample()
            await asyncio.sleep(0.2)
        window.stop()

    def _combine(self, row: Row, outcomes: list[Outcome], duration: float) -> RowResult:
        latencies: list[float] = []
        codes: Counter[str] = Counter()
        errors = []
        for outcome in outcomes:
            latencies.extend(outcome.latencies)
            codes.update(outcome.codes)
            if outcome.error:
                errors.append(outcome.error)
        result = RowResult.of(row.name, row.title, duration, latencies, codes)
        result.ceiling_b = row.ceiling_b
        if errors:
            result.extra["client_errors"] = errors[:3]
        return result

    def _ratios(self) -> None:
        ceiling_a = self.results.get("ceiling-a")
        for result in self.results.values():
            if ceiling_a is not None and ceiling_a.throughput > 0 and result.throughput > 0:
                result.ratio_a = result.throughput / ceiling_a.throughput
            ceiling_b = self.results.get(result.ceiling_b) if result.ceiling_b else None
            if ceiling_b is not None and ceiling_b.throughput > 0 and result.throughput > 0:
                result.ratio_b = result.throughput / ceiling_b.throughput

    # -- event propagation ------------------------------------------------------------------------------

    async def _propagation(self, row: Row) -> RowResult:
        """ReceiveStock on probe rows at a steady rate; a WatchStock subscriber notes when each
        new version arrives. Latency: from the writer's acknowledgement (the commit is done) to
        the subscriber receiving that version."""
        config = self.config
        self.progress.row(row, config.duration + 1.0)
        metadata = (("authorization", f"Bearer {self.stack.token()}"),)
        acked: dict[tuple[str, int], float] = {}
        received: dict[tuple[str, int], float] = {}
        window = CpuWindow(await self._cpu_groups())
        async with grpc.aio.insecure_channel(self.stack.address("inventory")) as channel:
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)
            stream = stub.WatchStock(pb.WatchStockRequest(skus=[seeding.PROBE_SKU]), metadata=metadata)
            ready = asyncio.Event()

            async def subscribe() -> None:
                async for message in stream:
                    now = time.perf_counter()
                    if message.snapshot:
                        if message.snapshot_complete:
                            ready.set()
                        continue
                    for level in message.levels:
                        received.setdefault((level.location_id, level.version), now)

            reader = asyncio.create_task(subscribe())
            await asyncio.wait_for(ready.wait(), 30)
            locations = self.catalogue.location_ids
            interval = 1.0 / max(config.propagation_rate, 1.0)
            started = time.time()
            window.start()
            deadline = time.perf_counter() + config.duration
            count = 0
            while time.perf_counter() < deadline:
                self.progress.tick(time.time() - started)
                location = locations[count % len(locations)]
                count += 1
                reply = await stub.ReceiveStock(
                    pb.ReceiveStockRequest(
                        request_id=f"bench-probe-{uuid.uuid4().hex}",
                        location_id=location,
                        sku=seeding.PROBE_SKU,
                        quantity=1,
                        document_ref="bench-probe",
                    ),
                    metadata=metadata,
                    timeout=10,
                )
                acked[(location, reply.level.version)] = time.perf_counter()
                await asyncio.sleep(interval)
            window.stop()
            for _ in range(40):  # the last changes' events, 2 s at most
                if len(received.keys() & acked.keys()) == len(acked):
                    break
                await asyncio.sleep(0.05)
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await reader
        delays = sorted(max(0.0, received[key] - acked[key]) for key in acked if key in received)
        result = RowResult.of(row.name, row.title, config.duration, delays, Counter({"OK": len(delays)}))
        result.throughput = len(acked) / config.duration
        result.p95_ms = percentile(delays, 0.95) * 1000
        result.extra = {"changes": len(acked), "received": len(delays), "missing": len(acked) - len(delays)}
        result.cpu = window.result
        result.limit = "paced writer (latency only): relay wake-up, JetStream publish with fsync, NATS to subscriber"
        return result

    # -- staleness of in-memory reads -----------------------------------------------------------------

    async def _staleness(self, row: Row) -> RowResult:
        """ReceiveStock on probe rows at a steady rate; after each acknowledgement, GetStock without a
        consistency token, again and again, until it shows the new version. Latency: from the
        acknowledgement (the commit is done) to the first answer that shows it (a round trip of
        GetStock included: an upper bound)."""
        config = self.config
        self.progress.row(row, config.duration + 1.0)
        metadata = (("authorization", f"Bearer {self.stack.token()}"),)
        delays: list[float] = []
        unseen = 0
        window = CpuWindow(await self._cpu_groups())
        async with grpc.aio.insecure_channel(self.stack.address("inventory")) as channel:
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)

            async def visible(location: str, version: int, acked: float) -> None:
                nonlocal unseen
                request = pb.GetStockRequest(sku=seeding.PROBE_SKU, location_id=location)
                while time.perf_counter() - acked < 2.0:
                    answer = await stub.GetStock(request, metadata=metadata, timeout=10)
                    if answer.levels and answer.levels[0].version >= version:
                        delays.append(time.perf_counter() - acked)
                        return
                unseen += 1

            locations = self.catalogue.location_ids
            interval = 1.0 / max(config.propagation_rate, 1.0)
            started = time.time()
            window.start()
            deadline = time.perf_counter() + config.duration
            count = 0
            watchers = []
            while time.perf_counter() < deadline:
                self.progress.tick(time.time() - started)
                location = locations[count % len(locations)]
                count += 1
                reply = await stub.ReceiveStock(
                    pb.ReceiveStockRequest(
                        request_id=f"bench-probe-{uuid.uuid4().hex}",
                        location_id=location,
                        sku=seeding.PROBE_SKU,
                        quantity=1,
                        document_ref="bench-probe",
                    ),
                    metadata=metadata,
                    timeout=10,
                )
                watchers.append(asyncio.create_task(visible(location, reply.level.version, time.perf_counter())))
                await asyncio.sleep(interval)
            await asyncio.gather(*watchers)
            window.stop()
        delays.sort()
        result = RowResult.of(row.name, row.title, config.duration, delays, Counter({"OK": len(delays)}))
        result.throughput = count / config.duration
        result.p95_ms = percentile(delays, 0.95) * 1000
        result.extra = {"changes": count, "seen": len(delays), "unseen_after_2s": unseen}
        result.cpu = window.result
        result.limit = "paced writer (latency only): commit notification, the view's round, a GetStock round trip"
        return result

    # -- invariants -----------------------------------------------------------------------------------

    async def _sellout_check(self, units: int) -> dict[str, Any]:
        assert self.db is not None
        row = await self.db.fetchrow(
            "SELECT on_hand, held FROM inventory.stock WHERE location_id = $1 AND sku = $2",
            self.catalogue.hot_location,
            seeding.SELLOUT_SKU,
        )
        assert row is not None
        return {
            "stock": self.config.sellout_units,
            "held_in_database": row["held"],
            "oversold_units": max(0, units - self.config.sellout_units) + max(0, row["held"] - row["on_hand"]),
        }

    async def _checks(self) -> dict[str, Any]:
        assert self.db is not None
        drained = await self._wait_outbox(120.0)
        violations = await check_invariants(self.db)
        hot = await self.db.fetchrow(
            "SELECT on_hand, held FROM inventory.stock WHERE location_id = $1 AND sku = $2",
            self.catalogue.hot_location,
            seeding.HOT_SKU,
        )
        assert hot is not None
        sellout = self.results.get("sellout")
        oversold = int(sellout.extra.get("oversold_units", 0)) if sellout else 0
        return {
            "outbox_drained_seconds": drained,
            "invariant_violations": [str(v) for v in violations[:20]],
            "invariant_violation_count": len(violations),
            "hot_row": {
                "on_hand": hot["on_hand"],
                "held_in_database": hot["held"],
                "units_granted_to_clients": self.hot_units,
            },
            "oversold_units": oversold + max(0, hot["held"] - hot["on_hand"]),
            "shortfalls": sum(r.codes.get("FAILED_PRECONDITION", 0) for r in self.results.values()),
        }

    async def _wait_outbox(self, timeout: float) -> float | None:
        """Seconds until every event so far was published (None: not within the timeout)."""
        assert self.db is not None
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            pending = await self.db.fetchval(
                "SELECT (SELECT count(*) FROM inventory.outbox WHERE published_at IS NULL)"
                " + (SELECT count(*) FROM reservations.outbox WHERE published_at IS NULL)"
                " + (SELECT count(*) FROM orders.outbox WHERE published_at IS NULL)"
            )
            if pending == 0:
                return round(time.monotonic() - started, 1)
            await asyncio.sleep(0.5)
        return None

    # -- the report -----------------------------------------------------------------------------------

    def _report(
        self, started: datetime, seeded: seeding.SeedReport, seed_violations: list[Any], checks: dict[str, Any]
    ) -> dict[str, Any]:
        config = asdict(self.config)
        config["output_dir"] = str(self.config.output_dir)
        config.pop("database_url", None)
        config.pop("nats_url", None)
        return {
            "started_at": started.isoformat(timespec="seconds"),
            "config": config,
            "machine": {
                "cores": CORES,
                "python": platform.python_version(),
                "load_average_at_end": os.getloadavg(),
            },
            "seed": {
                "stock_rows": seeded.rows,
                "seconds": round(seeded.seconds, 2),
                "invariant_violations_after_seed": len(seed_violations),
            },
            "rows": [result.as_json() for result in self.results.values()],
            "checks": checks,
            "targets": targets(self.results, checks),
        }


def view_watermark(metrics_port: int) -> float:
    """An inventory process's `omnistock_inventory_view_watermark` (0 while it cannot be read)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2.0) as answer:
            text = answer.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("omnistock_inventory_view_watermark "):
            return float(line.split()[1])
    return 0.0


def cpu_per_op(cpu: dict[str, float], throughput: float) -> dict[str, float]:
    """CPU milliseconds each group spent per OK call: what a call costs, whatever the neighbours did."""
    if throughput <= 0:
        return {}
    return {
        name: round(10.0 * value / throughput, 3) for name, value in cpu.items() if name != "machine" and value >= 1
    }


def limit_of(row: Row, result: RowResult, processes: dict[str, list[Any]], clients: int) -> str:
    """What held the row back, read from the CPU the processes used during it (% of one core)."""
    cpu = result.cpu
    ours = {name: value for name, value in cpu.items() if name != "machine"}
    services = {name: value for name, value in ours.items() if name.split("#")[0] in processes}
    busiest = max(services.items(), key=lambda item: item[1], default=("", 0.0))
    others = max(0.0, cpu.get("machine", 0.0) - sum(ours.values()))
    saturated = cpu.get("machine", 0.0) >= 0.9 * 100 * CORES
    parts = [f"{name} {value:.0f}%" for name, value in sorted(ours.items(), key=lambda i: -i[1]) if value >= 5]
    if others >= 5:
        parts.append(f"other tenants of the machine {others:.0f}%")
    shares = ", ".join(parts)
    if busiest[1] >= 85:
        verdict = f"CPU of the {busiest[0]} process (its one event loop at {busiest[1]:.0f}% of a core)"
    elif row.hot and cpu.get("postgres", 0.0) < 85 and busiest[1] < 85 and row.target != "postgres":
        verdict = "the hot row: transactions pass its lock one at a time (inventory batches holds into them)"
    elif row.hot and row.target == "postgres":
        verdict = "the hot row's lock: each transaction waits for the one before it to commit"
    elif cpu.get("postgres", 0.0) >= 85:
        verdict = "the database's CPU"
    elif cpu.get("clients", 0.0) >= 85 * max(1, clients):
        verdict = "the clients"
    elif saturated:
        top = max(ours.items(), key=lambda item: item[1], default=("?", 0.0))
        verdict = f"CPU: the machine's {CORES} cores were busy, {top[0]} the largest of ours"
    else:
        verdict = "latency (round trips, commits): no CPU was saturated"
    return f"{verdict} [{shares}]"


def targets(results: dict[str, RowResult], checks: dict[str, Any]) -> list[dict[str, Any]]:
    def row(name: str) -> RowResult | None:
        return results.get(name)

    found: list[dict[str, Any]] = []

    def add(goal: str, value: float | None, passed: bool | None) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            found.append({"target": goal, "value": None, "met": None})
        else:
            found.append({"target": goal, "value": round(value, 3), "met": passed})

    hold = row("hold-spread")
    add("Hold spread >= 50% of ceiling A", hold.ratio_a if hold else None, bool(hold and hold.ratio_a >= 0.5))
    paced = row("hold-spread-70")
    add("Hold spread p99 <= 50 ms at 70% of peak", paced.p99_ms if paced else None, bool(paced and paced.p99_ms <= 50))
    hot = row("hold-hot")
    add("Hold hot >= ceiling B hot", hot.ratio_b if hot else None, bool(hot and hot.ratio_b >= 1.0))
    get = row("get-stock")
    add("GetStock >= 90% of ceiling A", get.ratio_a if get else None, bool(get and get.ratio_a >= 0.9))
    find = row("find-availability")
    add("FindAvailability >= 50% of ceiling A", find.ratio_a if find else None, bool(find and find.ratio_a >= 0.5))
    reserve = row("reserve-spread")
    add(
        "CreateReservation >= 25% of ceiling A",
        reserve.ratio_a if reserve else None,
        bool(reserve and reserve.ratio_a >= 0.25),
    )
    order = row("order")
    add("CreateOrder >= 8% of ceiling A", order.ratio_a if order else None, bool(order and order.ratio_a >= 0.08))
    shopper = row("order-20")
    add(
        "CreateOrder p50 <= 50 ms at 20% of peak",
        shopper.p50_ms if shopper else None,
        bool(shopper and shopper.p50_ms <= 50),
    )
    propagation = row("propagation")
    add(
        "event propagation p99 <= 100 ms",
        propagation.p99_ms if propagation else None,
        bool(propagation and propagation.p99_ms <= 100),
    )
    staleness = row("staleness")
    add(
        "in-memory read staleness p99 <= 50 ms",
        staleness.p99_ms if staleness else None,
        bool(staleness and staleness.p99_ms <= 50),
    )
    add("oversold units == 0", float(checks["oversold_units"]), checks["oversold_units"] == 0)
    add(
        "invariants hold after the run",
        float(checks["invariant_violation_count"]),
        checks["invariant_violation_count"] == 0,
    )
    return found
