"""EventConsumer against real JetStream and PostgreSQL: inbox, retries, dead letters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import asyncpg
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from nats.js.errors import NotFoundError

from omnistock.common.v1 import common_pb2
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.consumer import EventConsumer, PoisonEvent, dead_letter_subject
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.settings import Settings
from omnistock_platform.testing.waiting import eventually
from tests.integration.platform.support import header, read_stream, running, subject_count


@dataclass
class Handler:
    """Records an effect in the handler's transaction, then fails as told."""

    schema: str
    failures: int = 0
    poison: bool = False
    calls: list[str] = field(default_factory=list)

    async def __call__(self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        self.calls.append(envelope.event_id)
        assert isinstance(payload, common_pb2.SkuQuantity)
        await conn.execute(
            f"INSERT INTO {self.schema}.effects (key, note) VALUES ($1, $2)", envelope.event_id, payload.sku
        )
        if self.poison:
            raise PoisonEvent("this event can never be handled")
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"failure number {len(self.calls)}")


def make_consumer(db: Database, bus: EventBus, schema: str, handler: Handler, *subjects: str) -> EventConsumer:
    return EventConsumer(
        db,
        bus,
        schema=schema,
        durable=f"platformtest-{uuid.uuid4().hex[:12]}",
        subjects=list(subjects) or [bus.settings.subject(schema, ">")],
        handler=handler,
    )


def event(sku: str = "SKU-1") -> common_pb2.EventEnvelope:
    return new_envelope("platformtest.thing.happened", common_pb2.SkuQuantity(sku=sku, quantity=1), source="test")


async def publish(bus: EventBus, subject: str, data: bytes, msg_id: str | None = None) -> int:
    ack = await bus.js.publish(subject, data, headers={"Nats-Msg-Id": msg_id or str(uuid.uuid4())})
    return int(ack.seq)


async def settled(bus: EventBus, consumer: EventConsumer, last_seq: int) -> bool:
    """Everything up to `last_seq` was delivered and acknowledged or terminated."""
    try:
        info = await bus.js.consumer_info(bus.settings.stream_name, consumer.durable)
    except NotFoundError:  # not created yet
        return False
    delivered = info.delivered.stream_seq if info.delivered else 0
    return bool(delivered >= last_seq and not info.num_pending and not info.num_ack_pending)


async def effects(db: Database, schema: str) -> list[str]:
    return [row["key"] for row in await db.fetch(f"SELECT key FROM {schema}.effects ORDER BY id")]


async def dead_letters(bus: EventBus, consumer: EventConsumer) -> int:
    return await subject_count(bus, consumer.dead_letter)


async def test_a_redelivered_event_has_one_effect(db: Database, bus: EventBus, schema: str) -> None:
    handler = Handler(schema)
    consumer = make_consumer(db, bus, schema, handler)
    envelope = event()
    subject = bus.settings.subject(schema, "thing", "happened")
    # Two stream messages with one event id: what a republish outside the dedupe window looks like.
    await publish(bus, subject, envelope.SerializeToString(), msg_id="first")
    last = await publish(bus, subject, envelope.SerializeToString(), msg_id="second")

    async with running(consumer.run):
        await eventually(lambda: settled(bus, consumer, last), what="both deliveries to be acknowledged")

    assert handler.calls == [envelope.event_id]
    assert await effects(db, schema) == [envelope.event_id]
    inbox = await db.fetch(f"SELECT consumer, event_id FROM {schema}.inbox")
    assert [(row["consumer"], str(row["event_id"])) for row in inbox] == [(consumer.durable, envelope.event_id)]
    assert await dead_letters(bus, consumer) == 0


async def test_a_failing_handler_is_retried_and_its_failed_attempts_leave_nothing(
    db: Database, bus: EventBus, schema: str
) -> None:
    handler = Handler(schema, failures=2)
    consumer = make_consumer(db, bus, schema, handler)
    envelope = event()
    last = await publish(bus, bus.settings.subject(schema, "thing", "happened"), envelope.SerializeToString())

    async with running(consumer.run):
        await eventually(lambda: settled(bus, consumer, last), what="the third try to succeed")

    assert handler.calls == [envelope.event_id] * 3
    assert await effects(db, schema) == [envelope.event_id]
    assert await dead_letters(bus, consumer) == 0


async def test_a_handler_that_always_fails_ends_in_the_dead_letter_subject(
    db: Database, bus: EventBus, omnistock_settings: Settings, schema: str
) -> None:
    handler = Handler(schema, failures=1_000)
    consumer = make_consumer(db, bus, schema, handler)
    envelope = event()
    subject = bus.settings.subject(schema, "thing", "happened")
    last = await publish(bus, subject, envelope.SerializeToString())

    async with running(consumer.run):
        await eventually(lambda: dead_letters(bus, consumer), what="a dead letter")
        await eventually(lambda: settled(bus, consumer, last), what="the event to be terminated")

    assert consumer.dead_letter == f"{omnistock_settings.subject_prefix}.deadletter.{consumer.durable}"
    assert handler.calls == [envelope.event_id] * omnistock_settings.consumer_max_deliver
    assert await effects(db, schema) == []
    [letter] = await read_stream(bus, consumer.dead_letter)
    assert letter.data == envelope.SerializeToString()
    assert header(letter, "Omnistock-Original-Subject") == subject
    assert "RuntimeError" in header(letter, "Omnistock-Error")


