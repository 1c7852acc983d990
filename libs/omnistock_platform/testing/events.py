"""Watching the event stream from a test."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from omnistock.common.v1 import common_pb2
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.catalogue import EventEntry, read_catalogue
from omnistock_platform.events.envelope import unpack_payload
from omnistock_platform.grpc.reflection import contract_files
from omnistock_platform.services import SERVICES


@functools.cache
def catalogue() -> dict[str, EventEntry]:
    """The event catalogue (docs/events.md), as the contract declares it."""
    return read_catalogue(contract_files())


class EventTap:
    """Collects every event on a subject filter from the moment it starts."""

    def __init__(self, bus: EventBus, subject_filter: str) -> None:
        self.bus = bus
        self.subject_filter = subject_filter
        self.events: list[tuple[common_pb2.EventEnvelope, Message]] = []
        self.subjects: list[str] = []
        self._changed = asyncio.Condition()
        self._subscription: object = None

    async def start(self) -> EventTap:
        async def on_message(message: Msg) -> None:
            envelope = common_pb2.EventEnvelope.FromString(message.data)
            async with self._changed:
                self.events.append((envelope, unpack_payload(envelope)))
                self.subjects.append(message.subject)
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

    def uncatalogued(self) -> list[str]:
        """Events a service published that the catalogue lacks, or whose payload is not the one it
        names ("<type> carrying <message>"). Dead-letter copies and events of no service (tests
        publish some of their own) are left out."""
        prefix = self.bus.settings.subject_prefix
        found = []
        for subject, (envelope, payload) in zip(self.subjects, self.events, strict=True):
            service = subject[len(prefix) + 1 :].split(".", 1)[0] if subject.startswith(f"{prefix}.") else ""
            if service not in SERVICES:
                continue
            entry = catalogue().get(envelope.type)
            if entry is None or entry.payload != payload.DESCRIPTOR.full_name:
                found.append(f"{envelope.type} carrying {payload.DESCRIPTOR.full_name}")
        return sorted(set(found))

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()  # type: ignore[attr-defined]
