"""Publishes outbox rows to JetStream until each is acknowledged.

A row is marked published only after JetStream acknowledged it. A crash
between the two republishes the row with the same Nats-Msg-Id, which the
stream drops inside its duplicate window; consumers' inboxes cover the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from prometheus_client import Counter, Gauge

from omnistock_platform import telemetry
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.logging import get_logger
from omnistock_platform.loops import listen, pause, repeat, wake_or_pause

log = get_logger(__name__)

PUBLISHED = Counter("omnistock_outbox_published_total", "Outbox events published to JetStream", ["service"])
PUBLISH_FAILURES = Counter(
    "omnistock_outbox_publish_failures_total", "Relay passes that failed (NATS or PostgreSQL away)", ["service"]
)
BACKLOG = Gauge("omnistock_outbox_unpublished_events", "Outbox events not yet published", ["service"])
OLDEST = Gauge(
    "omnistock_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest outbox event not yet published (0 when none waits)",
    ["service"],
)
# How often the backlog is counted: on its own schedule, so that it is known while publishing fails.
MEASURE_SECONDS = 5.0


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        service: str,
        *,
        batch_size: int = 256,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=1),
    ) -> None:
        self.db = db
        self.bus = bus
        self.service = service
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self._wake = asyncio.Event()

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were published."""
        async with self.db.transaction() as conn:
            # One publisher per schema at a time, whatever the number of processes: events
            # then leave in outbox order, so a row's versions reach consumers in order.
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", f"{self.service}.outbox"):
                return 0
            rows = await conn.fetch(
                f"SELECT id, event_id, subject, envelope, traceparent FROM {self.service}.outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
            )
            if not rows:
                return 0
            # Sent in order on one connection; acknowledgements are awaited together. Each message
            # carries the trace of the request that wrote it (telemetry.start_publish).
            acks = []
            spans = []
            for row in rows:
                headers = {"Nats-Msg-Id": str(row["event_id"])}
                spans.append(
                    telemetry.start_publish(
                        self.service, row["subject"], headers["Nats-Msg-Id"], row["traceparent"], headers
                    )
                )
                acks.append(self.bus.js.publish(row["subject"], bytes(row["envelope"]), headers=headers))
            try:
                await asyncio.gather(*acks)
            except BaseException as error:
                telemetry.end_spans(spans, error)
                raise
            telemetry.end_spans(spans)
            await conn.execute(
                f"UPDATE {self.service}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
            PUBLISHED.labels(self.service).inc(len(rows))
            return len(rows)

    async def measure(self) -> tuple[int, float]:
        """Count the events waiting and the age of the oldest (seconds) into the gauges; returns both."""
        row = await self.db.fetchrow(
            f"SELECT count(*) AS waiting, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age"
            f" FROM {self.service}.outbox WHERE published_at IS NULL"
        )
        assert row is not None
        waiting, age = int(row["waiting"]), max(0.0, float(row["age"]))
        BACKLOG.labels(self.service).set(waiting)
        OLDEST.labels(self.service).set(age)
        return waiting, age

    async def _measure(self, stop: asyncio.Event) -> None:
        # The database away: the figures stay as last read.
        async def measure() -> None:
            await self.measure()

        await repeat(
            stop, MEASURE_SECONDS, measure, failed="outbox.measure_failed", level="debug", service=self.service
        )

    async def purge_published(self) -> None:
        await self.db.execute(
            f"DELETE FROM {self.service}.outbox WHERE published_at < now() - $1::interval", self.retention
        )

    async def run(self, stop: asyncio.Event) -> None:
        telemetry.service_var.set(self.service)
        listener = asyncio.create_task(self._listen(stop))
        meter = asyncio.create_task(self._measure(stop))
        backoff = 0.1
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                # Cleared before the pass, not after it: a commit notified while the pass runs
                # must still wake the next wait instead of sitting out a whole poll interval.
                self._wake.clear()
                try:
                    published = await self.publish_pending()
                    backoff = 0.1
                except Exception as error:  # NATS or PostgreSQL away: retry with backoff
                    PUBLISH_FAILURES.labels(self.service).inc()
                    log.warning("outbox.publish_failed", service=self.service, error=repr(error), retry_in=backoff)
                    await pause(stop, backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if published == self.batch_size:
                    continue
                if loop.time() - last_purge > 600:
                    last_purge = loop.time()
                    with contextlib.suppress(Exception):
                        await self.purge_published()
                await wake_or_pause(stop, self._wake, self.poll_interval)
        finally:
            for task in (listener, meter):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for commits that wrote outbox rows; polling covers a lost connection."""
        await listen(
            stop, self.db.url, f"{self.service}_outbox", self._wake, failed="outbox.listen_failed", service=self.service
        )
