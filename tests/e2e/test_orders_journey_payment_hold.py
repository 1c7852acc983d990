"""Journey "an order waits for payment, then is released and shipped": the web shop places an order
whose payment has not arrived; the warehouse sees the pick task but cannot work it, and its stock is
held all the while for nobody else; the payment arrives, the web shop releases the hold, and the
warehouse picks, packs and ships it — through the real orders, fulfilment and inventory."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, POTSDAM, Shop, ship_request

TIMEOUT = 20.0
PAYMENT = common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING


async def the_task(staff, warehouse: str, order_id: str, wanted) -> fpb.Task:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        listed = await staff.ListTasks(fpb.ListTasksRequest(location_id=warehouse, kind=fpb.TASK_KIND_PICK))
        found = [task for task in listed.tasks if task.order_id == order_id]
        if found and wanted(found[0]):
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, f"the order's task never got there: {found}"
        await asyncio.sleep(0.05)


async def test_an_order_waits_for_payment_then_is_released_and_shipped(stack: Stack, db, tap: EventTap) -> None:
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    warehouse = await shop.location(BERLIN, warehouse=True)
    sofa = await shop.sku("Velvet sofa, green", 129900)
    await shop.receive(warehouse, sofa, 1)
    web = shop.orders_as("storefront")

    # The customer checks out; the card payment is still being authorised.
    hold = pb.FulfilmentHoldRequest(reason=PAYMENT, note="card authorisation pending", ttl=Duration(seconds=2 * 86400))
    order = (await web.CreateOrder(ship_request([(sofa, 1)], to=POTSDAM, hold=hold))).order
    assert order.status == pb.ORDER_STATUS_ALLOCATED and order.on_hold
    (waiting,) = order.holds
    assert waiting.reason == PAYMENT and waiting.status == pb.FULFILMENT_HOLD_STATUS_ACTIVE

    # The one sofa is held for this order: nobody else can buy it meanwhile.
    level = await shop.level(warehouse, sofa)
    assert (level.on_hand, level.held, level.available) == (1, 1, 0)
    (allocation,) = order.allocations
    kept_until = (await shop.hold(allocation.hold_id)).expires_at.ToDatetime(tzinfo=UTC)
    assert kept_until >= waiting.expires_at.ToDatetime(tzinfo=UTC) + timedelta(minutes=59)

    # The warehouse sees the task, on hold; it cannot be started.
    picker = stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await the_task(picker, warehouse, order.order_id, lambda t: t.hold_reason == PAYMENT)
    assert task.status == fpb.TASK_STATUS_OPEN
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await picker.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (failure,) = details_of(refused.value, error_details_pb2.PreconditionFailure)
    assert [v.type for v in failure.violations] == ["TASK_ON_HOLD"]

    # The payment arrives: the web shop releases the hold, and the work goes on.
    released = (
        await web.ReleaseOrderHold(
            pb.ReleaseOrderHoldRequest(
                request_id=unique_id(), order_id=order.order_id, note="payment PSP-4711 captured"
            )
        )
    ).order
    assert not released.on_hold and released.holds[0].status == pb.FULFILMENT_HOLD_STATUS_RELEASED
    await tap.wait_for(lambda e, p: e.type == "orders.order.hold_released" and p.order.order_id == order.order_id)
    task = await the_task(picker, warehouse, order.order_id, lambda t: not t.hold_reason)
    await picker.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    await picker.ConfirmPick(fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id))
    await picker.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id))
    await picker.Ship(
        fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL", tracking_number=unique_id())
    )

    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED, TIMEOUT)
    assert [line.fulfilled for line in done.lines] == [1]
    level = await shop.level(warehouse, sofa)
    assert (level.on_hand, level.held) == (0, 0)
    assert await check_invariants(db) == []
