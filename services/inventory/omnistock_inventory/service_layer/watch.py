"""WatchStock: a snapshot, then every change in version order, with no gap.

The subscription to stock.changed starts before the snapshot is read; events
at or below the snapshot's version of a row are dropped, and a gap in a row's
versions (or a reconnect of NATS) triggers a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from nats.aio.msg import Msg

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.pools import as_seen_through, at
from omnistock_inventory.service_layer.stock import StockLevels, channel_of, check_channel
from omnistock_platform import telemetry
from omnistock_platform.events.bus import EventBus
from omnistock_platform.validation import Validator

SNAPSHOT_CHUNK = 200
QUEUE_LIMIT = 10_000


class Resync(Exception):
    pass


class StockWatcher:
    def __init__(self, bus: EventBus, stock: StockLevels) -> None:
        self.bus = bus
        self.stock = stock

    async def watch(self, request: pb.WatchStockRequest) -> AsyncIterator[pb.WatchStockResponse]:
        check = Validator()
        check.check(len(request.skus) <= 1000, "skus", "at most 1000 SKUs")
        check.check(len(request.location_ids) <= 1000, "location_ids", "at most 1000 locations")
        check.check(bool(request.skus or request.location_ids), "skus", "give SKUs, locations or both")
        for index, sku in enumerate(request.skus):
            check.identifier(f"skus[{index}]", sku)
        for index, location_id in enumerate(request.location_ids):
            check.identifier(f"location_ids[{index}]", location_id)
        check_channel(check, request.channel)
        check.raise_if_invalid()
        skus, locations = set(request.skus), set(request.location_ids)
        queue: asyncio.Queue[pb.StockLevel | None] = asyncio.Queue(QUEUE_LIMIT)

        async def on_message(message: Msg) -> None:
            envelope = common_pb2.EventEnvelope.FromString(message.data)
            event = pb.StockChanged()
            envelope.payload.Unpack(event)
            level = event.level
            if (skus and level.sku not in skus) or (locations and level.location_id not in locations):
                return
            telemetry.delivered(message.headers, "WatchStock", message.subject)
            try:
                queue.put_nowait(level)
            except asyncio.QueueFull:  # a slow watcher gets a fresh snapshot instead of unbounded memory
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(None)

        subscription = await self.bus.nc.subscribe(
            self.bus.settings.subject("inventory", "stock", "changed"), cb=on_message
        )
        try:
            while True:
                versions: dict[tuple[str, str], int] = {}
                async for message in self._snapshot(request, versions):
                    yield message
                try:
                    async for message in self._changes(request, queue, versions):
                        yield message
                except Resync:
                    continue
        finally:
            await subscription.unsubscribe()

    async def _snapshot(
        self, request: pb.WatchStockRequest, versions: dict[tuple[str, str], int]
    ) -> AsyncIterator[pb.WatchStockResponse]:
        levels = await self.stock.levels(list(request.skus), list(request.location_ids), request.channel, "")
        for level in levels:
            versions[(level.location_id, level.sku)] = level.version
        if not levels:
            yield pb.WatchStockResponse(snapshot=True, snapshot_complete=True)
        for start in range(0, len(levels), SNAPSHOT_CHUNK):
            chunk = levels[start : start + SNAPSHOT_CHUNK]
            yield pb.WatchStockResponse(
                snapshot=True, snapshot_complete=start + SNAPSHOT_CHUNK >= len(levels), levels=chunk
            )

    async def _changes(
        self,
        request: pb.WatchStockRequest,
        queue: asyncio.Queue[pb.StockLevel | None],
        versions: dict[tuple[str, str], int],
    ) -> AsyncIterator[pb.WatchStockResponse]:
        reconnects = self.bus.reconnects
        while True:
            if self.bus.reconnects != reconnects:  # events may have been missed while disconnected
                raise Resync
            try:
                level = await asyncio.wait_for(queue.get(), 1.0)
            except TimeoutError:
                continue
            if level is None:
                raise Resync
            key = (level.location_id, level.sku)
            seen = versions.get(key)
            if seen is not None and level.version <= seen:
                continue  # already in the snapshot, or a duplicate
            if seen is not None and level.version > seen + 1:
                raise Resync  # a change went missing
            versions[key] = level.version
            # An event shows the row as a remote channel without pools sees it; the watcher's channel may have some.
            pools = at(await self.stock.book.of(channel_of(request.channel)), level.location_id)
            yield pb.WatchStockResponse(levels=[as_seen_through(level, pools)])
