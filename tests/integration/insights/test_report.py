"""Reading the figures: periods, pages, who may see what, and what a request must say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_platform.testing.stack import Stack, unique_id

from .conftest import rows_at
from .journeys import Publisher, Reservation, stock_changed

# Monday 2026-02-02 to Sunday 2026-02-15: two ISO weeks.
MONDAY = datetime(2026, 2, 2, 10, tzinfo=UTC)


async def a_fortnight(publisher: Publisher, store: str) -> None:
    """A chat reservation every day, and a web one on weekdays."""
    events = []
    for day in range(14):
        at = MONDAY + timedelta(days=day)
        events.append(Reservation(common_pb2.CHANNEL_CHAT, store, at).created())
        if at.weekday() < 5:
            events.append(Reservation(common_pb2.CHANNEL_WEB, store, at).created())
    await publisher.publish_all(events)


async def test_weeks_sum_their_days_within_the_range(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    await a_fortnight(publisher, store)

    # From a Wednesday to the second Tuesday: the weeks are cut at the range's ends.
    rows = await rows_at(insights, store, from_date="2026-02-04", to_date="2026-02-10", group_by=pb.GROUP_BY_WEEK)
    assert [(r.period_start, r.period_end, r.channel, r.reservations.created) for r in rows] == [
        ("2026-02-04", "2026-02-08", common_pb2.CHANNEL_CHAT, 5),
        ("2026-02-04", "2026-02-08", common_pb2.CHANNEL_WEB, 3),
        ("2026-02-09", "2026-02-10", common_pb2.CHANNEL_CHAT, 2),
        ("2026-02-09", "2026-02-10", common_pb2.CHANNEL_WEB, 2),
    ]
    days = await rows_at(insights, store, from_date="2026-02-02", to_date="2026-02-15")
    assert len(days) == 14 + 10
    assert {r.period_start for r in days} == {(MONDAY + timedelta(days=d)).date().isoformat() for d in range(14)}


async def test_pages_walk_every_row_once(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    await a_fortnight(publisher, store)
    everything = await rows_at(insights, store, from_date="2026-02-02", to_date="2026-02-15")

    paged = await rows_at(insights, store, from_date="2026-02-02", to_date="2026-02-15", page_size=5)

    assert paged == everything
    first = await insights.GetChannelInsights(
        pb.GetChannelInsightsRequest(location_id=store, from_date="2026-02-02", to_date="2026-02-15", page_size=5)
    )
    assert len(first.rows) == 5 and first.next_page_token
    # A token belongs to its query.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await insights.GetChannelInsights(
            pb.GetChannelInsightsRequest(
                location_id=store, from_date="2026-02-03", to_date="2026-02-15", page_token=first.next_page_token
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_channel_filter_leaves_other_channels_out(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    await a_fortnight(publisher, store)
    await publisher.publish_all([stock_changed(store, MONDAY, on_hand=1, held=0)])

    chat = await rows_at(insights, store, from_date="2026-02-02", to_date="2026-02-02", channel=common_pb2.CHANNEL_CHAT)
    assert [(r.channel, r.reservations.created) for r in chat] == [(common_pb2.CHANNEL_CHAT, 1)]
    every = await rows_at(insights, store, from_date="2026-02-02", to_date="2026-02-02")
    assert [r.channel for r in every] == [
        common_pb2.CHANNEL_CHAT,
        common_pb2.CHANNEL_UNSPECIFIED,
        common_pb2.CHANNEL_WEB,
    ]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"from_date": "2026-2-1"}, "from_date"),
        ({"to_date": "yesterday"}, "to_date"),
        ({"from_date": "2026-02-10", "to_date": "2026-02-01"}, "from_date"),
        ({"from_date": "2026-02-30"}, "from_date"),
        ({"group_by": 7}, "group_by"),
        ({"channel": 42}, "channel"),
        ({"page_size": 501}, "page_size"),
        ({"location_id": "no spaces"}, "location_id"),
        ({"page_token": "not-a-token"}, "page_token"),
    ],
)
async def test_a_bad_request_names_its_field(insights: Any, request_fields: dict[str, Any], field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await insights.GetChannelInsights(pb.GetChannelInsightsRequest(**request_fields))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (refused.value.details() or "")


async def test_staff_see_their_own_locations_only(stack: Stack, publisher: Publisher) -> None:
    store, elsewhere = unique_id("STORE-"), unique_id("STORE-")
    await a_fortnight(publisher, store)
    window = {"from_date": "2026-02-02", "to_date": "2026-02-02"}
    for role in ("pos", "warehouse"):
        stub = stack.stub("insights", role=role, locations=[store])
        mine = await stub.GetChannelInsights(pb.GetChannelInsightsRequest(location_id=store, **window))
        assert [row.location_id for row in mine.rows] == [store, store]
        for request in (
            pb.GetChannelInsightsRequest(location_id=elsewhere, **window),
            pb.GetChannelInsightsRequest(**window),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.GetChannelInsights(request)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, (role, request)
    everywhere = await stack.stub("insights", role="service").GetChannelInsights(pb.GetChannelInsightsRequest(**window))
    assert store in {row.location_id for row in everywhere.rows}
    for role in ("storefront", "app", "chat_agent"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.stub("insights", role=role).GetChannelInsights(pb.GetChannelInsightsRequest(location_id=store))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
