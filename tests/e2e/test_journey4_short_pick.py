"""Journey 4, "short pick": the picker finds one of the two units the system believed were on the
shelf. Stock is corrected, the missing unit is re-routed to another location, the order still
completes, and nothing is double-held — through the real orders, fulfilment and inventory."""

from __future__ import annotations

import pytest_asyncio

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, HAMBURG, POTSDAM, Shop, allocated, pick_task, ship_request

TIMEOUT = 20.0


@pytest_asyncio.fixture
async def shop(stack: Stack) -> Shop:
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))


async def work_task(stack: Stack, location_id: str, allocation_id: str, found: int | None = None) -> fpb.Task:
    """Pick (finding `found` units when given), pack and ship one allocation's task as its staff would."""
    staff = stack.stub("fulfilment", role="warehouse", locations=[location_id])
    task = await pick_task(staff, location_id, allocation_id)
    await staff.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    picked = [common_pb2.SkuQuantity(sku=line.sku, quantity=found) for line in task.lines] if found is not None else []
    confirmed = await staff.ConfirmPick(
        fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id, picked=picked)
    )
    await staff.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id))
    await staff.Ship(
        fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL", tracking_number=unique_id())
    )
    return confirmed.task


async def test_short_pick_is_corrected_rerouted_and_the_order_completes(stack: Stack, shop: Shop, db, tap) -> None:
    chair = await shop.sku("Oak chair", 8900)
    near = await shop.location(BERLIN, warehouse=True, city="Berlin")
    far = await shop.location(HAMBURG, warehouse=True, city="Hamburg")
    await shop.receive(near, chair, 2)
    await shop.receive(far, chair, 3)

    order = (await shop.orders_as("storefront").CreateOrder(ship_request([(chair, 2)], to=POTSDAM))).order
    assert allocated(order) == {near: {chair: 2}}
    (first,) = order.allocations

    # The picker finds one of the two: the rest is written off and released, and orders re-routes it.
    task = await work_task(stack, near, first.allocation_id, found=1)
    assert [(line.sku, line.quantity, line.picked) for line in task.lines] == [(chair, 2, 1)]
    level = await shop.level(near, chair)
    assert (level.on_hand, level.held) == (0, 0)  # 2 believed, 1 missing, 1 shipped

    rerouted = await shop.wait_for_order(
        order.order_id, lambda o: any(a.location_id == far for a in o.allocations), TIMEOUT
    )
    (second,) = [a for a in rerouted.allocations if a.location_id == far]
    assert {line.sku: line.quantity for line in second.lines} == {chair: 1}
    assert await shop.held((far, chair)) == [1]  # held once, where it was re-routed to
    await tap.wait_for(lambda e, p: e.type == "orders.order.rerouted" and p.order.order_id == order.order_id, TIMEOUT)

    await work_task(stack, far, second.allocation_id)
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED, TIMEOUT)
    assert [(line.sku, line.fulfilled) for line in done.lines] == [(chair, 2)]
    far_level = await shop.level(far, chair)
    assert (far_level.on_hand, far_level.held) == (2, 0)
    movements = await shop.inventory.ListMovements(inv.ListMovementsRequest(location_id=near, sku=chair))
    assert [m.reason for m in movements.movements if m.on_hand_delta == -1 and m.reason.startswith("shrinkage")]
    assert await check_invariants(db) == []
