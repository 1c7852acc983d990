"""The transactional outbox: events are rows written with the change they describe."""

from __future__ import annotations

import asyncpg
from google.protobuf.message import Message

from omnistock_platform import telemetry
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.settings import Settings


class Outbox:
    """Writes a service's events into its own schema's outbox table."""

    def __init__(self, settings: Settings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.channel = f"{service}_outbox"

    def subject(self, event_type: str) -> str:
        return self.settings.subject(self.service, event_type)

    def prepare(
        self, event_type: str, payload: Message, request_id: str | None = None, traceparent: str | None = None
    ) -> tuple[str, str, bytes, str | None]:
        """The outbox row (event_id, subject, envelope, traceparent) of an event of type
        '<entity>.<event>', for a caller that writes many rows in one statement; it must also
        `pg_notify(self.channel)`. `traceparent`: the trace the event belongs to, when it is not
        the current one (a change made on behalf of a caller that waits elsewhere)."""
        envelope = new_envelope(f"{self.service}.{event_type}", payload, source=self.service, request_id=request_id)
        trace = traceparent if traceparent is not None else telemetry.traceparent()
        return envelope.event_id, self.subject(event_type), envelope.SerializeToString(), trace

    async def add(
        self, conn: asyncpg.Connection, event_type: str, payload: Message, request_id: str | None = None
    ) -> str:
        """Queue an event of type '<entity>.<event>' in the caller's transaction."""
        event_id, subject, envelope, traceparent = self.prepare(event_type, payload, request_id)
        # One round trip: the row, and the NOTIFY that wakes the relay at commit (NOTIFY is
        # transactional, so nothing leaks on rollback). A data-modifying WITH runs whether or not it
        # is read. pg_notify takes the channel name verbatim, as the relay's LISTEN does (a bare
        # NOTIFY identifier would be folded to lower case).
        await conn.execute(
            f"WITH queued AS (INSERT INTO {self.service}.outbox (event_id, subject, envelope, traceparent)"
            " VALUES ($1, $2, $3, $4)) SELECT pg_notify($5, '')",
            event_id,
            subject,
            envelope,
            traceparent,
            self.channel,
        )
        return event_id
