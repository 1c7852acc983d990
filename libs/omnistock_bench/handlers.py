"""The read handlers alone, in one process: GetStock and FindAvailability answered from a stock view
filled in memory (no database, no gRPC), their CPU per call timed over many calls.

    python -m omnistock_bench.handlers get 20000        # or: find 2000
    SKUS=200 valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m omnistock_bench.handlers get 1000

Instruction counts (callgrind's "I refs" of a run of N calls and of 2N, the difference divided by
N) are the same whatever else the machine runs; the CPU time is not. The catalogue is the bench's
shape (`--locations 50`, every SKU at every location); searches are made near the locations
themselves, as the bench's are (`omnistock_bench.load`)."""

from __future__ import annotations

import asyncio
import math
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.pools import PoolBook
from omnistock_inventory.service_layer.stock import StockLevels
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.settings import InventorySettings

LOCATIONS = 50
REQUESTS = 1000  # made before timing, and asked in turn


def filled(skus: int) -> StockLevels:
    """Reads over a view of `skus` SKUs at every location, as if its last round had just ended."""
    rng = random.Random(7)
    view = StockView(None, InventorySettings())  # type: ignore[arg-type]  # never reads the database here
    now = datetime.now(UTC)
    places: dict[str, Any] = {}
    for index in range(LOCATIONS):
        location_id = f"LOC-{index:03d}"
        places[location_id] = {
            "location_id": location_id,
            "name": f"Store {index}",
            "kind": "store" if index % 3 else "warehouse",
            "city": "Town",
            "latitude": 50 + rng.random() * 3,
            "longitude": 4 + rng.random() * 3,
            "routing_rank": index % 5,
            "ships": True,
            "pickup": bool(index % 3),
            "till_sales": bool(index % 3),
            "active": True,
            "promise_settings": "",
            "change_seq": 1,
        }
    view._locations.update(places)
    for number in range(skus):
        sku = f"SKU-{number:05d}"
        view._skus[sku] = False
        view._stock[sku] = {
            location_id: {  # type: ignore[misc]
                "location_id": location_id,
                "sku": sku,
                "on_hand": rng.randint(0, 40),
                "held": rng.randint(0, 3),
                "safety_stock": 2,
                "incoming": 0,
                "version": rng.randint(1, 9),
                "in_transit": 0,
                "in_transit_reserved": 0,
                "next_incoming_at": None,
                "updated_at": now - timedelta(seconds=rng.randint(0, 9999)),
                "change_seq": 5,
            }
            for location_id in places
        }
    view.as_of, view._round_ended = now, math.inf
    view.watermark = view._last_round_seen = 10
    book = PoolBook(None)  # type: ignore[arg-type]
    book._until = math.inf  # no pools, as the bench's channel has none
    return StockLevels(None, None, None, view, book)  # type: ignore[arg-type]


def requests(which: str, skus: int, places: dict[str, Any]) -> list[Any]:
    rng = random.Random(3)
    ids = sorted(places)
    if which == "get":
        return [
            pb.GetStockRequest(
                sku=f"SKU-{rng.randrange(skus):05d}",
                location_id=ids[rng.randrange(len(ids))],
                channel=common_pb2.CHANNEL_WEB,
            )
            for _ in range(REQUESTS)
        ]
    points = [(place["latitude"], place["longitude"]) for place in places.values()]
    found = []
    for _ in range(REQUESTS):
        latitude, longitude = points[rng.randrange(len(points))]
        items = [
            common_pb2.SkuQuantity(sku=f"SKU-{number:05d}", quantity=1)
            for number in rng.sample(range(skus), rng.randint(1, 3))
        ]
        found.append(
            pb.FindAvailabilityRequest(
                items=items,
                channel=common_pb2.CHANNEL_WEB,
                near=common_pb2.GeoPoint(latitude=latitude, longitude=longitude),
                page_size=10,
            )
        )
    return found


async def timed(which: str, calls: int) -> float:
    """Microseconds of this thread's CPU per call, the answer serialized as gRPC would."""
    skus = int(os.environ.get("SKUS", "2000"))
    reads = filled(skus)
    asked = requests(which, skus, reads.view._locations)
    handler = reads.get if which == "get" else reads.find_availability
    for request in asked[:200]:  # warm: the kept orders, promises and messages made once
        (await handler(request)).SerializeToString()
    started = time.thread_time()
    for index in range(calls):
        (await handler(asked[index % REQUESTS])).SerializeToString()
    return (time.thread_time() - started) / calls * 1e6


def main() -> None:
    which, calls = sys.argv[1], int(sys.argv[2])
    if which not in ("get", "find"):
        raise SystemExit("usage: python -m omnistock_bench.handlers get|find CALLS")
    print(f"{which}: {asyncio.run(timed(which, calls)):.1f} us/call over {calls}")


if __name__ == "__main__":
    main()
