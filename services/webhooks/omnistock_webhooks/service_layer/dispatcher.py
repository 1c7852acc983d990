"""Sends due deliveries, records each attempt, and retries, kills or finishes them.

Order per entity: only the head of a (subscription, ordering key) queue is ever sent, and the next
one becomes the head once it is delivered or dead. The head is the pending delivery earliest in the
stream, and a delivery is sent only once the fan-out consumer has acknowledged every event up to it
(JetStream's ack floor): an earlier event of the same entity cannot be queued after it any more.

Independence: a process sends at most `webhook_concurrency` deliveries at once and at most
`webhook_subscription_concurrency` to one subscription, so an endpoint that hangs or is down holds
only its own; every attempt ends within `webhook_timeout`.

At least once: a delivery is leased while it is sent; a process that dies meanwhile leaves the lease
to run out, and the delivery is sent again (with the same webhook-id).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from prometheus_client import Counter as Metric
from prometheus_client import Histogram

from omnistock_platform.db import Database
from omnistock_platform.events.consumer import is_transient
from omnistock_platform.logging import get_logger
from omnistock_platform.loops import listen, repeat, wake_or_pause
from omnistock_webhooks.adapters import repository
from omnistock_webhooks.adapters.repository import Claimed
from omnistock_webhooks.adapters.sender import Sender
from omnistock_webhooks.domain.delivery import Attempt, State, retry_delay, signed_headers, succeeded
from omnistock_webhooks.settings import WebhooksSettings

log = get_logger(__name__)

ATTEMPTS = Metric("omnistock_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
LATENCY = Histogram(
    "omnistock_webhook_attempt_seconds",
    "Webhook attempt latency",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PURGE_SECONDS = 3600.0

Floor = Callable[[], Awaitable[int]]


class Dispatcher:
    def __init__(
        self, db: Database, sender: Sender, settings: WebhooksSettings, floor: Floor, wake: asyncio.Event
    ) -> None:
        self.db = db
        self.sender = sender
        self.settings = settings
        self.floor = floor
        # Set by the fan-out, by a finished attempt and by NOTIFY: there may be something to send.
        self.wake = wake
        self.lease = settings.webhook_timeout * 2 + timedelta(seconds=10)
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.per_subscription: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop))
        backoff = 0.1
        try:
            while not stop.is_set():
                self.wake.clear()
                try:
                    started = await self.dispatch()
                    backoff = 0.1
                except Exception as error:  # PostgreSQL or NATS away: try again
                    log.warning("webhooks.dispatch_failed", error=repr(error), retry_in=backoff)
                    await wake_or_pause(stop, self.wake, backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if started and len(self.in_flight) < self.settings.webhook_concurrency:
                    continue
                await wake_or_pause(stop, self.wake, self.settings.webhook_poll_interval.total_seconds())
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            # Attempts under way finish (each ends within the timeout) and are recorded.
            if self.in_flight:
                await asyncio.wait(list(self.in_flight.values()), timeout=self.lease.total_seconds())
            await self.sender.close()

    async def dispatch(self) -> int:
        """Starts the deliveries that are due, as many as there is room for; answers how many."""
        room = self.settings.webhook_concurrency - len(self.in_flight)
        if room <= 0:
            return 0
        cap = self.settings.webhook_subscription_concurrency
        busy = [subscription for subscription, count in self.per_subscription.items() if count >= cap]
        floor = await self.floor()
        async with self.db.transaction() as conn:
            due = await repository.due_heads(conn, floor, cap, room, busy)
            chosen: list[int] = []
            taken: Counter[str] = Counter()
            for row in due:
                subscription = row["subscription_id"]
                if self.per_subscription[subscription] + taken[subscription] < cap:
                    taken[subscription] += 1
                    chosen.append(row["delivery_id"])
            claimed = (
                await repository.claim(conn, chosen, self.lease, self.settings.webhook_max_attempts) if chosen else []
            )
        for delivery in claimed:
            self.per_subscription[delivery.subscription_id] += 1
            task = asyncio.create_task(self._deliver(delivery))
            self.in_flight[delivery.delivery_id] = task
        return len(claimed)

    async def _deliver(self, delivery: Claimed) -> None:
        try:
            await self.attempt(delivery)
        except Exception as error:  # recorded by nobody: the lease runs out and it is sent again
            log.warning("webhooks.record_failed", delivery_id=delivery.delivery_id, error=repr(error))
        finally:
            self.in_flight.pop(delivery.delivery_id, None)
            self.per_subscription[delivery.subscription_id] -= 1
            if self.per_subscription[delivery.subscription_id] <= 0:
                del self.per_subscription[delivery.subscription_id]
            self.wake.set()  # room again, and the next delivery of its queue may be due now

    async def attempt(self, delivery: Claimed) -> State:
        started = datetime.now(UTC)
        headers = signed_headers(delivery.event_id, started, delivery.body, delivery.secrets)
        outcome = await self.sender.post(delivery.url, delivery.body, headers)
        LATENCY.observe(outcome.latency.total_seconds())
        in_round = delivery.attempt - delivery.round_start
        if succeeded(outcome.status_code):
            state = State.DELIVERED
        elif in_round >= delivery.max_attempts:
            state = State.DEAD
        else:
            state = State.PENDING
        delay = retry_delay(in_round, self.settings.webhook_retry_base, self.settings.webhook_retry_max)
        attempt = Attempt(started, outcome, state, delay)

        async def record() -> None:
            async with self.db.transaction() as conn:
                await repository.record_outcome(conn, delivery, attempt)

        await self._while_leased(record)
        ATTEMPTS.labels(outcome="delivered" if state is State.DELIVERED else "failed").inc()
        # The host only: a URL's path or query may carry a partner's token.
        fields = {
            "subscription_id": delivery.subscription_id,
            "delivery_id": delivery.delivery_id,
            "event_id": delivery.event_id,
            "host": urlsplit(delivery.url).hostname,
            "attempt": delivery.attempt,
            "status": outcome.status_code,
            "latency_ms": round(outcome.latency.total_seconds() * 1000, 1),
        }
        if state is State.DELIVERED:
            log.info("webhooks.delivered", **fields)
        elif state is State.DEAD:
            log.warning("webhooks.dead", error=outcome.error, **fields)
        else:
            log.info("webhooks.attempt_failed", error=outcome.error, **fields)
        return state

    async def _while_leased(self, change: Callable[[], Awaitable[None]]) -> None:
        """Runs a change, again after a failure of the database (a lost connection, a deadlock)
        while the delivery's lease lasts; after that the delivery is sent again anyway."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease.total_seconds() / 2
        pause = 0.05
        while True:
            try:
                await change()
                return
            except Exception as error:
                if not is_transient(error) or loop.time() + pause > deadline:
                    raise
                log.info("webhooks.record_retried", error=repr(error))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

    async def purge(self, stop: asyncio.Event) -> None:
        """Delivered and dead deliveries are kept for the retention period, then dropped."""

        async def purge() -> None:
            async with self.db.transaction() as conn:
                await repository.purge_finished(conn, self.settings.webhook_retention)

        await repeat(stop, PURGE_SECONDS, purge, failed="webhooks.purge_failed")

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for queued, replayed and resumed deliveries; polling covers a lost connection."""
        await listen(stop, self.db.url, repository.CHANNEL, self.wake, failed="webhooks.listen_failed")
