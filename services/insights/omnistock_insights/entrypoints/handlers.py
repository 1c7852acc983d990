"""The live projection: every event of the stream, counted once, as it comes."""

from __future__ import annotations

import asyncpg
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock_insights.adapters import metrics
from omnistock_insights.adapters.events import Uncountable
from omnistock_insights.adapters.stream import event_filter
from omnistock_insights.service_layer.projection import Projection
from omnistock_platform.db import Database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.consumer import EventConsumer, PoisonEvent
from omnistock_platform.settings import Settings

DURABLE = "insights-projection"


class LiveProjection:
    def __init__(self, projection: Projection) -> None:
        self.projection = projection

    async def handle(self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message) -> None:
        try:
            change = await self.projection.apply(conn, envelope, payload)
        except Uncountable as error:
            raise PoisonEvent(str(error)) from error
        if change:
            # Last, once everything else has succeeded: only a failed commit could still count it twice.
            metrics.record(change)


def consumer(settings: Settings, db: Database, bus: EventBus, live: LiveProjection) -> EventConsumer:
    return EventConsumer(
        db, bus, schema="insights", durable=DURABLE, subjects=[event_filter(settings)], handler=live.handle
    )