async def test_a_poison_event_goes_straight_to_the_dead_letter_subject(
    db: Database, bus: EventBus, schema: str
) -> None:
    handler = Handler(schema, poison=True)
    consumer = make_consumer(db, bus, schema, handler)
    envelope = event()
    subject = bus.settings.subject(schema, "thing", "happened")
    last = await publish(bus, subject, envelope.SerializeToString())

    async with running(consumer.run):
        await eventually(lambda: settled(bus, consumer, last), what="the event to be terminated")

    assert handler.calls == [envelope.event_id]
    assert await effects(db, schema) == []
    [letter] = await read_stream(bus, consumer.dead_letter)
    assert header(letter, "Omnistock-Original-Subject") == subject
    assert "never be handled" in header(letter, "Omnistock-Error")


def unknown_payload() -> bytes:
    envelope = event()
    envelope.payload.CopyFrom(any_pb2.Any(type_url="type.googleapis.com/nobody.Knows", value=b"\x08\x01"))
    return envelope.SerializeToString()


def bad_event_id() -> bytes:
    envelope = event()
    envelope.event_id = "not-a-uuid"
    return envelope.SerializeToString()


@pytest.mark.parametrize(
    "data",
    [b"\xff\xff\xff\xff not protobuf", unknown_payload(), bad_event_id()],
    ids=["garbage", "unknown-payload-type", "bad-event-id"],
)
async def test_an_undecodable_message_goes_straight_to_the_dead_letter_subject(
    db: Database, bus: EventBus, schema: str, data: bytes
) -> None:
    handler = Handler(schema)
    consumer = make_consumer(db, bus, schema, handler)
    subject = bus.settings.subject(schema, "thing", "happened")
    last = await publish(bus, subject, data)

    async with running(consumer.run):
        await eventually(lambda: settled(bus, consumer, last), what="the message to be terminated")

    assert handler.calls == []
    [letter] = await read_stream(bus, dead_letter_subject(bus.settings.subject_prefix, consumer.durable))
    assert letter.data == data
    assert header(letter, "Omnistock-Original-Subject") == subject
    # Straight there: one delivery, no retries.
    info = await bus.js.consumer_info(bus.settings.stream_name, consumer.durable)
    assert info.num_redelivered == 0


async def test_a_consumer_only_sees_its_own_subject(db: Database, bus: EventBus, schema: str) -> None:
    handler = Handler(schema)
    consumer = make_consumer(db, bus, schema, handler, bus.settings.subject(schema, "wanted", ">"))
    other, wanted = event("OTHER"), event("WANTED")
    await publish(bus, bus.settings.subject(schema, "unwanted", "happened"), other.SerializeToString())
    last = await publish(bus, bus.settings.subject(schema, "wanted", "happened"), wanted.SerializeToString())

    async with running(consumer.run):
        await eventually(lambda: settled(bus, consumer, last), what="the wanted event to be handled")

    assert handler.calls == [wanted.event_id]


async def test_events_a_consumer_has_no_use_for_are_acknowledged_without_a_transaction(
    db: Database, bus: EventBus, schema: str
) -> None:
    handler = Handler(schema)
    consumer = make_consumer(db, bus, schema, handler)
    consumer.wanted = lambda payload: isinstance(payload, common_pb2.SkuQuantity) and payload.sku == "WANTED"
    subject = bus.settings.subject(schema, "thing", "happened")
    skipped, wanted = event("OTHER"), event("WANTED")
    await publish(bus, subject, skipped.SerializeToString())
    last = await publish(bus, subject, wanted.SerializeToString())

    async with running(consumer.run):
        await eventually(lambda: settled(bus, consumer, last), what="both events to be acknowledged")

    assert handler.calls == [wanted.event_id]
    inbox = await db.fetch(f"SELECT event_id FROM {schema}.inbox")
    assert [str(row["event_id"]) for row in inbox] == [wanted.event_id]
    assert await dead_letters(bus, consumer) == 0


async def test_a_consumer_of_several_subjects_sees_exactly_those(db: Database, bus: EventBus, schema: str) -> None:
    handler = Handler(schema)
    subjects = [bus.settings.subject(schema, "first", "happened"), bus.settings.subject(schema, "second", "happened")]
    consumer = make_consumer(db, bus, schema, handler, *subjects)
    version = bus.nc.connected_server_version
    if (version.major, version.minor) < (2, 10):
        # The server would silently ignore filter_subjects and deliver the whole stream.
        with pytest.raises(RuntimeError, match=r"NATS >= 2\.10"):
            await consumer.ensure_consumer()
        return
    first, unwanted, second = event("FIRST"), event("UNWANTED"), event("SECOND")
    await publish(bus, subjects[0], first.SerializeToString())
    await publish(bus, bus.settings.subject(schema, "third", "happened"), unwanted.SerializeToString())
    last = await publish(bus, subjects[1], second.SerializeToString())

    async with running(consumer.run):
        await eventually(lambda: settled(bus, consumer, last), what="both wanted events to be handled")

    assert handler.calls == [first.event_id, second.event_id]
