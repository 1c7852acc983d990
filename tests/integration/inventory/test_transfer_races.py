"""Transfers racing everything else at both ends: till sales, holds taken and given back, a cycle
count and receipts, at once. Every call either does what it says or is refused with a clear error
(never INTERNAL or UNKNOWN), and the stock invariants and the count's hold afterwards."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.transfers import Transfers
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_inventory.settings import InventorySettings
from omnistock_platform.db import Database
from omnistock_platform.events.envelope import unpack_payload
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore
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


async def test_overdue_sweeps_of_two_processes_and_receipts_at_once_announce_each_transfer_once(
    catalogue, stack
) -> None:
    """Twelve shipped transfers pass their expected arrival. Two more inventory processes sweep for
    overdue transfers (beside the running service's own sweep) while half of them are received at the
    same moment. Each transfer not received is announced overdue exactly once; one received is
    announced at most once and never after its receipt (an overdue announcement always comes first in
    the outbox, so nobody is told a received transfer is late)."""
    office = stack.stub("inventory", role="admin")
    hub, store = await catalogue.location(kind=pb.LOCATION_KIND_WAREHOUSE), await catalogue.location()
    lamp = await catalogue.sku("Lamp")
    await catalogue.receive(hub, lamp, 24)
    transfers = []
    for _ in range(12):
        created = (
            await office.CreateTransfer(
                pb.CreateTransferRequest(
                    request_id=unique_id(),
                    origin_location_id=hub,
                    destination_location_id=store,
                    lines=[pb.TransferLineRequest(sku=lamp, quantity=2)],
                )
            )
        ).transfer
        await office.ShipTransfer(pb.ShipTransferRequest(request_id=unique_id(), transfer_id=created.transfer_id))
        transfers.append(created.transfer_id)
    settings = InventorySettings.of(stack.wired_settings())
    processes = [Database(stack.settings.database_url, min_size=1, max_size=4) for _ in range(2)]
    for process in processes:
        await process.connect()
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        sweepers = [
            Transfers(process, Outbox(settings, "inventory"), IdempotencyStore("inventory"), settings)
            for process in processes
        ]
        # A day passes: every one of them is overdue at once.
        await conn.execute(
            "UPDATE inventory.transfers SET expected_arrival_at = now() - interval '1 hour'"
            " WHERE transfer_id = ANY($1::text[])",
            transfers,
        )
        received = transfers[::2]

        async def receive(transfer_id: str) -> None:
            await office.ReceiveTransfer(
                pb.ReceiveTransferRequest(
                    request_id=unique_id(),
                    transfer_id=transfer_id,
                    lines=[pb.TransferArrival(sku=lamp, received=2)],
                )
            )

        async def sweep(sweeper: Transfers) -> None:
            for _ in range(3):
                await sweeper.announce_overdue(batch=3)

        await asyncio.gather(*(sweep(s) for s in sweepers), *(receive(t) for t in received))
        for sweeper in sweepers:
            await sweeper.announce_overdue()
        rows = await conn.fetch(
            "SELECT id, subject, envelope FROM inventory.outbox WHERE subject LIKE '%.inventory.transfer.%' ORDER BY id"
        )
    finally:
        await conn.close()
        for process in processes:
            await process.close()
    told: dict[str, list[str]] = {transfer_id: [] for transfer_id in transfers}
    for row in rows:
        payload = unpack_payload(common_pb2.EventEnvelope.FromString(row["envelope"]))
        if payload.transfer.transfer_id in told:
            told[payload.transfer.transfer_id].append(row["subject"].rsplit(".", 1)[-1])
    for transfer_id in transfers:
        after_shipping = told[transfer_id][told[transfer_id].index("shipped") + 1 :]
        if transfer_id in received:
            assert after_shipping in (["received"], ["overdue", "received"]), (transfer_id, after_shipping)
        else:
            assert after_shipping == ["overdue"], (transfer_id, after_shipping)
