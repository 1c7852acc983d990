"""No unit is ever held twice: many clients against two inventory processes."""

from __future__ import annotations

import asyncio
import random

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import unique_id

CLIENTS = 64
STOCK = 40


async def test_many_clients_on_two_processes_hold_exactly_the_stock(stack, catalogue, db, tmp_path) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, STOCK)
    second = await ServiceProcess(stack.settings, "inventory", log_file=tmp_path / "inventory.log").start()
    try:
        stubs = [
            catalogue.admin,
            inventory_pb2_grpc.InventoryServiceStub(stack.channel("inventory")),
        ]
        stubs.append(inventory_pb2_grpc.InventoryServiceStub(stack.channel("inventory", address=second.address)))
        rng = random.Random(7)
        sizes = [rng.randint(1, 3) for _ in range(CLIENTS)]

        async def attempt(index: int) -> int:
            request = pb.HoldRequest(
                request_id=unique_id(),
                owner=f"order:{index}",
                channel=common_pb2.CHANNEL_WEB,
                lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=sizes[index])],
            )
            try:
                response = await stubs[index % len(stubs)].Hold(request)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
                assert details_of(error, common_pb2.Shortfall)
                return 0
            return sum(line.quantity for line in response.hold.lines)

        held = await asyncio.gather(*(attempt(i) for i in range(CLIENTS)))
    finally:
        second.terminate()

    assert sum(sizes) > STOCK
    level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
    assert level.held == sum(held)
    assert STOCK - max(sizes) < sum(held) <= STOCK
    assert await check_invariants(db) == []


async def test_overlapping_multi_line_holds_never_deadlock(catalogue, db) -> None:
    store_a, store_b = await catalogue.location(), await catalogue.location()
    skus = [await catalogue.sku() for _ in range(3)]
    for location in (store_a, store_b):
        for sku in skus:
            await catalogue.receive(location, sku, 10)
    rows = [(location, sku) for location in (store_a, store_b) for sku in skus]
    rng = random.Random(11)

    async def attempt() -> bool:
        chosen = rng.sample(rows, k=rng.randint(2, len(rows)))
        rng.shuffle(chosen)  # callers send lines in any order; the service locks in one order
        request = pb.HoldRequest(
            request_id=unique_id(),
            owner=f"order:{unique_id()}",
            channel=common_pb2.CHANNEL_APP,
            lines=[pb.HoldLineRequest(location_id=loc, sku=sku, quantity=1) for loc, sku in chosen],
        )
        try:
            await catalogue.admin.Hold(request)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(80)))
    assert any(results)
    levels = (await catalogue.admin.BatchGetStock(pb.BatchGetStockRequest(skus=skus))).levels
    assert all(0 <= level.held <= level.on_hand for level in levels)
    assert await check_invariants(db) == []
