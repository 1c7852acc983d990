"""A location's live task list: the snapshot, then every change, and nothing of other locations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock_fulfilment.adapters import repository
from omnistock_fulfilment.domain.task import Task
from omnistock_fulfilment.service_layer.watch import TaskWatch
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import Stack, unique_id

from .support import Events, allocation, one_task, order_changed, request_id

TIMEOUT = 10.0


async def next_message(stream: Any) -> fpb.WatchTasksResponse:
    return await asyncio.wait_for(stream.read(), TIMEOUT)  # type: ignore[no-any-return]


async def test_a_watcher_gets_the_open_tasks_then_every_change(events: Events, db: Database, fulfilment: Any) -> None:
    location, elsewhere = unique_id("LOC-"), unique_id("LOC-")
    first = order_changed(allocation(location, {"SKU-A": 1}))
    await events.order("allocated", first)
    existing = (await one_task(db, order_id=first.order.order_id))["task_id"]
    shipped_before = order_changed(allocation(location, {"SKU-B": 1}))
    await events.order("allocated", shipped_before)
    withdrawn = (await one_task(db, order_id=shipped_before.order.order_id))["task_id"]
    await events.order("cancelled", order_changed(order_id=shipped_before.order.order_id))
    await one_task(db, task_id=withdrawn, status="withdrawn")

    stream = fulfilment.WatchTasks(fpb.WatchTasksRequest(location_id=location))
    snapshot = await next_message(stream)
    assert snapshot.snapshot and snapshot.snapshot_complete
    assert [task.task_id for task in snapshot.tasks] == [existing]  # finished work is not on the list

    # Changes made after the snapshot, here and elsewhere.
    await events.order("allocated", order_changed(allocation(elsewhere, {"SKU-C": 1})))
    second = order_changed(allocation(location, {"SKU-D": 1}))
    await events.order("allocated", second)
    await fulfilment.StartPicking(fpb.StartPickingRequest(request_id=request_id(), task_id=existing))

    seen: list[fpb.Task] = []
    while not (
        any(task.task_id == existing for task in seen) and any(task.order_id == second.order.order_id for task in seen)
    ):
        message = await next_message(stream)
        assert not message.snapshot
        seen.extend(message.tasks)
    assert {task.location_id for task in seen} == {location}
    assert [task.status for task in seen if task.task_id == existing] == [fpb.TASK_STATUS_PICKING]
    assert [task.status for task in seen if task.order_id == second.order.order_id] == [fpb.TASK_STATUS_OPEN]
    stream.cancel()


class FakeFeed:
    """Changes the test hands in; remembers whether it was subscribed before the snapshot was read."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[fpb.Task] = asyncio.Queue()
        self.subscribed = False

    @asynccontextmanager
    async def changes(self, location_id: str) -> AsyncIterator[AsyncIterator[fpb.Task]]:
        self.subscribed = True

        async def iterate() -> AsyncIterator[fpb.Task]:
            while True:
                yield await self.queue.get()

        yield iterate()


def check_snapshot_after_subscribing(monkeypatch: pytest.MonkeyPatch, feed: FakeFeed) -> None:
    """The watch's snapshot read (repository.page) fails the test if the feed is not subscribed yet."""
    page = repository.page

    async def checked_page(conn: Any, **kwargs: Any) -> list[Task]:
        assert feed.subscribed, "the snapshot was read before the feed was subscribed: changes could be lost"
        return await page(conn, **kwargs)

    monkeypatch.setattr(repository, "page", checked_page)


async def test_changes_the_snapshot_already_shows_are_dropped_and_later_ones_pass(
    events: Events, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = unique_id("LOC-")
    order = order_changed(allocation(location, {"SKU-A": 1}))
    await events.order("allocated", order)
    task_id = (await one_task(db, order_id=order.order.order_id))["task_id"]
    feed = FakeFeed()
    check_snapshot_after_subscribing(monkeypatch, feed)
    watch = TaskWatch(db, feed)  # type: ignore[arg-type]
    stream = watch.watch(fpb.WatchTasksRequest(location_id=location))

    (snapshot_task,) = (await anext(stream)).tasks
    assert snapshot_task.task_id == task_id
    stale = fpb.Task(task_id=task_id, location_id=location, status=fpb.TASK_STATUS_OPEN)
    stale.updated_at.CopyFrom(snapshot_task.updated_at)
    stale.updated_at.nanos -= 1000 if stale.updated_at.nanos >= 1000 else 0
    same = fpb.Task(task_id=task_id, location_id=location, status=fpb.TASK_STATUS_OPEN)
    same.updated_at.CopyFrom(snapshot_task.updated_at)
    newer = fpb.Task(task_id=task_id, location_id=location, status=fpb.TASK_STATUS_PICKING)
    newer.updated_at.FromDatetime(snapshot_task.updated_at.ToDatetime() + timedelta(seconds=1))
    unknown = fpb.Task(task_id=unique_id("T-"), location_id=location, status=fpb.TASK_STATUS_OPEN)
    unknown.updated_at.FromDatetime(datetime.now(UTC))
    for task in (stale, same, newer, same, unknown):
        feed.queue.put_nowait(task)

    passed = [(await asyncio.wait_for(anext(stream), TIMEOUT)).tasks[0] for _ in range(2)]
    assert passed == [newer, unknown]
    await stream.aclose()


async def test_a_watcher_must_name_a_location_of_its_own(stack: Stack) -> None:
    picker = stack.stub("fulfilment", role="pos", locations=[unique_id("LOC-")])
    stream = picker.WatchTasks(fpb.WatchTasksRequest(location_id=unique_id("LOC-")))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await next_message(stream)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stream = picker.WatchTasks(fpb.WatchTasksRequest())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await next_message(stream)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
