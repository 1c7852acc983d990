"""RebuildInsights: empty the projection and count the stream again, from its first event.

The whole replay is one transaction: readers see the old figures until the new
ones commit, a failed rebuild leaves the old ones in place, and the live
consumer waits (see repository.lock_and_clear), then carries on with the
events the replay did not reach. Events it had already counted are in
applied_events again and are not counted twice.
"""

from __future__ import annotations

import asyncpg

from omnistock.insights.v1 import insights_pb2
from omnistock_insights.adapters import repository
from omnistock_insights.adapters.events import Uncountable
from omnistock_insights.adapters.stream import StreamReplay, decode
from omnistock_insights.service_layer.projection import Projection
from omnistock_platform.db import Database
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.logging import get_logger
from omnistock_platform.validation import Validator

log = get_logger(__name__)


class Rebuild:
    def __init__(
        self,
        db: Database,
        projection: Projection,
        replay: StreamReplay,
        idempotency: IdempotencyStore,
    ) -> None:
        self.db = db
        self.projection = projection
        self.replay = replay
        self.idempotency = idempotency

    async def rebuild(self, request: insights_pb2.RebuildInsightsRequest) -> insights_pb2.RebuildInsightsResponse:
        check = Validator()
        check.text("request_id", request.request_id, required=True)
        check.raise_if_invalid()
        return await self.idempotency.run(
            self.db,
            "RebuildInsights",
            request.request_id,
            request,
            insights_pb2.RebuildInsightsResponse,
            self._replay,
        )

    async def _replay(self, conn: asyncpg.Connection) -> insights_pb2.RebuildInsightsResponse:
        await repository.lock_and_clear(conn)
        response = insights_pb2.RebuildInsightsResponse()
        async for stored in self.replay.events():
            response.events_read += 1
            response.through_sequence = stored.sequence
            decoded = decode(stored.data)
            if decoded is None:
                response.events_rejected += 1
                continue
            envelope, payload = decoded
            try:
                change = await self.projection.apply(conn, envelope, payload)
            except Uncountable as error:
                log.warning("insights.rebuild_rejected", sequence=stored.sequence, reason=str(error))
                response.events_rejected += 1
                continue
            if change is None:
                continue
            response.events_applied += 1
            if not response.HasField("first_event_time"):
                response.first_event_time.CopyFrom(envelope.time)
            response.last_event_time.CopyFrom(envelope.time)
        log.info(
            "insights.rebuilt",
            events_read=response.events_read,
            events_applied=response.events_applied,
            events_rejected=response.events_rejected,
            through_sequence=response.through_sequence,
        )
        return response
