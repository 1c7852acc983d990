"""Every change of a task is saved together with its event, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock_fulfilment.adapters import repository
from omnistock_fulfilment.adapters.messages import task_message
from omnistock_fulfilment.domain.task import Task
from omnistock_platform.events.outbox import Outbox


class TaskChanges:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def created(self, conn: asyncpg.Connection, task: Task) -> Task | None:
        """The new task, or None when its source already has one."""
        created = await repository.add(conn, task)
        if created is not None:
            await self._announce(conn, created, "task.created", {})
        return created

    async def changed(
        self, conn: asyncpg.Connection, task: Task, event: str, short: Mapping[str, int] | None = None
    ) -> Task:
        saved = await repository.save(conn, task)
        await self._announce(conn, saved, event, short or {})
        return saved

    async def _announce(self, conn: asyncpg.Connection, task: Task, event: str, short: Mapping[str, int]) -> None:
        payload = fulfilment_pb2.TaskChanged(task=task_message(task))
        for sku, quantity in sorted(short.items()):
            payload.short.add(sku=sku, quantity=quantity)
        await self.outbox.add(conn, event, payload)
