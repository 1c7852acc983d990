"""Watching the event stream from a test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from omnistock.common.v1 import common_pb2
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.envelope import unpack_payload


class EventTap:
    """Collects every event on a subject filter from the moment it starts."""

    def __init__(self, bus: EventBus, subject_filter: str) -> None:
        self.bus = bus
        self.subject_filter = subject_filter
        self.events: list[tuple[common_pb2.EventEnvelope, Message]] = []
        self._changed = asyncio.Condition()
        self._subscription: object = None

    async def start(self) -> EventTap:
        async def on_message(message: Msg) -> None:
            envelope = common_pb2.EventEnvelope.FromString(message.data)
            async with self._changed:
                self.events.append((envelope, unpack_payload(envelope)))
                self._changed.notify_all()

        self._subscription = await self.bus.js.subscribe(
            self.subject_filter,
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            stream=self.bus.settings.stream_name,
        )
        return self

    async def wait_for(
        self, predicate: Callable[[common_pb2.EventEnvelope, Message], bool], timeout: float = 10.0
    ) -> tuple[common_pb2.EventEnvelope, Message]:
        async def found() -> tuple[common_pb2.EventEnvelope, Message]:
            async with self._changed:
                while True:
                    for envelope, payload in self.events:
                        if predicate(envelope, payload):
                            return envelope, payload
                    await self._changed.wait()

        return await asyncio.wait_for(found(), timeout)

    def of_type(self, event_type: str) -> list[Message]:
        return [payload for envelope, payload in self.events if envelope.type == event_type]

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()  # type: ignore[attr-defined]
