"""The outbox and its relay against real PostgreSQL and NATS JetStream."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnistock.common.v1 import common_pb2
from omnistock_platform.db import Database
from omnistock_platform.embedded import EmbeddedNats, free_port
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.events.relay import OutboxRelay
from omnistock_platform.settings import Settings
from omnistock_platform.testing.waiting import eventually
from tests.integration.platform.support import header, read_stream, running, subject_count

EVENT = "thing.happened"


async def write_events(db: Database, outbox: Outbox, count: int) -> list[str]:
    """`count` events committed in one transaction; their ids in write order."""
    async with db.transaction() as conn:
        return [await outbox.add(conn, EVENT, common_pb2.SkuQuantity(sku=f"SKU-{n}", quantity=n)) for n in range(count)]


async def unpublished(db: Database, schema: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"))


async def stream_ids(bus: EventBus, schema: str) -> list[str]:
    """The Nats-Msg-Id of every message the stream holds for the schema's events."""
    messages = await read_stream(bus, bus.settings.subject(schema, ">"))
    for message in messages:
        envelope = common_pb2.EventEnvelope.FromString(message.data)
        assert header(message, "Nats-Msg-Id") == envelope.event_id
    return [header(message, "Nats-Msg-Id") for message in messages]


async def test_committed_events_are_published_once_and_rolled_back_ones_never(
    db: Database, bus: EventBus, omnistock_settings: Settings, schema: str
) -> None:
    outbox = Outbox(omnistock_settings, schema)
    relay = OutboxRelay(db, bus, schema)
    rolled_back: list[str] = []
    with pytest.raises(RuntimeError, match="change failed"):
        async with db.transaction() as conn:
            rolled_back.append(await outbox.add(conn, EVENT, common_pb2.SkuQuantity(sku="LOST", quantity=1)))
            raise RuntimeError("change failed")
    committed = await write_events(db, outbox, 3) + await write_events(db, outbox, 2)

    async with running(relay.run):
        await eventually(lambda: _all_published(db, schema), what="the relay to mark every row published")

    # Once more over a fully published outbox: nothing is sent again.
    assert await relay.publish_pending() == 0
    ids = await stream_ids(bus, schema)
    assert ids == committed
    assert rolled_back[0] not in ids
    assert await db.fetchval(f"SELECT count(*) FROM {schema}.outbox") == len(committed)

    message = (await read_stream(bus, outbox.subject(EVENT)))[0]
    assert message.subject == f"{omnistock_settings.subject_prefix}.{schema}.{EVENT}"
    envelope = common_pb2.EventEnvelope.FromString(message.data)
    assert (envelope.type, envelope.source) == (f"{schema}.{EVENT}", schema)
    payload = common_pb2.SkuQuantity()
    assert envelope.payload.Unpack(payload)
    assert (payload.sku, payload.quantity) == ("SKU-0", 0)


async def test_a_commit_wakes_the_relay_without_waiting_for_its_poll(
    db: Database, bus: EventBus, omnistock_settings: Settings, schema: str
) -> None:
    outbox = Outbox(omnistock_settings, schema)
    relay = OutboxRelay(db, bus, schema, poll_interval=3600)
    async with running(relay.run):
        await eventually(lambda: _listening(db, outbox.channel), what="the relay to LISTEN")
        first = await write_events(db, outbox, 1)
        await eventually(lambda: _all_published(db, schema), what="a notified commit to be published")
        second = await write_events(db, outbox, 2)
        await eventually(lambda: _all_published(db, schema), what="the next notified commit to be published")
    assert await stream_ids(bus, schema) == first + second


async def test_relay_crash_between_publish_and_mark_publishes_each_event_once(
    db: Database, bus: EventBus, omnistock_settings: Settings, schema: str
) -> None:
    outbox = Outbox(omnistock_settings, schema)
    written = await write_events(db, outbox, 5)
    # A relay that published the first three rows and died before marking them.
    rows = await db.fetch(f"SELECT event_id, subject, envelope FROM {schema}.outbox ORDER BY id LIMIT 3")
    for row in rows:
        ack = await bus.js.publish(
            row["subject"], bytes(row["envelope"]), headers={"Nats-Msg-Id": str(row["event_id"])}
        )
        assert not ack.duplicate
    assert await unpublished(db, schema) == 5

    fresh = OutboxRelay(db, bus, schema)
    assert await fresh.publish_pending() == 5

    assert await unpublished(db, schema) == 0
    assert await stream_ids(bus, schema) == written


async def test_relay_survives_a_nats_crash_and_resumes_by_itself(
    db: Database, omnistock_settings: Settings, schema: str, tmp_path: Path
) -> None:
    server = EmbeddedNats(tmp_path / "nats", port=free_port())
    settings = omnistock_settings.model_copy(
        update={"nats_url": server.start(), "stream_name": "RESTART_TEST", "subject_prefix": "restarttest"}
    )
    bus = EventBus(settings, "restart-test")
    try:
        await bus.connect()
        await bus.ensure_stream()
        outbox = Outbox(settings, schema)
        relay = OutboxRelay(db, bus, schema)
        async with running(relay.run):
            before = await write_events(db, outbox, 3)
            await eventually(lambda: _all_published(db, schema), what="the first events to be published")

            server.kill()
            await eventually(lambda: not bus.connected, what="the client to notice NATS is gone")
            during = await write_events(db, outbox, 4)
            assert await unpublished(db, schema) == 4
            server.start()

            await eventually(lambda: _all_published(db, schema), timeout=30, what="the relay to resume by itself")
        await eventually(lambda: _count_is(bus, settings.subject(schema, ">"), 7), what="7 events in the stream")
        assert await stream_ids(bus, schema) == before + during
    finally:
        await bus.close()
        server.stop()


async def _all_published(db: Database, schema: str) -> bool:
    return await unpublished(db, schema) == 0


async def _count_is(bus: EventBus, subject_filter: str, expected: int) -> bool:
    return await subject_count(bus, subject_filter) == expected


async def _listening(db: Database, channel: str) -> bool:
    return bool(
        await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query = format('LISTEN \"%s\"', $1::text)", channel
        )
    )
