"""The chaos harness: every service as a real process, a NATS server and a database of the run's
own, and faults injected at seeded random moments.

A `ChaosCluster` starts NATS (its own nats-server on a free port and data directory, never the
one a developer runs), creates a database for the run and migrates it, and starts the five
services as `ServiceProcess`es wired to each other. Its faults are what production sees:

- `kill`: SIGKILL one service, start it again on the same port;
- `nats_restart`: SIGKILL nats-server, start it again on the same port and data directory
  (JetStream syncs every write, so nothing acknowledged is lost);
- `nats_pause`: SIGSTOP nats-server for a few seconds, then SIGCONT — every service's NATS
  connection hangs, as on a network partition;
- `nats_cut`: one service loses its connection to NATS for a few seconds (its connections are
  dropped and new ones refused) while NATS and the other services carry on: every service
  reaches NATS through a `NatsLink` of its own;
- `postgres_restart`: an immediate (crash) shutdown of PostgreSQL and a start on the same data
  directory — only when the cluster runs a PostgreSQL of its own (`RestartablePostgres`); a
  PostgreSQL given by DATABASE_URL is never touched.

`FaultPlan.seeded(seed, ...)` decides when and what; faults run one after another, each one
healed (the service serving again) before the next. `quiesce()` then waits, bounded, until the
outboxes are drained, every durable consumer has caught up and nothing is left half done.

Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from omnistock_platform.db import Database, create_database, drop_database, with_database
from omnistock_platform.embedded import EmbeddedNats, free_port
from omnistock_platform.events.bus import EventBus
from omnistock_platform.logging import get_logger
from omnistock_platform.migrations import upgrade_async
from omnistock_platform.registry import installed_services
from omnistock_platform.services import SERVICES, ServiceName
from omnistock_platform.settings import Settings
from omnistock_platform.testing.processes import ServiceProcess

log = get_logger(__name__)

FaultKind = Literal["kill", "nats_restart", "nats_pause", "nats_cut", "postgres_restart"]

# Settings of the processes under chaos: recovery loops run often, so that a run of a minute
# sees crashed work finished or undone, and a consumer's unacknowledged events come back soon.
CHAOS_ENV = {
    "OMNISTOCK_SWEEP_INTERVAL": "0.2",
    "OMNISTOCK_RESERVATION_RECOVERY_INTERVAL": "1",
    "OMNISTOCK_RESERVATION_PENDING_GRACE": "2",
    "OMNISTOCK_ORDER_RECOVERY_INTERVAL": "1",
    "OMNISTOCK_ORDER_PENDING_TIMEOUT": "3",
    # Just beyond a patient caller's retries (5 s): changes cut short are finished by the services.
    "OMNISTOCK_RESUME_AFTER": "6",
    "OMNISTOCK_RESUME_INTERVAL": "1",
    "OMNISTOCK_DB_POOL_MIN": "1",
    "OMNISTOCK_DB_POOL_MAX": "5",
}


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the storm began
    kind: FaultKind
    target: str = ""  # the service, for a kill or a cut
    seconds: float = 0.0  # how long it stays down or paused

    def __str__(self) -> str:
        what = f"{self.kind} {self.target}".strip()
        return f"{self.at:5.1f}s {what} ({self.seconds:.1f}s)"


@dataclass(frozen=True)
class FaultPlan:
    seed: int
    faults: tuple[Fault, ...]

    @classmethod
    def seeded(
        cls,
        seed: int,
        seconds: float,
        services: list[ServiceName],
        *,
        every: float = 7.0,
        kinds: tuple[FaultKind, ...] = ("kill", "nats_restart", "nats_pause"),
    ) -> FaultPlan:
        """About one fault every `every` seconds, at random moments; every kind at least once
        (a kill of each service when there is time for it)."""
        rng = random.Random(seed)
        count = max(len(kinds), round(seconds / every))
        wanted: list[FaultKind] = list(kinds)
        while len(wanted) < count:
            wanted.append(rng.choices(kinds, weights=[4 if kind == "kill" else 1 for kind in kinds])[0])
        rng.shuffle(wanted)
        # Leave the first seconds for traffic to build up and the last ones for it to finish.
        start, end = min(3.0, seconds / 10), seconds * 0.9
        moments = sorted(rng.uniform(start, end) for _ in wanted)
        victims = list(services)
        rng.shuffle(victims)
        faults = []
        for moment, kind in zip(moments, wanted, strict=True):
            target = ""
            if kind == "kill":
                target = victims.pop() if victims else rng.choice(services)
            elif kind == "nats_cut":
                target = rng.choice(services)
            seconds_down = {
                "kill": rng.uniform(0.0, 2.0),
                "nats_restart": rng.uniform(0.5, 3.0),
                "nats_pause": rng.uniform(1.0, 5.0),
                "nats_cut": rng.uniform(1.0, 6.0),
                "postgres_restart": rng.uniform(0.5, 2.0),
            }[kind]
            faults.append(Fault(round(moment, 2), kind, target, round(seconds_down, 2)))
        return cls(seed, tuple(faults))

    def __str__(self) -> str:
        return f"seed {self.seed}: " + "; ".join(str(fault) for fault in self.faults)


@dataclass
class FaultCounts:
    kills: int = 0
    service_restarts: int = 0
    nats_restarts: int = 0
    nats_pauses: int = 0
    nats_cuts: int = 0
    postgres_restarts: int = 0
    by_service: dict[str, int] = field(default_factory=dict)


class NatsLink:
    """One service's own way to NATS: a TCP relay on 127.0.0.1 that the harness can cut. Cut, the
    service's connections are dropped and new ones refused, while NATS and the other services
    carry on; joined again, the service's client reconnects by itself."""

    def __init__(self, nats_port: int) -> None:
        self.nats_port = nats_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._cut = False

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            nats_reader, nats_writer = await asyncio.open_connection("127.0.0.1", self.nats_port)
        except OSError:  # NATS itself is down (restarting): the client tries again
            writer.close()
            return
        self._open |= {writer, nats_writer}
        try:
            await asyncio.gather(_pipe(reader, nats_writer), _pipe(nats_reader, writer))
        finally:
            for end in (writer, nats_writer):
                end.close()
                self._open.discard(end)

    async def cut(self, seconds: float) -> None:
        self._cut = True
        for end in list(self._open):
            end.close()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._cut = False

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for end in list(self._open):
            end.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Bytes one way until either end closes; closing the sink ends the other direction too."""
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        sink.close()


class RestartablePostgres:
    """A PostgreSQL of the harness's own (pgserver) that can be crashed and started again on the
    same data directory. The crash is SIGQUIT to the postmaster, PostgreSQL's immediate shutdown:
    no checkpoint, so the start after it replays the WAL, as after a power cut.

    pgserver runs pg_ctl with a pre-exec hook, which must not run in a process whose other
    threads are inside gRPC: it is called from a Python process of its own."""

    _START = "import sys, pgserver; print(pgserver.get_server(sys.argv[1], cleanup_mode=None).get_uri())"

    def __init__(self, data_dir: Path | None = None) -> None:
        # Not under pytest's temp folder, which is owner-only: pgserver runs PostgreSQL as its own user.
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="omnistock-chaos-pg-"))
        self.url = ""

    def start(self) -> str:
        done = subprocess.run(
            [sys.executable, "-c", self._START, str(self.data_dir)], check=True, capture_output=True, text=True
        )
        self.url = done.stdout.strip().splitlines()[-1]
        return self.url

    @property
    def pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _signal_and_wait(self, signum: int, timeout: float = 30.0) -> None:
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise TimeoutError(f"postgres {pid} did not stop")

    def crash(self) -> None:
        self._signal_and_wait(signal.SIGQUIT)

    def restart(self) -> None:
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._signal_and_wait(signal.SIGINT)  # fast shutdown
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class Quiet:
    reached: bool
    seconds: float
    last: str  # what was still moving when it gave up


class ChaosCluster:
    def __init__(
        self,
        admin_url: str,
        work_dir: Path,
        *,
        postgres: RestartablePostgres | None = None,
        extra_env: dict[str, str] | None = None,
        services: list[ServiceName] | None = None,
    ) -> None:
        self.admin_url = admin_url
        self.work_dir = work_dir
        self.postgres = postgres
        self.extra_env = {**CHAOS_ENV, **(extra_env or {})}
        self.services: list[ServiceName] = [s for s in SERVICES if s in (services or installed_services())]
        run = uuid.uuid4().hex[:10]
        self.database = f"omnistock_chaos_{run}"
        self.nats = EmbeddedNats(work_dir / "nats", port=free_port())
        self.settings = Settings(
            database_url=with_database(admin_url, self.database),
            nats_url=f"nats://127.0.0.1:{self.nats.port}",
            stream_name=f"OMNISTOCK_CHAOS_{run.upper()}",
            subject_prefix=f"omnistock_chaos_{run}",
            host="127.0.0.1",
            consumer_retry_delay=timedelta(milliseconds=100),
            consumer_ack_wait=timedelta(seconds=2),
        )
        self.processes: dict[ServiceName, ServiceProcess] = {}
        self.links: dict[ServiceName, NatsLink] = {}
        self.counts = FaultCounts()
        self.db: Database | None = None
        self._paused = False

    # -- life ---------------------------------------------------------------------------------------

    async def start(self) -> ChaosCluster:
        """Everything up; on a failure half way, what did start is stopped again (nothing leaks)."""
        try:
            return await self._start()
        except BaseException:
            await self.stop(drop=True)
            raise

    async def _start(self) -> ChaosCluster:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.nats.start()
        await create_database(self.admin_url, self.database)
        await upgrade_async(self.settings, self.services)
        bus = EventBus(self.settings, "chaos-setup")
        await bus.connect()
        try:
            await bus.ensure_stream()
        finally:
            await bus.close()
        self.db = Database(self.settings.database_url or "", min_size=1, max_size=4)
        await self.db.connect()
        ports = {service: free_port() for service in self.services}
        addresses = {service: f"127.0.0.1:{port}" for service, port in ports.items()}
        for service in self.services:
            link = self.links[service] = NatsLink(self.nats.port)
            await link.start()
            self.processes[service] = ServiceProcess(
                self.settings,
                service,
                addresses=addresses,
                port=ports[service],
                log_file=self.work_dir / f"{service}.log",
                extra_env={**self.extra_env, "NATS_URL": link.url},
            )
        # Side by side: each waits for its own health, and none needs another to start.
        await asyncio.gather(*(process.start(60.0) for process in self.processes.values()))
        return self

    @property
    def addresses(self) -> dict[ServiceName, str]:
        return {service: process.address for service, process in self.processes.items()}

    async def stop(self, *, drop: bool = True) -> None:
        self._resume_nats()
        for service in reversed(self.services):
            process = self.processes.get(service)
            if process is not None:
                await asyncio.to_thread(process.terminate, 10.0)
        for link in self.links.values():
            await link.stop()
        if self.db is not None:
            await self.db.close()
            self.db = None
        self.nats.stop()
        if drop:
            with contextlib.suppress(Exception):
                await drop_database(self.admin_url, self.database)

    def log_tails(self, chars: int = 1500) -> str:
        tails = []
        for path in sorted(self.work_dir.glob("*.log")):
            text = path.read_text(errors="replace")
            tails.append(f"--- {path.name} ---\n{text[-chars:]}")
        nats_log = self.work_dir / "nats" / "nats.log"
        if nats_log.exists():
            tails.append(f"--- nats.log ---\n{nats_log.read_text(errors='replace')[-chars:]}")
        return "\n".join(tails)

    # -- faults -------------------------------------------------------------------------------------

    async def inject(self, fault: Fault) -> None:
        log.warning("chaos.fault", fault=str(fault))
        if fault.kind == "kill":
            await self.kill(fault.target, fault.seconds)  # type: ignore[arg-type]
        elif fault.kind == "nats_restart":
            await self.restart_nats(fault.seconds)
        elif fault.kind == "nats_pause":
            await self.pause_nats(fault.seconds)
        elif fault.kind == "nats_cut":
            await self.cut_nats(fault.target, fault.seconds)  # type: ignore[arg-type]
        elif fault.kind == "postgres_restart":
            await self.restart_postgres(fault.seconds)

    async def kill(self, service: ServiceName, down_for: float = 0.0) -> None:
        """SIGKILL, then the same service on the same port again."""
        process = self.processes[service]
        process.kill()
        self.counts.kills += 1
        self.counts.by_service[service] = self.counts.by_service.get(service, 0) + 1
        await asyncio.sleep(down_for)
        await process.restart()
        self.counts.service_restarts += 1

    async def restart_nats(self, down_for: float = 1.0) -> None:
        """SIGKILL nats-server, then start it on the same port and data directory."""
        self.nats.kill()
        await asyncio.sleep(down_for)
        await asyncio.to_thread(self.nats.start)
        self.counts.nats_restarts += 1
        await self._heal()

    async def pause_nats(self, seconds: float = 3.0) -> None:
        """Freeze nats-server: connections stay open and every request to it hangs."""
        pid = self.nats.pid
        if pid is None:
            return
        os.kill(pid, signal.SIGSTOP)
        self._paused = True
        try:
            await asyncio.sleep(seconds)
        finally:
            self._resume_nats()
        self.counts.nats_pauses += 1
        await self._heal()

    async def cut_nats(self, service: ServiceName, seconds: float = 3.0) -> None:
        """One service off NATS for a while; everything else carries on."""
        await self.links[service].cut(seconds)
        self.counts.nats_cuts += 1
        await self._heal()

    def _resume_nats(self) -> None:
        if self._paused and self.nats.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.nats.pid, signal.SIGCONT)
        self._paused = False

    async def restart_postgres(self, down_for: float = 1.0) -> None:
        if self.postgres is None:
            return
        await asyncio.to_thread(self.postgres.crash)
        await asyncio.sleep(down_for)
        await asyncio.to_thread(self.postgres.restart)
        self.counts.postgres_restarts += 1
        await self._heal()

    async def _heal(self, timeout: float = 60.0) -> None:
        """Every service serving again; one that died of the outage is started again."""
        for process in self.processes.values():
            if not process.alive:
                log.warning("chaos.service_died", service=process.service)
                await process.restart()
                self.counts.service_restarts += 1
            await process.wait_serving(timeout)

    async def run_plan(self, plan: FaultPlan, stop: asyncio.Event) -> None:
        """Inject the plan's faults at their moments, one at a time, until it ends or `stop`."""
        began = asyncio.get_running_loop().time()
        for fault in plan.faults:
            wait = began + fault.at - asyncio.get_running_loop().time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            await self.inject(fault)

    # -- after the storm ----------------------------------------------------------------------------

    async def moving(self) -> str:
        """What is still in flight ("" when nothing): unpublished events, consumers behind,
        reservations or orders pending, services not serving."""
        assert self.db is not None
        for process in self.processes.values():
            if not process.alive:
                return f"{process.service} is not running"
        unpublished = []
        for service in self.services:
            count = await self.db.fetchval(f"SELECT count(*) FROM {service}.outbox WHERE published_at IS NULL")
            if count:
                unpublished.append(f"{service}={count}")
        if unpublished:
            return "unpublished events: " + ", ".join(unpublished)
        behind = await self.consumers_behind()
        if behind:
            return "consumers behind: " + ", ".join(behind)
        pending = []
        if "reservations" in self.services:
            count = await self.db.fetchval("SELECT count(*) FROM reservations.reservations WHERE status = 'pending'")
            if count:
                pending.append(f"reservations={count}")
        if "orders" in self.services:
            count = await self.db.fetchval("SELECT count(*) FROM orders.orders WHERE status = 'pending'")
            reroutes = await self.db.fetchval("SELECT count(*) FROM orders.reroutes")
            if count:
                pending.append(f"orders={count}")
            if reroutes:
                pending.append(f"reroutes={reroutes}")
        if pending:
            return "pending: " + ", ".join(pending)
        return ""

    async def consumers_behind(self) -> list[str]:
        bus = EventBus(self.settings, "chaos-quiesce")
        await bus.connect()
        try:
            found = []
            for info in await bus.js.consumers_info(self.settings.stream_name):
                if not info.config.durable_name:
                    continue  # an ordered consumer of a reader
                waiting = (info.num_pending or 0) + (info.num_ack_pending or 0)
                if waiting:
                    found.append(f"{info.name}={waiting}")
            return found
        finally:
            await bus.close()

    async def quiesce(self, timeout: float = 60.0, interval: float = 0.5) -> Quiet:
        """Wait until nothing moves for two polls in a row; gives up after `timeout` seconds."""
        began = time.monotonic()
        calm = 0
        last = ""
        while time.monotonic() - began < timeout:
            try:
                last = await self.moving()
            except Exception as error:  # NATS or PostgreSQL still coming back
                last = f"not answering: {error!r}"
            calm = calm + 1 if not last else 0
            if calm >= 2:
                return Quiet(True, time.monotonic() - began, "")
            await asyncio.sleep(interval)
        return Quiet(False, time.monotonic() - began, last)
