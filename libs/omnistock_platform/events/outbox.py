"""The transactional outbox: events are rows written with the change they describe."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from google.protobuf.message import Message

from omnistock_platform import telemetry
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.settings import Settings
from omnistock_platform.statement import Statement


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
        '<entity>.<event>', for `add_many`. `traceparent`: the trace the event belongs to, when it is not
        the current one (a change made on behalf of a caller that waits elsewhere)."""
        envelope = new_envelope(f"{self.service}.{event_type}", payload, source=self.service, request_id=request_id)
        trace = traceparent if traceparent is not None else telemetry.traceparent()
        return envelope.event_id, self.subject(event_type), envelope.SerializeToString(), trace

    def add_many(self, statement: Statement, events: Sequence[tuple[str, str, bytes, str | None]]) -> None:
        """Queue events made by `prepare` as a part of `statement`, which wakes the relay at commit.
        The one place that writes the outbox table."""
        if not events:
            return
        rows = statement.unnest(list(zip(*events, strict=True)), ("uuid[]", "text[]", "bytea[]", "text[]"))
        statement.add(
            f"INSERT INTO {self.service}.outbox (event_id, subject, envelope, traceparent) SELECT * FROM {rows}"
        )
        # pg_notify takes the channel name verbatim, as the relay's LISTEN does (a bare NOTIFY
        # identifier would be folded to lower case).
        statement.notify(self.channel)

    async def add(
        self, conn: asyncpg.Connection, event_type: str, payload: Message, request_id: str | None = None
    ) -> str:
        """Queue an event of type '<entity>.<event>' in the caller's transaction: the row and the
        NOTIFY that wakes the relay at commit, in one round trip."""
        event = self.prepare(event_type, payload, request_id)
        statement = Statement()
        self.add_many(statement, [event])
        await statement.execute(conn)
        return event[0]
