"""Counting one event: the same code for the live consumer and for a rebuild.

Facts are locked parent first (order or reservation, then its tasks) and the
counts are added in a fixed order, so that several consumers can count events
of the same journey side by side without deadlocking or counting twice.
"""

from __future__ import annotations

from typing import assert_never

import asyncpg
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock_insights.adapters import repository
from omnistock_insights.adapters.events import Observation, TaskSeen, observe
from omnistock_insights.domain.journeys import OrderFact, ReservationFact, TaskFact
from omnistock_insights.domain.signals import CountResult, DemandRefusal, ReturnSeen, StockCheck
from omnistock_insights.domain.tally import Tally


class Projection:
    async def apply(
        self, conn: asyncpg.Connection, envelope: common_pb2.EventEnvelope, payload: Message
    ) -> Tally | None:
        """What the event added to the figures; None when the projection does not count it or
        counted it already. Raises events.Uncountable for an event that can never be counted."""
        observation = observe(envelope, payload)
        if observation is None:
            return None
        # First, before any other table: a rebuild locks applied_events to hold live counting off.
        if not await repository.claim_event(conn, envelope.event_id):
            return None
        change = await self._change(conn, observation)
        await repository.add_tally(conn, change)
        return change

    async def _change(self, conn: asyncpg.Connection, observation: Observation) -> Tally:
        match observation:
            case ReservationFact():
                return await self._reservation(conn, observation)
            case OrderFact():
                return await self._order(conn, observation)
            case TaskSeen():
                return await self._task(conn, observation)
            case DemandRefusal() | StockCheck() | CountResult() | ReturnSeen():
                return observation.contribution()
        assert_never(observation)

    async def _reservation(self, conn: asyncpg.Connection, seen: ReservationFact) -> Tally:
        before = await repository.reservation(conn, seen.reservation_id)
        # Its tasks only matter while its channel is unknown: those counted so far wait for it.
        tasks = await repository.tasks_of(conn, reservation_id=seen.reservation_id) if before.channel is None else []
        after = before.merge(seen)
        await repository.save_reservation(conn, after)
        return after.contribution() - before.contribution() + _moved(tasks, before.channel, after.channel)

    async def _order(self, conn: asyncpg.Connection, seen: OrderFact) -> Tally:
        before = await repository.order(conn, seen.order_id)
        tasks = await repository.tasks_of(conn, order_id=seen.order_id) if before.channel is None else []
        after = before.merge(seen)
        await repository.save_order(conn, after)
        return after.contribution() - before.contribution() + _moved(tasks, before.channel, after.channel)

    async def _task(self, conn: asyncpg.Connection, seen: TaskSeen) -> Tally:
        change = Tally()
        # The parent is locked before the task, as _order and _reservation do, and its channel is read
        # under that lock: a parent described at the same moment elsewhere then sees this task.
        channel: str | None = None
        if seen.task.order_id:
            order = await repository.order(conn, seen.task.order_id)
            channel = order.channel
            if seen.shipment is not None:
                shipped = order.merge(seen.shipment)
                await repository.save_order(conn, shipped)
                change.merge(shipped.contribution() - order.contribution())
        elif seen.task.reservation_id:
            channel = (await repository.reservation(conn, seen.task.reservation_id)).channel
        before = await repository.task(conn, seen.task.task_id)
        after = before.merge(seen.task)
        await repository.save_task(conn, after)
        return change.merge(after.contribution(channel) - before.contribution(channel))


def _moved(tasks: list[TaskFact], before: str | None, after: str | None) -> Tally:
    """A parent's channel became known: its tasks move from no channel to it."""
    change = Tally()
    if before != after:
        for task in tasks:
            change.merge(task.contribution(after) - task.contribution(before))
    return change
