"""A durable JetStream consumer whose handler runs once per event.

The inbox row and the handler's changes commit together, so a redelivered
event finds its id in the inbox and has no second effect. A handler that keeps
failing is retried with a growing delay, then its event is copied to the
dead-letter subject and terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js import JetStreamContext
from nats.js.errors import FetchTimeoutError, NotFoundError

from omnistock.common.v1 import common_pb2
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.envelope import unpack_payload
from omnistock_platform.logging import get_logger, request_id_var

log = get_logger(__name__)

Handler = Callable[[asyncpg.Connection, common_pb2.EventEnvelope, Message], Awaitable[None]]


class PoisonEvent(Exception):
    """Raised by a handler for an event that can never be handled: dead-lettered at once."""


def dead_letter_subject(prefix: str, durable: str) -> str:
    return f"{prefix}.deadletter.{durable}"


class EventConsumer:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        schema: str,
        durable: str,
        subjects: Sequence[str],
        handler: Handler,
        batch_size: int = 64,
    ) -> None:
        self.db = db
        self.bus = bus
        self.schema = schema
        self.durable = durable
        self.subjects = list(subjects)
        self.handler = handler
        self.batch_size = batch_size
        settings = bus.settings
        self.max_deliver = settings.consumer_max_deliver
        self.retry_delay = settings.consumer_retry_delay.total_seconds()
        self.dead_letter = dead_letter_subject(settings.subject_prefix, durable)

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30.0,
            # One more than our own limit: we dead-letter on the last try ourselves.
            max_deliver=self.max_deliver + 1,
            filter_subjects=self.subjects,
            max_ack_pending=1000,
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                subscription = await self._subscribe()
                await self._consume(subscription, stop)
            except Exception as error:  # NATS away or restarted: subscribe again
                log.warning("consumer.restarting", consumer=self.durable, error=repr(error))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        js, stream = self.bus.js, self.bus.settings.stream_name
        try:
            await js.consumer_info(stream, self.durable)
        except NotFoundError:
            await js.add_consumer(stream, self.config())
        return await js.pull_subscribe_bind(durable=self.durable, stream=stream)

    async def _consume(self, subscription: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(self.batch_size, timeout=1.0)
            except (FetchTimeoutError, TimeoutError):
                continue
            for message in messages:
                await self.process(message)

    async def process(self, message: Msg) -> None:
        try:
            envelope = common_pb2.EventEnvelope.FromString(message.data)
            payload = unpack_payload(envelope)
        except (DecodeError, KeyError, TypeError) as error:
            await self._dead_letter(message, f"undecodable event: {error!r}")
            return
        token = request_id_var.set(envelope.request_id)
        try:
            await self._handle_once(envelope, payload)
        except PoisonEvent as error:
            await self._dead_letter(message, str(error))
        except Exception as error:
            deliveries = message.metadata.num_delivered
            if deliveries >= self.max_deliver:
                await self._dead_letter(message, repr(error))
            else:
                log.warning(
                    "consumer.handler_failed",
                    consumer=self.durable,
                    event_id=envelope.event_id,
                    type=envelope.type,
                    delivery=deliveries,
                    error=repr(error),
                )
                await message.nak(delay=self.retry_delay * deliveries)
        else:
            await message.ack()
        finally:
            request_id_var.reset(token)

    async def _handle_once(self, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        async with self.db.transaction() as conn:
            first_time = await conn.fetchval(
                f"INSERT INTO {self.schema}.inbox (consumer, event_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING true",
                self.durable,
                envelope.event_id,
            )
            if first_time:
                await self.handler(conn, envelope, payload)

    async def _dead_letter(self, message: Msg, reason: str) -> None:
        log.error("consumer.dead_lettered", consumer=self.durable, subject=message.subject, reason=reason)
        headers = {
            "Omnistock-Original-Subject": message.subject,
            "Omnistock-Error": reason[:512],
            "Nats-Msg-Id": f"dlq-{self.durable}-{message.metadata.sequence.stream}",
        }
        await self.bus.js.publish(self.dead_letter, message.data, headers=headers)
        await message.term()
