"""A durable JetStream consumer whose handler runs once per event.

The inbox row and the handler's changes commit together, so a redelivered
event finds its id in the inbox and has no second effect. A handler that keeps
failing is retried with a growing delay, then its event is copied to the
dead-letter subject and terminated. Failures of the infrastructure (database,
network, another service away) are retried without limit instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import grpc
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError, NotFoundError
from prometheus_client import Counter, Gauge

from omnistock.common.v1 import common_pb2
from omnistock_platform import errors, telemetry
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.envelope import unpack_payload
from omnistock_platform.logging import get_logger, request_id_var
from omnistock_platform.loops import pause, repeat

log = get_logger(__name__)

Handler = Callable[[asyncpg.Connection, common_pb2.EventEnvelope, Message], Awaitable[None]]
# Whether an event can matter to the handler at all; one that cannot is acknowledged unhandled.
Wanted = Callable[[Message], bool]


# Failures of the infrastructure, not of the event: retried for as long as it
# takes and never dead-lettered, so an outage of PostgreSQL or of another
# service loses no event.
_TRANSIENT_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    errors.Unavailable,
    errors.Aborted,
    errors.ResourceExhausted,
)
_TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNKNOWN,
    }
)
MAX_RETRY_DELAY = 10.0

# Lag is read from JetStream this often, on its own schedule (a busy consumer is measured too).
MEASURE_SECONDS = 5.0
PENDING = Gauge(
    "omnistock_consumer_pending_messages", "Events in the stream not yet delivered to the consumer", ["consumer"]
)
UNACKNOWLEDGED = Gauge(
    "omnistock_consumer_unacknowledged_messages", "Events delivered and not yet acknowledged", ["consumer"]
)
EVENTS = Counter(
    "omnistock_consumer_events_total",
    "Events a consumer finished with: handled, duplicate (already in the inbox), skipped (of no use to it),"
    " retried, dead_lettered",
    ["consumer", "outcome"],
)
REDELIVERIES = Counter("omnistock_consumer_redeliveries_total", "Events delivered again after a failure", ["consumer"])
DEAD_LETTERS = Counter(
    "omnistock_consumer_dead_letters_total", "Events copied to the dead-letter subject and terminated", ["consumer"]
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code() in _TRANSIENT_CODES
    return isinstance(error, _TRANSIENT_ERRORS)


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
        wanted: Wanted | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.schema = schema
        self.durable = durable
        self.subjects = list(subjects)
        if not self.subjects:
            # No filter would deliver the whole stream, this consumer's own dead letters included.
            raise ValueError(f"consumer {durable!r} needs at least one subject")
        self.handler = handler
        # A subject can carry many events a handler has no use for (every stock change, for one that
        # waits for stock to rise): those cost no transaction and no inbox row, as handling them
        # would change nothing.
        self.wanted = wanted
        self.batch_size = batch_size
        settings = bus.settings
        self.max_deliver = settings.consumer_max_deliver
        self.retry_delay = settings.consumer_retry_delay.total_seconds()
        self.dead_letter = dead_letter_subject(settings.subject_prefix, durable)

    def config(self) -> ConsumerConfig:
        # One subject goes in filter_subject, which every JetStream server honours;
        # filter_subjects needs NATS >= 2.10 and older servers silently ignore it.
        single = len(self.subjects) == 1
        return ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.bus.settings.consumer_ack_wait.total_seconds(),
            # Unbounded here: this class decides when an event is dead-lettered, and an
            # outage of a dependency must never make JetStream drop an event silently.
            max_deliver=-1,
            filter_subject=self.subjects[0] if single else None,
            filter_subjects=None if single else self.subjects,
            max_ack_pending=1000,
        )

    async def ensure_consumer(self) -> None:
        """Create the durable consumer if missing, and make sure the server filters as asked:
        an unfiltered consumer would handle every event of the system, dead letters included."""
        js, stream = self.bus.js, self.bus.settings.stream_name
        try:
            info = await js.consumer_info(stream, self.durable)
            created = False
        except NotFoundError:
            info = await js.add_consumer(stream, self.config())
            created = True
        found = _filters(info.config)
        if found == sorted(self.subjects):
            return
        if created:
            await js.delete_consumer(stream, self.durable)
            raise RuntimeError(
                f"consumer {self.durable!r}: the NATS server ignored filter_subjects {self.subjects};"
                " a consumer of several subjects needs NATS >= 2.10"
            )
        raise RuntimeError(
            f"consumer {self.durable!r} exists with subjects {found}, not {sorted(self.subjects)}; delete it"
        )

    async def run(self, stop: asyncio.Event) -> None:
        telemetry.service_var.set(self.schema)
        meter = asyncio.create_task(self._measure(stop))
        try:
            await self._run(stop)
        finally:
            meter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await meter

    async def measure(self) -> tuple[int, int]:
        """Read the consumer's lag from JetStream into the gauges: (pending, unacknowledged)."""
        info = await self.bus.js.consumer_info(self.bus.settings.stream_name, self.durable)
        pending, unacknowledged = int(info.num_pending or 0), int(info.num_ack_pending or 0)
        PENDING.labels(self.durable).set(pending)
        UNACKNOWLEDGED.labels(self.durable).set(unacknowledged)
        return pending, unacknowledged

    async def _measure(self, stop: asyncio.Event) -> None:
        # NATS away, or the consumer not made yet: the figures stay as last read.
        async def measure() -> None:
            await self.measure()

        await repeat(
            stop, MEASURE_SECONDS, measure, failed="consumer.measure_failed", level="debug", consumer=self.durable
        )

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            subscription: JetStreamContext.PullSubscription | None = None
            try:
                subscription = await self._subscribe()
                await self._consume(subscription, stop)
            except Exception as error:  # NATS away or restarted: subscribe again
                log.warning("consumer.restarting", consumer=self.durable, error=repr(error))
                await pause(stop, 1.0)
            finally:
                if subscription is not None:
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        await self.ensure_consumer()
        return await self.bus.js.pull_subscribe_bind(durable=self.durable, stream=self.bus.settings.stream_name)

    async def _consume(self, subscription: JetStreamContext.PullSubscription, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(self.batch_size, timeout=1.0)
            except (FetchTimeoutError, TimeoutError):
                continue
            for message in messages:
                await self.process(message)

    async def process(self, message: Msg) -> None:
        if message.metadata.num_delivered > 1:
            REDELIVERIES.labels(self.durable).inc()
        if not telemetry.enabled():
            await self._process(message)
            return
        headers = message.headers or {}
        attributes = {
            "messaging.message.id": headers.get("Nats-Msg-Id", ""),
            "delivery": message.metadata.num_delivered,
        }
        with telemetry.consuming(headers, message.subject, self.durable, attributes):
            await self._process(message)

    async def _process(self, message: Msg) -> None:
        try:
            envelope = common_pb2.EventEnvelope.FromString(message.data)
            # The inbox keys on the event id: without a valid one the event can never be handled.
            uuid.UUID(envelope.event_id)
            payload = unpack_payload(envelope)
        except (DecodeError, KeyError, TypeError, ValueError) as error:
            await self._dead_letter(message, f"undecodable event: {error!r}")
            return
        if self.wanted is not None and not self.wanted(payload):
            await message.ack()
            EVENTS.labels(self.durable, "skipped").inc()
            return
        token = request_id_var.set(envelope.request_id)
        try:
            first_time = await self._handle_once(envelope, payload)
        except PoisonEvent as error:
            telemetry.failed(error)
            await self._dead_letter(message, str(error))
        except Exception as error:
            telemetry.failed(error)
            deliveries = message.metadata.num_delivered
            transient = is_transient(error)
            if deliveries >= self.max_deliver and not transient:
                await self._dead_letter(message, repr(error))
            else:
                log.warning(
                    "consumer.handler_failed",
                    consumer=self.durable,
                    event_id=envelope.event_id,
                    type=envelope.type,
                    delivery=deliveries,
                    transient=transient,
                    error=repr(error),
                )
                EVENTS.labels(self.durable, "retried").inc()
                await message.nak(delay=min(self.retry_delay * deliveries, MAX_RETRY_DELAY))
        else:
            await message.ack()
            EVENTS.labels(self.durable, "handled" if first_time else "duplicate").inc()
        finally:
            request_id_var.reset(token)

    async def _handle_once(self, envelope: common_pb2.EventEnvelope, payload: Message) -> bool:
        """Whether the event was handled now (False: its id was in the inbox already)."""
        async with self.db.transaction() as conn:
            first_time = await conn.fetchval(
                f"INSERT INTO {self.schema}.inbox (consumer, event_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING RETURNING true",
                self.durable,
                envelope.event_id,
            )
            if first_time:
                await self.handler(conn, envelope, payload)
            return bool(first_time)

    async def _dead_letter(self, message: Msg, reason: str) -> None:
        log.error("consumer.dead_lettered", consumer=self.durable, subject=message.subject, reason=reason)
        DEAD_LETTERS.labels(self.durable).inc()
        EVENTS.labels(self.durable, "dead_lettered").inc()
        headers = {
            "Omnistock-Original-Subject": message.subject,
            "Omnistock-Error": reason[:512],
            "Nats-Msg-Id": f"dlq-{self.durable}-{message.metadata.sequence.stream}",
        }
        if message.headers and telemetry.TRACEPARENT in message.headers:  # the dead letter stays in its trace
            headers[telemetry.TRACEPARENT] = message.headers[telemetry.TRACEPARENT]
        await self.bus.js.publish(self.dead_letter, message.data, headers=headers)
        await message.term()


def _filters(config: ConsumerConfig) -> list[str]:
    if config.filter_subject:
        return [config.filter_subject]
    return sorted(config.filter_subjects or [])
