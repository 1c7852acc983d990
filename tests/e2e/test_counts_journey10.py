"""Journey 10, "counting while selling": a store counts its shelf while the till keeps selling and a
reservation is collected; the count's variance is exact, and the book equals the shelf at the end —
through the real inventory, reservations, orders and fulfilment, as each person would act."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.insights.v1 import insights_pb2 as spb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, Shop, store_request

TIMEOUT = 20.0


async def preparation_task(staff, store: str, reservation_id: str) -> fpb.Task:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        listed = await staff.ListTasks(fpb.ListTasksRequest(location_id=store, kind=fpb.TASK_KIND_PICKUP_PREPARATION))
        found = [task for task in listed.tasks if task.reservation_id == reservation_id]
        if found:
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, f"no preparation task for {reservation_id}"
        await asyncio.sleep(0.05)


async def test_a_store_counts_its_shelf_while_the_till_sells_and_the_book_ends_exact(
    stack: Stack, db, tap: EventTap
) -> None:
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    store = await shop.location(BERLIN, city="Berlin")
    mugs, plates, bowls = (await shop.sku("Mug", 1200), await shop.sku("Plate", 1500), await shop.sku("Bowl", 900))
    await shop.receive(store, mugs, 12)  # the book: 12 mugs; on the shelf there are 10 (two broke unrecorded)
    await shop.receive(store, plates, 8)  # 8 in the book, 8 on the shelf
    await shop.receive(store, bowls, 5)  # 5 in the book, 6 on the shelf (a return never booked)
    shelf = {mugs: 10, plates: 8, bowls: 6}

    clerk = stack.stub("inventory", token=stack.token("pos", locations=[store], subject="clerk-anna"))
    till = stack.stub("orders", role="pos", locations=[store])
    desk = stack.stub("fulfilment", role="pos", locations=[store])
    chat = stack.stub("reservations", role="chat_agent")

    # A customer reserves two plates in the chat before the count starts; they stay on the shelf.
    reservation = (
        await chat.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Grace Hopper"),
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=plates, quantity=2)],
            )
        )
    ).reservation

    count = (
        await clerk.CreateCount(
            inv.CreateCountRequest(
                request_id=unique_id(), location_id=store, scope=inv.COUNT_SCOPE_ALL, variance_threshold=1, note="all"
            )
        )
    ).count
    assert count.summary.lines == 3

    async def sell(sku: str, quantity: int) -> None:
        await till.CreateOrder(store_request([(sku, quantity)], store, carry_out=True))
        shelf[sku] -= quantity

    async def scan(sku: str) -> inv.CountLine:
        reply = await clerk.RecordCount(
            inv.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=sku, quantity=shelf[sku])
        )
        assert not reply.line.HasField("variance")  # the clerk counts blind
        return reply.line

    await sell(mugs, 1)  # book 11, shelf 9
    await scan(mugs)  # variance -2 at this moment
    await sell(mugs, 2)  # after the scan: in the book and on the shelf alike
    await sell(plates, 1)  # before the plates are counted: book 7, shelf 7
    await scan(plates)
    # The reserved plates are collected at the desk while the count goes on.
    task = await preparation_task(desk, store, reservation.reservation_id)
    await desk.HandOver(
        fpb.HandOverRequest(request_id=unique_id(), location_id=store, pickup_code=reservation.pickup_code)
    )
    assert task.reservation_id == reservation.reservation_id
    shelf[plates] -= 2
    await scan(bowls)
    await sell(bowls, 1)

    reviewed = await clerk.ReviewCount(inv.ReviewCountRequest(request_id=unique_id(), count_id=count.count_id))
    assert not reviewed.zeroed
    assert sorted(line.sku for line in reviewed.needs_review) == [mugs]  # -2 is beyond the threshold of 1

    office = stack.stub("inventory", token=stack.token("admin", subject="manager-ben"))
    lines = {
        line.sku: line
        for line in (await office.ListCountLines(inv.ListCountLinesRequest(count_id=count.count_id))).lines
    }
    assert {sku: (line.book_on_hand, line.variance) for sku, line in lines.items()} == {
        mugs: (11, -2),
        plates: (7, 0),
        bowls: (5, 1),
    }
    await office.ApproveCount(
        inv.ApproveCountRequest(request_id=unique_id(), count_id=count.count_id, note="two mugs broke")
    )
    done = await clerk.CompleteCount(inv.CompleteCountRequest(request_id=unique_id(), count_id=count.count_id))
    assert {m.sku: m.on_hand_delta for m in done.adjustments} == {mugs: -2, bowls: 1}

    for sku, units in shelf.items():
        level = await shop.level(store, sku)
        assert (level.on_hand, level.held) == (units, 0), sku
    await tap.wait_for(lambda e, p: e.type == "inventory.count.completed" and p.count.count_id == count.count_id)
    collected = await stack.stub("reservations", role="admin").GetReservation(
        rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert collected.reservation.status == rpb.RESERVATION_STATUS_COLLECTED
    assert await check_invariants(db) == []

    # The store manager sees the count in the figures: three lines counted, one right, 1 over, 2 short.
    manager = stack.stub("insights", role="pos", locations=[store])
    today = datetime.now(UTC).date().isoformat()
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        rows = (
            await manager.GetChannelInsights(
                spb.GetChannelInsightsRequest(location_id=store, from_date=today, to_date=today)
            )
        ).rows
        counted = [row.stock for row in rows if row.stock.counts_completed]
        if counted:
            break
        assert asyncio.get_running_loop().time() < deadline, "the count never reached the figures"
        await asyncio.sleep(0.1)
    (stock,) = counted
    assert (stock.count_lines, stock.count_lines_matched, stock.count_units_over, stock.count_units_short) == (
        3,
        1,
        1,
        2,
    )
