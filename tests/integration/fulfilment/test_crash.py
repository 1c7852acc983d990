"""Fulfilment killed with SIGKILL while allocations stream in, then started again: every
allocation ends up with exactly one task and exactly one task.created event.

The process runs against a database and a stream of its own, so that the in-process services
of the other tests neither help it nor see its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock_fulfilment.entrypoints.handlers import EventHandlers, consumers
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_fulfilment.service_layer.intake import TaskIntake
from omnistock_platform.db import Database, create_database, drop_database, with_database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.migrations import upgrade_async
from omnistock_platform.settings import Settings
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually

from .support import allocation, order_changed

KILL_AFTER_TASKS = 10
PUBLISH_AFTER_KILL = 20
PUBLISH_EVERY = 0.01
ACK_WAIT = 1.0


@dataclass
class Isolated:
    settings: Settings
    db: Database
    bus: EventBus
    # The fulfilment process, on this database and stream; started by the test.
    service: ServiceProcess
    log: Path

    async def task_count(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM fulfilment.tasks"))

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@pytest_asyncio.fixture
async def isolated(
    omnistock_servers: tuple[str, str], omnistock_settings: Settings, stack: Stack, tmp_path: Path
) -> AsyncIterator[Isolated]:
    admin_url, _ = omnistock_servers
    run = uuid.uuid4().hex[:10]
    database = f"omnistock_crash_{run}"
    await create_database(admin_url, database)
    settings = omnistock_settings.model_copy(
        update={
            "database_url": with_database(admin_url, database),
            "stream_name": f"OMNISTOCK_CRASH_{run.upper()}",
            "subject_prefix": f"omnistock_crash_{run}",
        }
    )
    await upgrade_async(settings, ["fulfilment"])
    db = Database(settings.database_url or "", min_size=1, max_size=2)
    await db.connect()
    bus = EventBus(settings, "crash-test")
    await bus.connect()
    await bus.ensure_stream()
    await _create_consumers_with_short_ack_wait(settings, db, bus)
    log = tmp_path / "fulfilment.log"
    addresses = {name: stack.addresses.get(name, "") for name in ("inventory", "reservations")}
    service = ServiceProcess(
        settings,
        "fulfilment",
        addresses=addresses,
        log_file=log,
        extra_env={"OMNISTOCK_JWT_SECRET": settings.jwt_secret},
    )
    yield Isolated(settings, db, bus, service, log)
    service.terminate()
    with contextlib.suppress(Exception):
        await bus.js.delete_stream(settings.stream_name)
    await bus.close()
    await db.close()
    await drop_database(admin_url, database)


async def _create_consumers_with_short_ack_wait(settings: Settings, db: Database, bus: EventBus) -> None:
    """The service's own consumers, created ahead of it. What the killed process had fetched but not
    acknowledged is redelivered after ack_wait (30 s in production); a short one keeps the test quick."""
    handlers = EventHandlers(TaskIntake(TaskChanges(Outbox(settings, "fulfilment"))))
    for consumer in consumers(settings, db, bus, handlers):
        await bus.js.add_consumer(settings.stream_name, dataclasses.replace(consumer.config(), ack_wait=ACK_WAIT))


async def test_sigkill_mid_stream_leaves_exactly_one_task_per_allocation(isolated: Isolated) -> None:
    subject = isolated.settings.subject("orders", "order", "allocated")
    published: list[str] = []
    killed = asyncio.Event()

    async def publish(envelope: common_pb2.EventEnvelope, msg_id: str) -> None:
        await isolated.bus.js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": msg_id})

    async def publisher() -> None:
        """Allocations at a steady pace until well after the kill; every seventh is sent twice."""
        after_kill = 0
        while after_kill < PUBLISH_AFTER_KILL and len(published) < 2000:
            alloc = allocation(unique_id("LOC-"), {"SKU-A": 1})
            envelope = new_envelope("orders.order.allocated", order_changed(alloc), source="orders")
            await publish(envelope, envelope.event_id)
            published.append(alloc.allocation_id)
            if len(published) % 7 == 0:
                await publish(envelope, unique_id("again-"))
            if killed.is_set():
                after_kill += 1
            await asyncio.sleep(PUBLISH_EVERY)

    await isolated.service.start()
    feeding = asyncio.create_task(publisher())
    try:
        at_kill: int = await eventually(
            lambda: _at_least(isolated, KILL_AFTER_TASKS), 30, f"{KILL_AFTER_TASKS} tasks before the kill"
        )
        isolated.service.kill()
        killed.set()
        await feeding
        assert at_kill < len(published), "the process was killed after the stream had ended"

        await isolated.service.restart()
        total = len(published)
        await eventually(
            lambda: _at_least(isolated, total), 30, f"all {total} tasks after the restart\n{isolated.log_tail()}"
        )
        rows = await isolated.db.fetch("SELECT allocation_id, count(*) AS n FROM fulfilment.tasks GROUP BY 1")
        assert {row["allocation_id"]: row["n"] for row in rows} == dict.fromkeys(published, 1)
        assert await _created_events_per_task(isolated) == dict.fromkeys(published, 1)
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding


async def _at_least(isolated: Isolated, count: int) -> int:
    found = await isolated.task_count()
    return found if found >= count else 0


async def _created_events_per_task(isolated: Isolated) -> dict[str, int]:
    """allocation id -> how many task.created events the outbox holds for it."""
    counts: dict[str, int] = {}
    rows = await isolated.db.fetch("SELECT envelope FROM fulfilment.outbox WHERE subject LIKE '%.task.created'")
    for row in rows:
        changed = fpb.TaskChanged()
        common_pb2.EventEnvelope.FromString(bytes(row["envelope"])).payload.Unpack(changed)
        counts[changed.task.allocation_id] = counts.get(changed.task.allocation_id, 0) + 1
    return counts
