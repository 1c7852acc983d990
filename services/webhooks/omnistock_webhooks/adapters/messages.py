"""Rows to protobuf messages, and an event to the JSON body a receiver gets."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
from google.protobuf import json_format
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock_platform.events.catalogue import EventEntry
from omnistock_webhooks.domain.delivery import State

STATES = {
    State.PENDING: pb.DELIVERY_STATE_PENDING,
    State.DELIVERED: pb.DELIVERY_STATE_DELIVERED,
    State.DEAD: pb.DELIVERY_STATE_DEAD,
}
STATE_OF_PROTO = {value: key for key, value in STATES.items()}


def body(envelope: common_pb2.EventEnvelope, payload: Message) -> str:
    """The JSON a receiver gets (docs/webhooks.md): the envelope's fields and the payload in
    protobuf's canonical JSON mapping (lowerCamelCase names, 64-bit integers as strings, enum
    values by name), zero values included so that a count that fell to 0 is there to read."""
    data = json_format.MessageToDict(payload, always_print_fields_with_no_presence=True)
    document = {
        "id": envelope.event_id,
        "type": envelope.type,
        "timestamp": envelope.time.ToJsonString(),
        "source": envelope.source,
        "request_id": envelope.request_id,
        "data_type": payload.DESCRIPTOR.full_name,
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def subscription(row: asyncpg.Record, counts: tuple[int, int] = (0, 0)) -> pb.Subscription:
    message = pb.Subscription(
        subscription_id=row["subscription_id"],
        url=row["url"],
        event_types=list(row["event_types"]),
        description=row["description"],
        paused=row["paused"],
        max_attempts=row["max_attempts"],
        pending_deliveries=counts[0],
        dead_deliveries=counts[1],
    )
    message.create_time.FromDatetime(row["created_at"])
    message.update_time.FromDatetime(row["updated_at"])
    message.secret_create_time.FromDatetime(row["secret_created_at"])
    expires = row["previous_secret_expires_at"]
    if expires is not None and expires > datetime.now(UTC):
        message.previous_secret_expire_time.FromDatetime(expires)
    return message


def delivery(row: asyncpg.Record, attempts: Sequence[asyncpg.Record]) -> pb.Delivery:
    state = State(row["state"])
    message = pb.Delivery(
        delivery_id=str(row["delivery_id"]),
        subscription_id=row["subscription_id"],
        event_id=str(row["event_id"]),
        event_type=row["event_type"],
        ordering_key=row["ordering_key"],
        state=STATES[state],
        replays=row["replays"],
    )
    message.create_time.FromDatetime(row["created_at"])
    if state is State.PENDING and row["is_head"]:
        message.next_attempt_time.FromDatetime(row["next_attempt_at"])
    elif state is State.PENDING:
        message.waiting_for_earlier = True  # its time comes when the head of its queue finishes
    if row["finished_at"] is not None:
        message.finish_time.FromDatetime(row["finished_at"])
    for attempt in attempts:
        logged = message.attempts.add(
            number=attempt["number"], status_code=attempt["status_code"], error=attempt["error"]
        )
        logged.start_time.FromDatetime(attempt["started_at"])
        if attempt["latency"] is not None:
            logged.latency.FromTimedelta(attempt["latency"])
    return message


def event_type(entry: EventEntry) -> pb.EventType:
    return pb.EventType(
        type=entry.type,
        payload_type=entry.payload,
        published_when=entry.published_when,
        ordering_key=list(entry.ordering_key),
    )
