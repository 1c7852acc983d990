"""Tasks wait while their order is on a fulfilment hold: what the orders' events say of the holds is
kept (newest event wins), and the order's unfinished tasks are marked held or released with it.

Runs in the consumer's transaction, under the order's advisory lock (as the intake of its
allocations does), so a task made at the same moment is made with the holds of that moment.
"""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from omnistock_fulfilment.adapters import hold_repository, repository
from omnistock_fulfilment.domain.order_holds import OrderHolds
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_platform.logging import get_logger
from omnistock_platform.owners import order_owner
from omnistock_platform.validation import Validator

log = get_logger(__name__)


class TaskHolds:
    def __init__(self, changes: TaskChanges) -> None:
        self.changes = changes

    async def order_changed(self, conn: asyncpg.Connection, holds: OrderHolds) -> OrderHolds:
        """The order's holds as its event tells them: its unfinished tasks are marked held or released
        with them. Returns what the newest event heard of the order says (this one's, unless a newer
        one was handled before it)."""
        check = Validator()
        check.identifier("order.order_id", holds.order_id)
        check.raise_if_invalid()
        await repository.lock_source(conn, order_owner(holds.order_id))
        newest = await hold_repository.record(conn, holds)
        if newest is not holds or holds.over:
            return newest  # an older event than one already heard, or an order whose work is withdrawn
        for task in await repository.active_of_order(conn, holds.order_id):
            reason = holds.reason_for(task.allocation_id)
            if reason == task.hold_reason:
                continue
            await hold_repository.set_reason(conn, task.task_id, reason)
            event = "task.held" if reason else "task.released"
            await self.changes.changed(conn, replace(task, hold_reason=reason), event)
            log.info("task.hold_changed", task_id=task.task_id, order_id=holds.order_id, reason=reason or "released")
        return newest
