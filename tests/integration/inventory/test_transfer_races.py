"""Transfers racing everything else at both ends: till sales, holds taken and given back, a cycle
count and receipts, at once. Every call either does what it says or is refused with a clear error
(never INTERNAL or UNKNOWN), and the stock invariants and the count's hold afterwards."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.stack import unique_id

CLEAR = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED}


async def test_transfers_sales_holds_and_a_count_at_both_ends_at_once_keep_the_books(catalogue, stack, db) -> None:
    office = stack.stub("inventory", role="admin")
    here, there = await catalogue.location(), await catalogue.location()
    lamp, vase = await catalogue.sku("Lamp"), await catalogue.sku("Vase")
    for location_id in (here, there):
        for sku in (lamp, vase):
            await catalogue.receive(location_id, sku, 12)
    tills = {loc: stack.stub("inventory", token=stack.token("pos", locations=[loc])) for loc in (here, there)}
    shop = stack.stub("inventory", role="service")
    chooser = random.Random(7)

    def transfer_request(origin: str, destination: str) -> pb.CreateTransferRequest:
        return pb.CreateTransferRequest(
            request_id=unique_id(),
            origin_location_id=origin,
            destination_location_id=destination,
            lines=[
                pb.TransferLineRequest(sku=lamp, quantity=chooser.randint(1, 3)),
                pb.TransferLineRequest(sku=vase, quantity=chooser.randint(1, 3)),
            ],
        )

    async def move(origin: str, destination: str) -> None:
        created = (await office.CreateTransfer(transfer_request(origin, destination))).transfer
        await office.ShipTransfer(pb.ShipTransferRequest(request_id=unique_id(), transfer_id=created.transfer_id))
        arrivals = [
            pb.TransferArrival(sku=line.sku, received=max(line.quantity - 1, 0), damaged=min(line.quantity, 1))
            for line in created.lines
        ]
        await office.ReceiveTransfer(
            pb.ReceiveTransferRequest(request_id=unique_id(), transfer_id=created.transfer_id, lines=arrivals)
        )

    async def sell(location_id: str, sku: str) -> None:
        await tills[location_id].Hold(
            pb.HoldRequest(
                request_id=unique_id(),
                owner=f"till:{location_id}",
                channel=common_pb2.CHANNEL_POS,
                lines=[pb.HoldLineRequest(location_id=location_id, sku=sku, quantity=1)],
                selling_location_id=location_id,
                commit_now=True,
            )
        )

    async def hold_and_release(location_id: str) -> None:
        held = await shop.Hold(
            pb.HoldRequest(
                request_id=unique_id(),
                owner=unique_id("order:"),
                channel=common_pb2.CHANNEL_WEB,
                lines=[
                    pb.HoldLineRequest(location_id=location_id, sku=lamp, quantity=1),
                    pb.HoldLineRequest(location_id=location_id, sku=vase, quantity=1),
                ],
            )
        )
        await shop.ReleaseHold(pb.ReleaseHoldRequest(request_id=unique_id(), hold_id=held.hold.hold_id))

    async def count(location_id: str) -> None:
        opened = await office.CreateCount(
            pb.CreateCountRequest(
                request_id=unique_id(),
                location_id=location_id,
                scope=pb.COUNT_SCOPE_SKUS,
                skus=[lamp, vase],
                variance_threshold=100,
            )
        )
        count_id = opened.count.count_id
        for sku in (lamp, vase):
            level = (await office.GetStock(pb.GetStockRequest(sku=sku, location_id=location_id))).levels[0]
            await office.RecordCount(
                pb.RecordCountRequest(request_id=unique_id(), count_id=count_id, sku=sku, quantity=level.on_hand)
            )
        await office.ReviewCount(pb.ReviewCountRequest(request_id=unique_id(), count_id=count_id))
        await office.CompleteCount(pb.CompleteCountRequest(request_id=unique_id(), count_id=count_id))

    async def outcome(call: Callable[[], Awaitable[Any]]) -> str:
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            assert error.code() in CLEAR, (error.code(), error.details())
            return error.code().name
        return "done"

    calls: list[Callable[[], Awaitable[Any]]] = []
    for index in range(6):
        calls.append(lambda: move(here, there))
        calls.append(lambda: move(there, here))
        calls.append(lambda i=index: sell(here if i % 2 else there, lamp if i % 3 else vase))
        calls.append(lambda i=index: hold_and_release(there if i % 2 else here))
    calls += [lambda: count(here), lambda: count(there)]
    chooser.shuffle(calls)
    results = await asyncio.gather(*(outcome(call) for call in calls))
    assert results.count("done") > len(calls) // 2, results

    assert await check_invariants(db) == []
    for location_id in (here, there):
        for sku in (lamp, vase):
            level = (await office.GetStock(pb.GetStockRequest(sku=sku, location_id=location_id))).levels[0]
            assert (level.held, level.in_transit) == (0, 0)
