"""Every event of the bus, turned into one pending delivery per subscription that wants it.

Runs in the consumer's transaction, with the inbox row: an event is queued for its subscribers once,
and only then acknowledged to JetStream. Its body is rendered here, once, so that every attempt and
every subscriber gets the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC

import asyncpg
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock_platform.events.catalogue import EventEntry, key_of
from omnistock_platform.logging import get_logger
from omnistock_webhooks.adapters import messages, repository
from omnistock_webhooks.domain.subscription import wants

log = get_logger(__name__)


class FanOut:
    def __init__(self, catalogue: Mapping[str, EventEntry]) -> None:
        self.catalogue = catalogue

    def ordering_key(self, envelope: common_pb2.EventEnvelope, payload: Message) -> str:
        entry = self.catalogue.get(envelope.type)
        if entry is not None and entry.payload != payload.DESCRIPTOR.full_name:
            log.warning(
                "webhooks.unexpected_payload",
                type=envelope.type,
                payload=payload.DESCRIPTOR.full_name,
                catalogue=entry.payload,
            )
            entry = None
        return key_of(entry, payload, envelope.event_id)

    async def queue(
        self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message, stream_seq: int
    ) -> int:
        """How many subscriptions the event was queued for."""
        happened = envelope.time.ToDatetime(tzinfo=UTC)
        subscribers = [
            row["subscription_id"]
            for row in await repository.subscribers_at(conn, happened)
            if wants(row["event_types"], envelope.type)
        ]
        if not subscribers:
            return 0
        await repository.queue_event(
            conn,
            envelope.event_id,
            envelope.type,
            messages.body(envelope, payload),
            stream_seq,
            self.ordering_key(envelope, payload),
            subscribers,
        )
        await repository.notify(conn)
        return len(subscribers)
