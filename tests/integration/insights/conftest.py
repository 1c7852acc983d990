"""Fixtures for insights tests: the running service, and a publisher of the other services' events."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_platform.events.bus import EventBus
from omnistock_platform.testing.stack import Stack

from .journeys import DAY, Publisher


@pytest_asyncio.fixture
async def insights(stack: Stack) -> Any:
    return stack.stub("insights", role="admin")


@pytest.fixture
def publisher(bus: EventBus) -> Publisher:
    return Publisher(bus)


async def rows_at(insights: Any, location_id: str, **request: Any) -> list[pb.ChannelInsights]:
    """Every row of one location on the journeys' day (unless told otherwise), all pages."""
    query = {"from_date": DAY.isoformat(), "to_date": DAY.isoformat(), **request, "location_id": location_id}
    found: list[pb.ChannelInsights] = []
    token = ""
    while True:
        reply = await insights.GetChannelInsights(pb.GetChannelInsightsRequest(**query, page_token=token))
        found.extend(reply.rows)
        token = reply.next_page_token
        if not token:
            return found
