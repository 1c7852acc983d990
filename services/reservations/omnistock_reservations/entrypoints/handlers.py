"""Events reservations consumes: inventory telling it a hold ran out."""

from __future__ import annotations

import asyncpg
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock_platform.events.consumer import Handler, PoisonEvent
from omnistock_reservations.service_layer.syncing import HoldSync


def on_hold_expired(sync: HoldSync) -> Handler:
    async def handle(conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        if not isinstance(payload, inventory_pb2.HoldChanged):
            raise PoisonEvent(f"{envelope.type} carries {payload.DESCRIPTOR.full_name}, not HoldChanged")
        await sync.hold_expired(conn, payload.hold.hold_id, payload.hold.owner)

    return handle
