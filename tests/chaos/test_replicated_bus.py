"""The replicated bus: every service on a JetStream cluster of three servers, the stream
replicated on all three (OMNISTOCK_STREAM_REPLICAS=3), channels reserving, ordering, selling and
working tasks, while the server that leads the stream is SIGKILLed mid-storm and started again on
its store, and later the next leader too, that one coming back without its store (a new disk).
While each is down the other two keep acknowledging events. Afterwards, once quiet: nothing
acknowledged was lost
(every request as answered, every event the outbox relays saw acknowledged is in the stream),
no event is missing or doubled (`check_all` with the stream), the durable consumers caught up, and
a WatchStock stream opened before the storm is still open and shows exactly the stock in the
database.

A short run in `make test`; `make chaos` runs ten longer ones with more kills."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import grpc
import pytest
from omnistock_client import OmnistockClient

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.events.bus import EventBus
from omnistock_platform.settings import Settings
from omnistock_platform.testing.chaos import Fault, FaultPlan
from omnistock_platform.testing.plugin import SummaryLines
from omnistock_platform.testing.stack import unique_id
from tests.chaos.nats_cluster import REPLICAS, NatsCluster, ReplicatedChaosCluster
from tests.chaos.storm import storm
from tests.chaos.workload import Traffic

# How long the watch may take to show the last changes once the system is quiet.
WATCH_CATCH_UP_SECONDS = 30.0


def server_kills(seed: int, seconds: float) -> FaultPlan:
    """The stream's leader killed at a third of the storm and the next leader at two thirds,
    that one losing its store as well (a node back on a new disk); a longer storm kills a server
    about every 20 s. One server is down at a time: two of three keep the quorum."""
    rng = random.Random(seed)
    count = max(2, round(seconds / 20))
    faults = []
    for index in range(count):
        at = seconds * (index + 1) / (count + 1) + rng.uniform(-1.0, 1.0)
        target = "stream-leader" if index < 2 or rng.random() < 0.5 else f"n{rng.randrange(3)}"
        if index == 1 or (index > 1 and rng.random() < 0.3):
            target += "/lose-store"
        faults.append(Fault(round(at, 2), "nats_restart", target, round(rng.uniform(1.5, 3.5), 2)))
    return FaultPlan(seed, tuple(faults))


class StockWatch:
    """One WatchStock stream over the shop's SKUs, kept open from before the storm to the end."""

    def __init__(self, client: OmnistockClient, skus: list[str]) -> None:
        self.client = client
        self.skus = skus
        self.latest: dict[tuple[str, str], ipb.StockLevel] = {}
        self.snapshots = 0
        self.changes = 0
        self.ended: str | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 30.0) -> StockWatch:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.ready.wait(), timeout)
        return self

    async def _run(self) -> None:
        call = self.client.inventory.WatchStock(ipb.WatchStockRequest(skus=self.skus))
        try:
            async for response in call:
                for level in response.levels:
                    self.latest[(level.location_id, level.sku)] = level
                    self.changes += not response.snapshot
                if response.snapshot_complete:
                    self.snapshots += 1  # the first, and one more after each resync
                    self.ready.set()
            self.ended = "the server ended the stream"
        except grpc.aio.AioRpcError as error:
            self.ended = f"{error.code().name}: {error.details()}"

    def differences(self, rows: list[dict[str, int | str]]) -> list[str]:
        found = []
        for row in rows:
            seen = self.latest.get((str(row["location_id"]), str(row["sku"])))
            stored = (row["on_hand"], row["held"], row["version"])
            if seen is None or (seen.on_hand, seen.held, seen.version) != stored:
                shown = "nothing" if seen is None else f"{(seen.on_hand, seen.held, seen.version)}"
                found.append(f"{row['location_id']}/{row['sku']}: watch shows {shown}, stored {stored}")
        return found

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.client.close()


