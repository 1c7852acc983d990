"""The envelope every event travels in, and decoding of its payload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf import any_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock_platform.logging import request_id_var


def new_envelope(
    event_type: str, payload: Message, source: str, request_id: str | None = None
) -> common_pb2.EventEnvelope:
    envelope = common_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()),
        type=event_type,
        source=source,
        request_id=request_id if request_id is not None else request_id_var.get(),
    )
    envelope.time.FromDatetime(datetime.now(UTC))
    packed = any_pb2.Any()
    packed.Pack(payload)
    envelope.payload.CopyFrom(packed)
    return envelope


def unpack_payload(envelope: common_pb2.EventEnvelope) -> Message:
    """The payload as its own message class, found by the type URL in the Any."""
    full_name = envelope.payload.type_url.rsplit("/", 1)[-1]
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    message = message_factory.GetMessageClass(descriptor)()
    envelope.payload.Unpack(message)
    return message
