"""A count scanned and posted while tills on two inventory processes keep selling the same SKU at
once (tests/integration/inventory/test_counts_while_selling.py interleaves the same steps one at a
time): each line's variance is counted minus the book at its scan's ledger position, the posting
moves on hand by exactly the variances, and nothing is sold below zero or counted twice."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_inventory.adapters import count_repository
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import eventually

STOCK = 12
SALES = 8


async def test_scans_and_the_posting_racing_till_sales_keep_the_book_exact(stack, catalogue, db, tmp_path) -> None:
    store = await catalogue.location()
    lamp, chair = await catalogue.sku("Lamp"), await catalogue.sku("Chair")
    for sku in (lamp, chair):
        await catalogue.receive(store, sku, STOCK)
    clerk = stack.stub("inventory", role="pos", locations=[store])
    count = (
        await clerk.CreateCount(
            pb.CreateCountRequest(
                request_id=unique_id(),
                location_id=store,
                scope=pb.COUNT_SCOPE_SKUS,
                skus=[lamp, chair],
                variance_threshold=100,
            )
        )
    ).count
    second = await ServiceProcess(stack.settings, "inventory", log_file=tmp_path / "inventory.log").start()
    try:
        tills = [
            clerk,
            inventory_pb2_grpc.InventoryServiceStub(
                stack.channel("inventory", address=second.address, token=stack.token("pos", locations=[store]))
            ),
        ]

        async def sell(index: int, sku: str) -> int:
            request = pb.HoldRequest(
                request_id=unique_id(),
                owner=f"till:{store}",
                channel=common_pb2.CHANNEL_POS,
                lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=1)],
                selling_location_id=store,
                commit_now=True,
            )
            try:
                await tills[index % 2].Hold(request)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
                return 0
            return 1

        def scan(sku: str, quantity: int) -> object:
            return clerk.RecordCount(
                pb.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=sku, quantity=quantity)
            )

        # The clerk finds 3 lamps fewer and 2 chairs more than the book had before the sales: a sale
        # before the scan lowers the book at its position (and so the variance), one after it lowers
        # the book and what the posting adds to alike.
        first = await asyncio.gather(
            *(sell(i, lamp) for i in range(SALES // 2)),
            *(sell(i, chair) for i in range(SALES // 2)),
            scan(lamp, STOCK - 3),
            scan(chair, STOCK + 2),
        )
        await clerk.ReviewCount(pb.ReviewCountRequest(request_id=unique_id(), count_id=count.count_id))
        posting = clerk.CompleteCount(pb.CompleteCountRequest(request_id=unique_id(), count_id=count.count_id))
        second_round = await asyncio.gather(
            *(sell(i, lamp) for i in range(SALES // 2)), *(sell(i, chair) for i in range(SALES // 2)), posting
        )
    finally:
        second.terminate()

    office = catalogue.admin
    lines = {
        line.sku: line
        for line in (await office.ListCountLines(pb.ListCountLinesRequest(count_id=count.count_id))).lines
    }
    done = second_round[-1]
    posted = {movement.sku: movement.on_hand_delta for movement in done.adjustments}
    assert posted == {sku: line.variance for sku, line in lines.items() if line.variance}
    sold = {lamp: 0, chair: 0}
    for outcomes in (first[:SALES], second_round[:SALES]):
        for index, units in enumerate(outcomes):
            sold[lamp if index < SALES // 2 else chair] += units
    for sku in (lamp, chair):
        line = lines[sku]
        assert line.variance == line.counted - line.book_on_hand
        level = (await office.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
        assert level.on_hand == STOCK - sold[sku] + line.variance >= 0, (sku, level, line, sold)
        assert level.held == 0
    assert await check_invariants(db) == []


async def test_a_write_off_found_before_a_scan_still_being_written_leaves_the_book_once(
    stack, catalogue, db, monkeypatch
) -> None:
    """A unit a picker found missing before the scan, written off (dated when it was found) while the
    scan had read its ledger position and was not yet written: the scan missed that unit already, and
    the write-off waits for it to be written and moves it to its own position, so the count takes the
    unit off no second time."""
    store, lamp = await catalogue.location(), await catalogue.sku("Lamp")
    await catalogue.receive(store, lamp, 5)  # four on the shelf: one is gone
    clerk = stack.stub("inventory", role="pos", locations=[store])
    count = (
        await clerk.CreateCount(
            pb.CreateCountRequest(
                request_id=unique_id(), location_id=store, scope=pb.COUNT_SCOPE_SKUS, skus=[lamp], variance_threshold=5
            )
        )
    ).count
    found_missing = Timestamp()
    found_missing.GetCurrentTime()
    position = count_repository.position
    read, go = asyncio.Event(), asyncio.Event()

    async def paused(conn, location_id: str, sku: str):
        found = await position(conn, location_id, sku)
        if (location_id, sku) == (store, lamp) and not go.is_set():
            read.set()
            await go.wait()
        return found

    monkeypatch.setattr(count_repository, "position", paused)
    scan = asyncio.ensure_future(
        clerk.RecordCount(pb.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=lamp, quantity=4))
    )
    try:
        await eventually(read.is_set, what="the scan read its ledger position")
        write_off = asyncio.ensure_future(
            stack.stub("inventory", role="service").AdjustStock(
                pb.AdjustStockRequest(
                    request_id=unique_id(),
                    location_id=store,
                    sku=lamp,
                    reason=pb.ADJUSTMENT_REASON_SHRINKAGE,
                    delta=-1,
                    observed_at=found_missing,
                )
            )
        )

        async def waiting_on_a_lock() -> bool:
            async with db.connection() as conn:
                return bool(
                    await conn.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )

        # Written off before the scan is written, or waiting for it: either way the scan then goes on.
        await eventually(
            lambda: write_off.done() or waiting_on_a_lock(), what="the write-off done or waiting for the scan"
        )
    finally:
        go.set()  # whatever happened, the scan is let go
    await scan
    await write_off

    await clerk.ReviewCount(pb.ReviewCountRequest(request_id=unique_id(), count_id=count.count_id))
    await clerk.CompleteCount(pb.CompleteCountRequest(request_id=unique_id(), count_id=count.count_id))
    async with db.connection() as conn:
        on_hand = await conn.fetchval(
            "SELECT on_hand FROM inventory.stock WHERE location_id = $1 AND sku = $2", store, lamp
        )
    assert on_hand == 4  # the four lamps on the shelf
    assert await check_invariants(db) == []
