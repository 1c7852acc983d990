"""A count scanned and posted while tills on two inventory processes keep selling the same SKU at
once (tests/integration/inventory/test_counts_while_selling.py interleaves the same steps one at a
time): each line's variance is counted minus the book at its scan's ledger position, the posting
moves on hand by exactly the variances, and nothing is sold below zero or counted twice."""

from __future__ import annotations

import asyncio

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import unique_id

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
