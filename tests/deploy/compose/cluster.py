"""The compose stack as the chaos harness's cluster: the same storm of traffic and the same checks
(`tests/chaos/storm.py`), with faults dealt to containers through the Docker engine and Compose:

- `kill`: `docker kill` (SIGKILL) of one service's container, then `compose start` of it;
- `nats_restart`: `docker kill` of the NATS container, then `compose start` (its JetStream store
  is in a volume, fsynced on every write);
- `nats_pause`: `docker pause` / `docker unpause` of NATS (every connection to it hangs);
- `postgres_restart`: `compose restart postgres`.

The stack is reached as a user reaches it: the services at their published addresses, PostgreSQL
and NATS at theirs (OMNISTOCK_E2E_ADDRESSES, DATABASE_URL, NATS_URL)."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from omnistock_platform.db import Database
from omnistock_platform.services import SERVICES, ServiceName
from omnistock_platform.settings import Settings
from omnistock_platform.testing.chaos import ChaosCluster, Fault, FaultCounts

# A container's start (Python imports, pools, NATS) on a loaded two-core host.
SERVING_TIMEOUT = 120.0


@dataclass(frozen=True)
class Compose:
    """The compose command (`docker compose` or `docker-compose`) of one project."""

    command: str
    project: str
    file: Path

    async def run(self, *args: str, timeout: float = 180.0) -> str:
        argv = [*shlex.split(self.command), "-f", str(self.file), "-p", self.project, *args]
        return await docker(argv, timeout)

    async def container(self, service: str) -> str:
        """The id of the service's container, running or not."""
        ids = (await self.run("ps", "-a", "-q", service)).split()
        if not ids:
            raise RuntimeError(f"compose project {self.project} has no container for {service}")
        return ids[0]


async def docker(argv: list[str], timeout: float = 180.0) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited with {process.returncode}: {text[-2000:]}")
    return text


async def wait_serving(address: str, timeout: float = SERVING_TIMEOUT) -> None:
    """The gRPC health check at `address` answers SERVING (the service reaches PostgreSQL and NATS)."""
    options = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 500)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=2.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{address} did not answer SERVING within {timeout:.0f} s")
            await asyncio.sleep(0.2)


class ComposeCluster(ChaosCluster):
    """What `storm()` needs of a cluster, for the containers of one compose project."""

    def __init__(self, compose: Compose, settings: Settings, addresses: dict[ServiceName, str]) -> None:
        # Not ChaosCluster.__init__: nothing here is started by the harness.
        self.compose = compose
        self.settings = settings
        self.services = [service for service in SERVICES if service in addresses]
        self._addresses = dict(addresses)
        self.counts = FaultCounts()
        self.db: Database | None = None
        self.processes = {}
        self.links = {}
        self._paused = False
        self.postgres = None
        self.work_dir = Path(".")
        self.faults: list[str] = []

    @property
    def addresses(self) -> dict[ServiceName, str]:
        return dict(self._addresses)

    async def start(self) -> ComposeCluster:
        for service in self.services:
            await wait_serving(self._addresses[service])
        self.db = Database(self.settings.database_url or "", min_size=1, max_size=4)
        await self.db.connect()
        return self

    async def stop(self, *, drop: bool = True) -> None:
        await self._unpause_nats()
        if self.db is not None:
            await self.db.close()
            self.db = None

    # -- faults -------------------------------------------------------------------------------------

    async def inject(self, fault: Fault) -> None:
        self.faults.append(f"{fault.kind} {fault.target}".strip())
        await super().inject(fault)

    async def kill(self, service: ServiceName, down_for: float = 0.0) -> None:
        await docker(["docker", "kill", await self.compose.container(service)])
        self.counts.kills += 1
        self.counts.by_service[service] = self.counts.by_service.get(service, 0) + 1
        await asyncio.sleep(down_for)
        await self.compose.run("start", service)
        await wait_serving(self._addresses[service])
        self.counts.service_restarts += 1

    async def restart_nats(self, down_for: float = 1.0) -> None:
        await docker(["docker", "kill", await self.compose.container("nats")])
        await asyncio.sleep(down_for)
        await self.compose.run("start", "nats")
        self.counts.nats_restarts += 1
        await self._heal()

    async def pause_nats(self, seconds: float = 3.0) -> None:
        await docker(["docker", "pause", await self.compose.container("nats")])
        self._paused = True
        try:
            await asyncio.sleep(seconds)
        finally:
            await self._unpause_nats()
        self.counts.nats_pauses += 1
        await self._heal()

    async def _unpause_nats(self) -> None:
        if self._paused:
            await docker(["docker", "unpause", await self.compose.container("nats")])
        self._paused = False

    async def restart_postgres(self, down_for: float = 0.0) -> None:
        await self.compose.run("restart", "postgres")
        self.counts.postgres_restarts += 1
        await self._heal()

    async def cut_nats(self, service: ServiceName, seconds: float = 3.0) -> None:
        raise NotImplementedError("the compose stack has no per-service link to NATS to cut")

    async def _heal(self, timeout: float = SERVING_TIMEOUT) -> None:
        """Every service serving again; a container that ended (its restart policy used up) is
        started again."""
        for service in self.services:
            container = await self.compose.container(service)
            running = await docker(["docker", "inspect", "-f", "{{.State.Running}}", container])
            if running.strip() != "true":
                await self.compose.run("start", service)
                self.counts.service_restarts += 1
            await wait_serving(self._addresses[service], timeout)

    async def moving(self) -> str:
        for service in self.services:
            try:
                await wait_serving(self._addresses[service], timeout=2.0)
            except TimeoutError:
                return f"{service} is not serving"
        return await super().moving()
