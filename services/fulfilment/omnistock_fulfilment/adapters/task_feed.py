"""Changes of tasks as they happen, from the service's own task events on the bus.

Every process of the service publishes its task events, so a watcher connected to any one of
them sees the changes made by all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock_platform import telemetry
from omnistock_platform.errors import Aborted, Reason
from omnistock_platform.events.bus import EventBus
from omnistock_platform.logging import get_logger

log = get_logger(__name__)

# A watcher this far behind is cut off; it watches again and gets a fresh snapshot.
MAX_BACKLOG = 10_000
RECONNECT_CHECK_SECONDS = 1.0
IDLE = fulfilment_pb2.Task()


class TaskFeed:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.subject = bus.settings.subject("fulfilment", "task", ">")

    @asynccontextmanager
    async def changes(self, location_id: str) -> AsyncIterator[AsyncIterator[fulfilment_pb2.Task]]:
        """Subscribes at once; the iterator yields every later change of a task at the location."""
        queue: asyncio.Queue[fulfilment_pb2.Task | None] = asyncio.Queue()

        async def on_message(message: Msg) -> None:
            try:
                envelope = common_pb2.EventEnvelope.FromString(message.data)
                changed = fulfilment_pb2.TaskChanged()
                envelope.payload.Unpack(changed)
            except DecodeError:
                log.warning("task_feed.undecodable", subject=message.subject)
                return
            if changed.task.location_id != location_id:
                return
            telemetry.delivered(message.headers, "WatchTasks", message.subject)
            if queue.qsize() >= MAX_BACKLOG:
                queue.put_nowait(None)
                return
            queue.put_nowait(changed.task)

        nc = self.bus.nc
        subscription = await nc.subscribe(self.subject, cb=on_message)
        reconnects = nc.stats["reconnects"]

        async def iterate() -> AsyncIterator[fulfilment_pb2.Task]:
            while True:
                try:
                    task = await asyncio.wait_for(queue.get(), RECONNECT_CHECK_SECONDS)
                except TimeoutError:
                    task = IDLE
                if nc.stats["reconnects"] != reconnects:
                    # Events published while the connection was down never reach this subscription.
                    raise Aborted(
                        "the event bus connection was interrupted; watch again for a fresh snapshot",
                        reason=Reason.STREAM_INTERRUPTED,
                    )
                if task is None:
                    raise Aborted(
                        "the watcher fell behind; watch again for a fresh snapshot", reason=Reason.STREAM_INTERRUPTED
                    )
                if task is not IDLE:
                    yield task

        try:
            yield iterate()
        finally:
            with contextlib.suppress(Exception):  # the connection may already be closed at shutdown
                await subscription.unsubscribe()
