"""A cycle count and a short pick that found the same unit missing: the unit leaves the book once.

The count is the truth at its moment: what it scanned is what was there, and the book changes after
the scan by what happened after it. A pick that saw a unit missing before the scan, but whose
write-off reached inventory only after it (a crash cut the pick short between giving the unit back
from the hold and writing it off, and the pick was finished later), did not happen after the scan:
the scan already missed that unit."""

from __future__ import annotations

import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import BERLIN, Crash, Shop, pick_task, ship_request
from tests.integration.orders.test_cut_short_picks import task_work
from tests.integration.orders.test_edits import system_violations


async def test_a_short_pick_finished_after_a_count_scanned_its_missing_unit_takes_it_off_once(
    shop: Shop, db: Database
) -> None:
    warehouse, lamp = await shop.location(BERLIN, warehouse=True), await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 5)  # the book says 5; one of them is gone from the shelf
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 2)]))).order
    (allocation,) = order.allocations
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(staff, warehouse, allocation.allocation_id)
    await staff.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))

    # The picker finds one of the two lamps in the bin; fulfilment dies after inventory gave the
    # missing one back from the hold, before it wrote it off.
    report = fpb.ConfirmPickRequest(
        request_id=unique_id(),
        task_id=task.task_id,
        picked=[common_pb2.SkuQuantity(sku=lamp, quantity=1)],
        short_reason="empty bin",
    )
    with shop.stack.acting_as("warehouse", locations=[warehouse]), pytest.raises(Crash):
        await task_work(shop, db, crash_at="write_off").confirm_pick(report)
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (5, 1)

    # Then the warehouse counts its lamps: four (the one picked among them), not the book's five.
    counter = shop.stack.stub("inventory", role="warehouse", locations=[warehouse])
    count = (
        await counter.CreateCount(
            ipb.CreateCountRequest(
                request_id=unique_id(),
                location_id=warehouse,
                scope=ipb.COUNT_SCOPE_SKUS,
                skus=[lamp],
                variance_threshold=5,
            )
        )
    ).count
    await counter.RecordCount(
        ipb.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=lamp, quantity=4)
    )

    # Two lamps arrive after the scan, on the shelf and in the book alike.
    await shop.receive(warehouse, lamp, 2)

    # The picker's handheld sends its report again: the pick is finished, the missing lamp written off.
    with shop.stack.acting_as("warehouse", locations=[warehouse]):
        picked = (await task_work(shop, db).confirm_pick(report)).task
    assert picked.status == fpb.TASK_STATUS_PICKED
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (6, 1)
    admin = shop.stack.stub("inventory", role="admin")
    (line,) = (await admin.ListCountLines(ipb.ListCountLinesRequest(count_id=count.count_id))).lines
    # The scan's four, and the two received since, at the write-off's ledger position: nothing left over.
    assert (line.counted, line.book_on_hand, line.variance) == (6, 6, 0)
    await counter.ReviewCount(ipb.ReviewCountRequest(request_id=unique_id(), count_id=count.count_id))
    completed = await counter.CompleteCount(ipb.CompleteCountRequest(request_id=unique_id(), count_id=count.count_id))
    assert list(completed.adjustments) == []

    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (6, 1)  # the six lamps there are, one of them picked
    assert await system_violations(shop, db, count.count_id, warehouse) == []


async def test_a_short_pick_finished_after_a_count_completed_leaves_the_book_at_the_count(
    shop: Shop, db: Database
) -> None:
    """The count scanned and completed while the pick's write-off waited: it took the missing lamp off
    already, and the write-off, finished later, takes off nothing more."""
    warehouse, lamp = await shop.location(BERLIN, warehouse=True), await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 5)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 2)]))).order
    (allocation,) = order.allocations
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(staff, warehouse, allocation.allocation_id)
    await staff.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    report = fpb.ConfirmPickRequest(
        request_id=unique_id(),
        task_id=task.task_id,
        picked=[common_pb2.SkuQuantity(sku=lamp, quantity=1)],
        short_reason="empty bin",
    )
    with shop.stack.acting_as("warehouse", locations=[warehouse]), pytest.raises(Crash):
        await task_work(shop, db, crash_at="write_off").confirm_pick(report)

    counter = shop.stack.stub("inventory", role="warehouse", locations=[warehouse])
    count = (
        await counter.CreateCount(
            ipb.CreateCountRequest(
                request_id=unique_id(),
                location_id=warehouse,
                scope=ipb.COUNT_SCOPE_SKUS,
                skus=[lamp],
                variance_threshold=5,
            )
        )
    ).count
    await counter.RecordCount(
        ipb.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=lamp, quantity=4)
    )
    await counter.ReviewCount(ipb.ReviewCountRequest(request_id=unique_id(), count_id=count.count_id))
    await counter.CompleteCount(ipb.CompleteCountRequest(request_id=unique_id(), count_id=count.count_id))
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (4, 1)

    with shop.stack.acting_as("warehouse", locations=[warehouse]):
        picked = (await task_work(shop, db).confirm_pick(report)).task
    assert picked.status == fpb.TASK_STATUS_PICKED
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (4, 1)  # the four lamps the count found, one of them picked
    assert await system_violations(shop, db, count.count_id, warehouse) == []


async def test_a_write_off_of_units_found_missing_after_the_scan_is_a_loss_of_its_own(shop: Shop, db: Database) -> None:
    """The count saw four lamps of five; a pick reported after the scan finds another one missing: it
    went after the count, and the book ends at three."""
    warehouse, lamp = await shop.location(BERLIN, warehouse=True), await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 5)
    counter = shop.stack.stub("inventory", role="warehouse", locations=[warehouse])
    count = (
        await counter.CreateCount(
            ipb.CreateCountRequest(
                request_id=unique_id(),
                location_id=warehouse,
                scope=ipb.COUNT_SCOPE_SKUS,
                skus=[lamp],
                variance_threshold=5,
            )
        )
    ).count
    await counter.RecordCount(
        ipb.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=lamp, quantity=4)
    )
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 4)]))).order
    (allocation,) = order.allocations
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(staff, warehouse, allocation.allocation_id)
    await staff.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    await staff.ConfirmPick(
        fpb.ConfirmPickRequest(
            request_id=unique_id(),
            task_id=task.task_id,
            picked=[common_pb2.SkuQuantity(sku=lamp, quantity=3)],
            short_reason="empty bin",
        )
    )
    await counter.ReviewCount(ipb.ReviewCountRequest(request_id=unique_id(), count_id=count.count_id))
    await counter.CompleteCount(ipb.CompleteCountRequest(request_id=unique_id(), count_id=count.count_id))

    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (3, 3)
    assert await system_violations(shop, db, count.count_id, warehouse) == []
