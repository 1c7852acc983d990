"""An order edited after allocation, end to end: the customer calls the chat agent, who adds a
chair (more than the warehouse that holds the order has: the extra is held at the store nearby),
drops the lamp, and later tries to take a chair away while the warehouse is already picking.
The holds change in place, the pick lists follow, the order ships whole and completes."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, POTSDAM, SPANDAU, Shop, pick_task, ship_request
from tests.integration.orders.test_edits import held, system_violations

TIMEOUT = 20.0


@pytest_asyncio.fixture
async def shop(stack: Stack) -> Shop:
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))


async def task_lines(stack: Stack, location: str, allocation_id: str, wanted: dict[str, int]) -> fpb.Task:
    """The allocation's pick task once its lines are `wanted` (fulfilment follows the order's events)."""
    staff = stack.stub("fulfilment", role="warehouse", locations=[location])
    for _ in range(int(TIMEOUT / 0.05)):
        task = await pick_task(staff, location, allocation_id)
        if {line.sku: line.quantity for line in task.lines} == wanted:
            return task
        await asyncio.sleep(0.05)
    raise AssertionError(f"task of {allocation_id} never showed {wanted}: {task}")


async def test_the_chat_agent_edits_an_allocated_order(stack: Stack, shop: Shop, db, tap) -> None:
    chair, lamp = await shop.sku("Oak chair", 8900), await shop.sku("Brass lamp", 4900)
    warehouse = await shop.location(BERLIN, warehouse=True)
    store = await shop.location(SPANDAU)
    await shop.receive(warehouse, chair, 2)
    await shop.receive(warehouse, lamp, 1)
    await shop.receive(store, chair, 3)

    order = (await shop.orders_as("storefront").CreateOrder(ship_request([(chair, 2), (lamp, 1)], to=POTSDAM))).order
    assert held(order) == {warehouse: {chair: 2, lamp: 1}}
    (first,) = order.allocations
    await task_lines(stack, warehouse, first.allocation_id, {chair: 2, lamp: 1})

    # "Make it four chairs, and no lamp after all."
    agent = shop.orders_as("chat_agent")
    edited = (
        await agent.EditOrder(
            pb.EditOrderRequest(
                request_id=unique_id(),
                order_id=order.order_id,
                lines=[pb.OrderLineEdit(sku=chair, quantity=4), pb.OrderLineEdit(sku=lamp, quantity=0)],
                reason="customer called",
            )
        )
    ).order
    assert [(line.sku, line.quantity) for line in edited.lines] == [(chair, 4)]
    # The warehouse had only its two chairs: the other two are held at the store, in the same hold.
    assert held(edited) == {warehouse: {chair: 2}, store: {chair: 2}}
    assert {a.hold_id for a in edited.allocations} == {first.hold_id}
    assert await shop.held((warehouse, chair), (warehouse, lamp), (store, chair)) == [2, 0, 2]
    # The warehouse's pick list lost the lamp; the store got a list of its own.
    await task_lines(stack, warehouse, first.allocation_id, {chair: 2})
    (second,) = [a for a in edited.allocations if a.location_id == store]
    await task_lines(stack, store, second.allocation_id, {chair: 2})

    # The warehouse starts picking; taking a chair away from it now is refused, nothing changes.
    staff = stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(staff, warehouse, first.allocation_id)
    await staff.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    await tap.wait_for(
        lambda e, p: e.type == "fulfilment.task.picking_started" and p.task.task_id == task.task_id, TIMEOUT
    )
    for _ in range(int(TIMEOUT / 0.05)):  # orders hears of the picking from fulfilment's event
        if await db.fetchval(
            "SELECT picking_started FROM orders.allocations WHERE allocation_id = $1", first.allocation_id
        ):
            break
        await asyncio.sleep(0.05)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        # Four to one: the store's two would go, and one the picker already has in hand.
        await agent.EditOrder(
            pb.EditOrderRequest(
                request_id=unique_id(), order_id=order.order_id, lines=[pb.OrderLineEdit(sku=chair, quantity=1)]
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    types = [v.type for d in details_of(refused.value, error_details_pb2.PreconditionFailure) for v in d.violations]
    assert types == ["ALLOCATION_PICKING"]
    after = await shop.order(order.order_id)
    assert held(after) == held(edited)

    # Both lists are picked and shipped: the order completes with four chairs.
    for location, allocation in ((warehouse, first), (store, second)):
        worker = stack.stub("fulfilment", role="warehouse", locations=[location])
        task = await pick_task(worker, location, allocation.allocation_id)
        await worker.ConfirmPick(fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id))
        await worker.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id))
        await worker.Ship(
            fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL", tracking_number=unique_id())
        )
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED, TIMEOUT)
    assert [(line.sku, line.fulfilled) for line in done.lines] == [(chair, 4)]
    assert [(await shop.level(loc, chair)).on_hand for loc in (warehouse, store)] == [0, 1]
    assert (await shop.level(warehouse, lamp)).on_hand == 1  # the lamp never left
    _, event = await tap.wait_for(
        lambda e, p: e.type == "orders.order.edited" and p.order.order_id == order.order_id, TIMEOUT
    )
    assert [(line.sku, line.quantity) for line in event.previous.lines] == [(chair, 2), (lamp, 1)]
    assert await system_violations(shop, db, order.order_id) == []
    assert await check_invariants(db) == []
