"""What the relay and the consumers tell Prometheus, and the trace context events carry, against
real PostgreSQL and JetStream: the outbox backlog and the age of its oldest event, consumer lag,
redeliveries and dead letters; a traceparent stored with an outbox row travels in the message's
headers even when the relaying process does not trace."""

from __future__ import annotations

from prometheus_client import REGISTRY

from omnistock.common.v1 import common_pb2
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.events.relay import OutboxRelay
from omnistock_platform.settings import Settings
from omnistock_platform.testing.waiting import eventually
from tests.integration.platform.support import header, read_stream, running
from tests.integration.platform.test_consumer import Handler, effects, event, make_consumer, publish, settled

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_backlog_and_its_age_are_measured_and_empty_once_published(
    db: Database, bus: EventBus, omnistock_settings: Settings, schema: str
) -> None:
    outbox = Outbox(omnistock_settings, schema)
    relay = OutboxRelay(db, bus, schema)
    async with db.transaction() as conn:
        for n in range(3):
            await outbox.add(conn, "thing.happened", common_pb2.SkuQuantity(sku=f"SKU-{n}", quantity=1))
    await db.execute(f"UPDATE {schema}.outbox SET created_at = now() - interval '90 seconds'")

    waiting, age = await relay.measure()
    assert waiting == 3 and 90 <= age < 150
    assert sample("omnistock_outbox_unpublished_events", service=schema) == 3
    assert sample("omnistock_outbox_oldest_unpublished_age_seconds", service=schema) == age

    published_before = sample("omnistock_outbox_published_total", service=schema)
    assert await relay.publish_pending() == 3
    assert sample("omnistock_outbox_published_total", service=schema) == published_before + 3
    assert await relay.measure() == (0, 0.0)
    assert sample("omnistock_outbox_oldest_unpublished_age_seconds", service=schema) == 0


async def test_a_stored_traceparent_travels_in_the_headers_without_tracing_here(
    db: Database, bus: EventBus, omnistock_settings: Settings, schema: str
) -> None:
    outbox = Outbox(omnistock_settings, schema)
    async with db.transaction() as conn:
        untraced = await outbox.add(conn, "thing.happened", common_pb2.SkuQuantity(sku="A", quantity=1))
        traced = await outbox.add(conn, "thing.happened", common_pb2.SkuQuantity(sku="B", quantity=1))
    # Tracing is off in this process: nothing is stored, unless a traced writer stored it.
    stored = await db.fetch(f"SELECT event_id::text, traceparent FROM {schema}.outbox ORDER BY id")
    assert [row["traceparent"] for row in stored] == [None, None]
    await db.execute(f"UPDATE {schema}.outbox SET traceparent = $1 WHERE event_id = $2", TRACEPARENT, traced)

    assert await OutboxRelay(db, bus, schema).publish_pending() == 2
    messages = {header(m, "Nats-Msg-Id"): m for m in await read_stream(bus, bus.settings.subject(schema, ">"))}
    assert header(messages[traced], "traceparent") == TRACEPARENT
    assert "traceparent" not in (messages[untraced].headers or {})


async def test_lag_redeliveries_and_dead_letters_are_counted(db: Database, bus: EventBus, schema: str) -> None:
    flaky = make_consumer(db, bus, schema, Handler(schema, failures=1))
    first = event("FLAKY")
    last = await publish(bus, bus.settings.subject(schema, "thing", "happened"), first.SerializeToString())
    async with running(flaky.run):
        await eventually(lambda: settled(bus, flaky, last), what="the retry to succeed")
    assert await effects(db, schema) == [first.event_id]
    assert sample("omnistock_consumer_redeliveries_total", consumer=flaky.durable) == 1
    assert sample("omnistock_consumer_events_total", consumer=flaky.durable, outcome="retried") == 1
    assert sample("omnistock_consumer_events_total", consumer=flaky.durable, outcome="handled") == 1
    assert sample("omnistock_consumer_dead_letters_total", consumer=flaky.durable) == 0

    # Lag as JetStream reports it: two events published while the consumer is stopped are pending.
    for sku in ("P-1", "P-2"):
        await publish(bus, bus.settings.subject(schema, "thing", "happened"), event(sku).SerializeToString())
    # (A pull request still open on the server when the consumer stopped may have taken one.)
    pending, unacknowledged = await flaky.measure()
    assert pending + unacknowledged == 2
    assert sample("omnistock_consumer_pending_messages", consumer=flaky.durable) == pending
    assert sample("omnistock_consumer_unacknowledged_messages", consumer=flaky.durable) == unacknowledged

    poisoned = make_consumer(db, bus, schema, Handler(schema, poison=True))
    last = await publish(bus, bus.settings.subject(schema, "thing", "happened"), event("POISON").SerializeToString())
    async with running(poisoned.run):
        await eventually(lambda: settled(bus, poisoned, last), what="the poison event to be terminated")
    # Every event of the subject went to the dead letters: the three before and the poison one.
    assert sample("omnistock_consumer_dead_letters_total", consumer=poisoned.durable) == 4
    assert sample("omnistock_consumer_events_total", consumer=poisoned.durable, outcome="dead_lettered") == 4
