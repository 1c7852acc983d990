"""A location's task list, live: a snapshot of its unfinished tasks, then every change.

The feed is subscribed to before the snapshot is read, so nothing that changes in between is
lost; a change the snapshot already shows (same or older version) is dropped. A task's
`updated_at` moves strictly forward with each change and serves as its version.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock_fulfilment.adapters import repository
from omnistock_fulfilment.adapters.messages import task_message
from omnistock_fulfilment.adapters.task_feed import TaskFeed
from omnistock_fulfilment.domain.task import ACTIVE, Task
from omnistock_platform.auth import require_location
from omnistock_platform.db import Database
from omnistock_platform.validation import Validator

SNAPSHOT_BATCH = 200


class TaskWatch:
    def __init__(self, db: Database, feed: TaskFeed) -> None:
        self.db = db
        self.feed = feed

    async def watch(
        self, request: fulfilment_pb2.WatchTasksRequest
    ) -> AsyncGenerator[fulfilment_pb2.WatchTasksResponse, None]:
        check = Validator()
        check.identifier("location_id", request.location_id)
        check.raise_if_invalid()
        require_location(request.location_id)
        async with self.feed.changes(request.location_id) as changes:
            snapshot = await self._snapshot(request.location_id)
            seen: dict[str, datetime] = {task.task_id: task.updated_at for task in snapshot if task.updated_at}
            batches = [snapshot[i : i + SNAPSHOT_BATCH] for i in range(0, len(snapshot), SNAPSHOT_BATCH)] or [[]]
            for index, batch in enumerate(batches):
                yield fulfilment_pb2.WatchTasksResponse(
                    snapshot=True,
                    snapshot_complete=index == len(batches) - 1,
                    tasks=[task_message(task) for task in batch],
                )
            async for task in changes:
                version = task.updated_at.ToDatetime(tzinfo=UTC)
                known = seen.get(task.task_id)
                if known is not None and version <= known:
                    continue
                seen[task.task_id] = version
                yield fulfilment_pb2.WatchTasksResponse(tasks=[task])

    async def _snapshot(self, location_id: str) -> list[Task]:
        """Every unfinished task of the location, read in pages from one consistent view."""
        tasks: list[Task] = []
        async with self.db.transaction(isolation="repeatable_read") as conn:
            while True:
                tail = tasks[-1] if tasks else None
                batch = await repository.page(
                    conn,
                    location_ids=[location_id],
                    statuses=ACTIVE,
                    kind=None,
                    after=(tail.promise_at, tail.created_at, tail.task_id) if tail and tail.created_at else None,
                    limit=SNAPSHOT_BATCH,
                )
                tasks.extend(batch)
                if len(batch) < SNAPSHOT_BATCH:
                    return tasks
