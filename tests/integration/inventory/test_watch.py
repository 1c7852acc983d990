"""WatchStock: a snapshot, then every change in version order, no gap, no duplicate."""

from __future__ import annotations

import asyncio

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.testing.stack import unique_id

WRITES = 30


async def test_watcher_sees_snapshot_then_every_change_in_order(catalogue) -> None:
    store_a, store_b = await catalogue.location(), await catalogue.location()
    sku = await catalogue.sku()
    await catalogue.receive(store_a, sku, 5)
    await catalogue.receive(store_b, sku, 5)
    stream = catalogue.admin.WatchStock(pb.WatchStockRequest(skus=[sku], channel=common_pb2.CHANNEL_WEB))
    seen: dict[str, list[int]] = {store_a: [], store_b: []}
    snapshot: dict[str, int] = {}

    async def read() -> None:
        async for message in stream:
            for level in message.levels:
                if message.snapshot:
                    snapshot[level.location_id] = level.version
                else:
                    seen[level.location_id].append(level.version)
            if message.snapshot_complete:
                snapshot_done.set()
            if all(len(v) >= WRITES for v in seen.values()):
                return

    snapshot_done = asyncio.Event()
    reader = asyncio.create_task(read())
    await asyncio.wait_for(snapshot_done.wait(), 10)

    async def writer(location: str) -> None:
        for _ in range(WRITES):
            await catalogue.admin.ReceiveStock(
                pb.ReceiveStockRequest(request_id=unique_id(), location_id=location, sku=sku, quantity=1)
            )

    await asyncio.gather(writer(store_a), writer(store_b))
    await asyncio.wait_for(reader, 20)
    stream.cancel()
    for location in (store_a, store_b):
        versions = seen[location][:WRITES]
        first = snapshot[location] + 1
        assert versions == list(range(first, first + WRITES)), location
    final = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store_a))).levels[0]
    assert final.on_hand == 5 + WRITES
