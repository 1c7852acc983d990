"""The fan-out consumer: every event of the bus, in stream order, into the delivery queues."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

import asyncpg
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from omnistock.common.v1 import common_pb2
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.consumer import EventConsumer
from omnistock_platform.settings import Settings
from omnistock_webhooks.service_layer.fanout import FanOut

DURABLE = "webhooks-fanout"
# The stream sequence of the event being handled: the order of deliveries of one entity.
stream_sequence: ContextVar[int] = ContextVar("stream_sequence", default=0)


class FanOutConsumer(EventConsumer):
    """EventConsumer (inbox, retries, dead letters) that also hands the handler the stream sequence,
    starts with the events published after it was first created (no subscription can want older
    ones), and reports each event it is done with."""

    def __init__(self, settings: Settings, db: Database, bus: EventBus, fanout: FanOut, wake: asyncio.Event) -> None:
        # Every event of every service, <prefix>.<service>.<entity>.<event>: one filter keeps stream
        # order; dead letters (<prefix>.deadletter.<consumer>) have a token fewer and stay out.
        super().__init__(
            db, bus, schema="webhooks", durable=DURABLE, subjects=[settings.subject("*", "*", "*")], handler=self.handle
        )
        self.fanout = fanout
        # Set once an event that queued deliveries is acknowledged: the dispatcher may send them.
        self.wake = wake
        self._queued = False

    def config(self) -> ConsumerConfig:
        config = super().config()
        config.deliver_policy = DeliverPolicy.NEW
        return config

    async def process(self, message: Msg) -> None:
        token = stream_sequence.set(message.metadata.sequence.stream)
        try:
            await super().process(message)
        finally:
            stream_sequence.reset(token)
            if self._queued:
                self._queued = False
                self.wake.set()

    async def handle(self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        if await self.fanout.queue(conn, envelope, payload, stream_sequence.get()):
            self._queued = True

    async def ack_floor(self) -> int:
        """The stream sequence up to which every event has been handled (queued or dead-lettered)."""
        try:
            info = await self.bus.js.consumer_info(self.bus.settings.stream_name, self.durable)
        except NotFoundError:  # not made yet (the consumer's loop makes it): nothing was handled
            return 0
        return int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0