async def watch_agrees(watch: StockWatch, cluster: ReplicatedChaosCluster, skus: list[str]) -> list[str]:
    """What the watch still shows differently from the database after a bounded wait."""
    assert cluster.db is not None
    deadline = asyncio.get_running_loop().time() + WATCH_CATCH_UP_SECONDS
    while True:
        rows = await cluster.db.fetch(
            "SELECT location_id, sku, on_hand, held, version FROM inventory.stock WHERE sku = ANY($1::text[])", skus
        )
        found = watch.differences([dict(row) for row in rows])
        if not found or watch.ended or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.5)


@pytest.mark.chaos
async def test_a_replicated_bus_keeps_every_acknowledged_event_when_servers_die(
    chaos_seed: int,
    chaos_admin_url: str,
    chaos_report: SummaryLines,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    seconds = request.config.getoption("chaos_seconds")
    cluster = ReplicatedChaosCluster(chaos_admin_url, tmp_path / "cluster")
    plan = server_kills(chaos_seed, seconds)
    await cluster.start()
    passed = False
    watch: StockWatch | None = None
    try:
        traffic = Traffic(cluster.settings, cluster.addresses, chaos_seed)
        await traffic.open_shop()
        skus = list(traffic.shop.skus)
        token = TokenAuthority(cluster.settings).mint(Role.ADMIN, "chaos-watcher")
        client = OmnistockClient.connect(cluster.settings, token, addresses=cluster.addresses)
        watch = await StockWatch(client, skus).start()
        report = await storm(cluster, seed=chaos_seed, seconds=seconds, plan=plan, traffic=traffic, whole_plan=True)
        differences = await watch_agrees(watch, cluster, skus)
        current = await cluster.replicas_current()
        _, messages, _ = await cluster.stream_state()
        report.counts.update(
            servers_killed=len(cluster.killed),
            stream_messages=messages,
            watch_changes=watch.changes,
            watch_snapshots=watch.snapshots,
        )
        text = (
            f"{report.text()}\n  replicated bus: servers killed in turn {cluster.killed}, stores lost"
            f" {cluster.stores_lost}; events the stream took while each was down {cluster.published_while_down};"
            f" replicas current afterwards {current}"
        )
        chaos_report.append(text)
        print(text)
        assert report.counts["acknowledged"] > 0, "no request got through: the run checked nothing"
        assert len(cluster.killed) == len(plan.faults) and len(set(cluster.killed[:2])) == 2, cluster.killed
        assert cluster.stores_lost, "no server came back without its store"
        assert all(count for _, count in cluster.published_while_down), (
            f"publishing stopped while a server was down: {cluster.published_while_down}"
        )
        assert not report.violations, f"{text}\nrerun: --chaos-seed={chaos_seed}\n{cluster.log_tails()}"
        assert watch.ended is None, f"the watch did not survive: {watch.ended}"
        assert not differences, differences[:20]
        assert watch.changes > 0
        assert sorted(current) == sorted(cluster.nats_cluster.nodes), f"replicas not current again: {current}"
        passed = True
    finally:
        if watch is not None:
            await watch.stop()
        await cluster.stop(drop=passed)


async def test_a_client_given_every_server_connects_while_one_is_down(tmp_path: Path) -> None:
    """NATS_URL lists the cluster's servers: a service starting while the first one is down
    connects to another, and its stream is written on the two that are up."""
    nats = NatsCluster(tmp_path / "nats")
    await asyncio.to_thread(nats.start)
    bus = None
    try:
        first = next(iter(nats.nodes))
        nats.kill_node(first)
        settings = Settings(
            nats_url=nats.url,
            stream_name=f"REPLICATED_{unique_id()}".upper(),
            subject_prefix=f"replicated_{unique_id()}",
            stream_replicas=REPLICAS,
        )
        assert settings.nats_url is not None and settings.nats_url.startswith(nats.nodes[first].url + ",")
        bus = EventBus(settings, "replicated-test")
        await bus.connect()
        await bus.ensure_stream()
        ack = await bus.js.publish(settings.subject("inventory", "stock", "changed"), b"x")
        info = await bus.js.stream_info(settings.stream_name)
        assert ack.seq == 1 and info.config.num_replicas == REPLICAS
        assert info.cluster is not None and info.cluster.leader != first
    finally:
        if bus is not None:
            await bus.close()
        nats.stop()
