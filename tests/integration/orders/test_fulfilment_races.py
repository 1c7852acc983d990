"""The work at a location racing with the order it is for: a picker's short pick gives units back
while the order is being cancelled. Made deterministic by slowing the cancellation down in
inventory (its release's claim waits on a row the test holds) while the pick goes through."""

from __future__ import annotations

import asyncio

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_orders.service_layer.holding import derived_request_id, digest
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import BERLIN, Shop, pick_task, ship_request
from tests.integration.orders.test_races import at_once, delayed_in_inventory


async def test_an_order_cancelled_while_its_pick_comes_up_short_is_cancelled(shop: Shop, db: Database) -> None:
    """The customer cancels as the picker confirms finding one lamp of two. The cancellation read
    two units open in the hold and asks inventory to release them; the short pick released one
    first. The cancellation must still go through, giving back what is left, and nothing more."""
    warehouse, lamp = await shop.location(BERLIN, warehouse=True), await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 2)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 2)]))).order
    (allocation,) = order.allocations
    picker = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(picker, warehouse, allocation.allocation_id)

    release = derived_request_id(order.order_id, "cancel", allocation.allocation_id, digest({(warehouse, lamp): 2}))
    async with delayed_in_inventory(db, release) as waiting:
        cancelling = asyncio.ensure_future(
            shop.orders.CancelOrder(
                pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id, reason="changed my mind")
            )
        )
        await waiting()  # the cancellation read two units open and is on its way to release them
        picked = await picker.ConfirmPick(
            fpb.ConfirmPickRequest(
                request_id=unique_id(),
                task_id=task.task_id,
                picked=[common_pb2.SkuQuantity(sku=lamp, quantity=1)],
                short_reason="one lamp broken",
            )
        )
        assert {line.sku: line.quantity for line in picked.short} == {lamp: 1}
    cancelled = (await cancelling).order

    assert cancelled.status == pb.ORDER_STATUS_CANCELLED, cancelled
    hold = await shop.hold(allocation.hold_id)
    assert hold.state == inv.HOLD_STATE_RELEASED
    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (1, 0)  # the broken lamp written off, the other back on sale


async def test_one_request_id_at_once_confirms_a_short_pick_and_ships_once(shop: Shop, db: Database) -> None:
    """A handheld that retries while its first try still runs (each copy 'resumes' the request, as
    a retry after a crash would): every copy gets the one answer, the missing lamp is written off
    once, and the parcel is sold once."""
    warehouse, lamp = await shop.location(BERLIN, warehouse=True), await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 3)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 3)]))).order
    (allocation,) = order.allocations
    picker = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(picker, warehouse, allocation.allocation_id)

    request_id = unique_id()
    confirms = [
        fpb.ConfirmPickRequest(
            request_id=request_id, task_id=task.task_id, picked=[common_pb2.SkuQuantity(sku=lamp, quantity=n)]
        )
        for n in (2, 1)
    ]
    (confirmed, *_), _ = await at_once(lambda r: picker.ConfirmPick(r), *confirms)
    found = confirmed.task.lines[0].picked
    await picker.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id))
    request_id = unique_id()
    ships = [
        fpb.ShipRequest(request_id=request_id, task_id=task.task_id, carrier=carrier, tracking_number="1")
        for carrier in ("DHL", "UPS")
    ]
    (shipped, *_), _ = await at_once(lambda r: picker.Ship(r), *ships)
    assert shipped.task.status == fpb.TASK_STATUS_SHIPPED

    level = await shop.level(warehouse, lamp)
    assert (level.on_hand, level.held) == (0, 0)  # 3 - (3 - found) written off - found sold
    hold = await shop.hold(allocation.hold_id)
    assert [(line.committed, line.released) for line in hold.lines] == [(found, 3 - found)]
