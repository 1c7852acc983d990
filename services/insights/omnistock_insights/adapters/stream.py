"""The event stream as the projection reads it: live through the durable consumer, from the
start through an ephemeral one when it is rebuilt."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import FetchTimeoutError

from omnistock.common.v1 import common_pb2
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.envelope import unpack_payload
from omnistock_platform.settings import Settings

REPLAY_BATCH = 256


def event_filter(settings: Settings) -> str:
    """Every event of every service: <prefix>.<service>.<entity>.<event>.

    One wildcard keeps the events in stream order within one consumer and works on every NATS
    server (several filter subjects need 2.10). Dead letters (<prefix>.deadletter.<consumer>)
    have one token fewer and stay out; events the projection does not count are acknowledged unread.
    """
    return settings.subject("*", "*", "*")


@dataclass(frozen=True)
class StoredEvent:
    sequence: int
    data: bytes


class StreamReplay:
    """Reads the stream from its first event up to the last one there when the replay began."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def events(self) -> AsyncIterator[StoredEvent]:
        js, stream = self.bus.js, self.bus.settings.stream_name
        last = (await js.stream_info(stream)).state.last_seq
        if not last:
            return
        subject = event_filter(self.bus.settings)
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            # Ephemeral: the server drops it soon after the replay stops asking, even if we crash.
            inactive_threshold=60.0,
            mem_storage=True,
        )
        subscription = await js.pull_subscribe(subject, stream=stream, config=config)
        info = await subscription.consumer_info()
        try:
            if info.num_pending == 0:
                return
            while True:
                try:
                    messages = await subscription.fetch(REPLAY_BATCH, timeout=2.0)
                except (FetchTimeoutError, NatsTimeoutError, TimeoutError):
                    if (await subscription.consumer_info()).num_pending == 0:
                        return
                    continue
                for message in messages:
                    metadata = message.metadata
                    if metadata.sequence.stream > last:
                        return
                    yield StoredEvent(metadata.sequence.stream, message.data)
                    if metadata.sequence.stream == last or metadata.num_pending == 0:
                        return
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            with contextlib.suppress(Exception):
                await js.delete_consumer(stream, info.name)


def decode(data: bytes) -> tuple[common_pb2.EventEnvelope, Message] | None:
    """The envelope and payload of a stored event; None for one the live consumer dead-letters."""
    try:
        envelope = common_pb2.EventEnvelope.FromString(data)
        uuid.UUID(envelope.event_id)
        return envelope, unpack_payload(envelope)
    except (DecodeError, KeyError, TypeError, ValueError):
        return None
