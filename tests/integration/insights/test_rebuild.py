"""Rebuilding while the live consumer counts: every event is counted once, by one or the other."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_cli.insights import REBUILD_DEADLINE_SECONDS
from omnistock_insights.adapters import repository
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import unique_id

from .conftest import rows_at
from .journeys import MORNING, Publisher, Reservation, store_day
from .test_projection import as_dicts, expected_store_day


async def test_events_published_during_a_rebuild_are_counted_once(insights: Any, publisher: Publisher) -> None:
    stores = [(unique_id("STORE-"), unique_id("WH-")) for _ in range(4)]
    await publisher.publish_all(store_day(*stores[0]))

    async def publish_the_rest() -> None:
        for store, warehouse in stores[1:]:
            await publisher.publish_all(store_day(store, warehouse))

    # A rebuild replays the whole stream, which holds every event this run's tests published so
    # far: it gets the deadline `omnistock insights rebuild` gives it, not the default one.
    rebuilt, _ = await asyncio.gather(
        insights.RebuildInsights(pb.RebuildInsightsRequest(request_id=unique_id()), timeout=REBUILD_DEADLINE_SECONDS),
        publish_the_rest(),
    )

    assert rebuilt.events_applied > 0
    for store, _ in stores:
        assert as_dicts(await rows_at(insights, store)) == as_dicts(expected_store_day(store))


class Abandoned(Exception):
    pass


async def test_a_rebuild_under_way_holds_live_counting_off_and_readers_keep_the_old_figures(
    insights: Any, publisher: Publisher, db: Database
) -> None:
    store, newcomer = unique_id("STORE-"), unique_id("STORE-")
    await publisher.publish_all(store_day(store, unique_id("WH-")))
    before = as_dicts(await rows_at(insights, store))

    with contextlib.suppress(Abandoned):
        async with db.transaction() as conn:
            # What RebuildInsights does first; the rebuild then fails and rolls back.
            await repository.lock_and_clear(conn)
            sequence = await publisher.publish(
                Reservation(common_pb2.CHANNEL_WEB, newcomer, MORNING).created().envelope()
            )
            await asyncio.sleep(1.0)
            assert await rows_at(insights, newcomer) == []  # the live consumer waits
            assert as_dicts(await rows_at(insights, store)) == before  # readers are not held up
            raise Abandoned

    await publisher.counted(sequence)
    assert as_dicts(await rows_at(insights, store)) == before
    (row,) = await rows_at(insights, newcomer)
    assert row.reservations.created == 1


async def test_only_an_admin_may_rebuild(stack: Any) -> None:
    for role in ("service", "pos", "warehouse", "storefront"):
        stub = stack.stub("insights", role=role, locations=["ANY"])
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.RebuildInsights(pb.RebuildInsightsRequest(request_id=unique_id()))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, role


async def test_a_rebuild_needs_a_request_id(insights: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await insights.RebuildInsights(pb.RebuildInsightsRequest())
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
