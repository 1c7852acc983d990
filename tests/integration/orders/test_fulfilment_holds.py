"""Fulfilment holds: an order (or one allocation) waits for its payment, a fraud review or an address
check. Its stock stays held (its inventory holds outlive the fulfilment hold), fulfilment works none
of its tasks, a release lets the work go on, and a hold never released cancels the order cleanly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_orders.entrypoints.main import OrdersService
from omnistock_platform.errors import Reason
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, HAMBURG, POTSDAM, Shop, ship_request, store_request
from tests.integration.promise_support import every_day, local_today, midday_zone

TIMEOUT = 20.0
PAYMENT = common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING
FRAUD = common_pb2.FULFILMENT_HOLD_REASON_FRAUD_REVIEW
ADDRESS = common_pb2.FULFILMENT_HOLD_REASON_ADDRESS_CHECK


def hold_of(reason: int, *, ttl: timedelta | None = None, note: str = "") -> pb.FulfilmentHoldRequest:
    request = pb.FulfilmentHoldRequest(reason=reason, note=note)  # type: ignore[arg-type]
    if ttl is not None:
        request.ttl.CopyFrom(Duration(seconds=int(ttl.total_seconds()), nanos=0))
    return request


async def hold(orders: Any, order_id: str, reason: int, **fields: Any) -> pb.HoldOrderResponse:
    allocation_id = fields.pop("allocation_id", "")
    return await orders.HoldOrder(
        pb.HoldOrderRequest(
            request_id=unique_id(), order_id=order_id, allocation_id=allocation_id, hold=hold_of(reason, **fields)
        )
    )


async def release(orders: Any, order_id: str, hold_id: str = "") -> pb.Order:
    reply = await orders.ReleaseOrderHold(
        pb.ReleaseOrderHoldRequest(request_id=unique_id(), order_id=order_id, fulfilment_hold_id=hold_id, note="paid")
    )
    return reply.order


async def task_of(stack: Stack, location_id: str, allocation_id: str, predicate: Any = None) -> fpb.Task:
    """The allocation's pick task once it exists (and satisfies the predicate), bounded."""
    staff = stack.stub("fulfilment", role="admin")
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        listed = await staff.ListTasks(fpb.ListTasksRequest(location_id=location_id))
        found = [task for task in listed.tasks if task.allocation_id == allocation_id]
        if found and (predicate is None or predicate(found[0])):
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, f"no such task for {allocation_id}: {found}"
        await asyncio.sleep(0.05)


def violation_types(error: grpc.aio.AioRpcError) -> list[str]:
    return [v.type for d in details_of(error, error_details_pb2.PreconditionFailure) for v in d.violations]


def reason_of(error: grpc.aio.AioRpcError) -> str:
    infos = details_of(error, error_details_pb2.ErrorInfo)
    return infos[0].reason if infos else ""


async def test_a_held_order_keeps_its_stock_its_tasks_wait_and_a_release_lets_them_go(stack: Stack, shop: Shop) -> None:
    warehouse = await shop.location(BERLIN, warehouse=True)
    lamp = await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 3)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 2)]))).order
    (allocation,) = order.allocations
    await task_of(stack, warehouse, allocation.allocation_id)

    held = await hold(shop.orders_as("storefront"), order.order_id, ADDRESS, note="street number missing")
    assert held.order.on_hold and held.hold.status == pb.FULFILMENT_HOLD_STATUS_ACTIVE
    expires = held.hold.expires_at.ToDatetime(tzinfo=UTC)
    assert timedelta(days=2, hours=23) < expires - datetime.now(UTC) <= timedelta(days=3)
    # The stock stays held, longer than the fulfilment hold may last.
    inventory_hold = await shop.hold(allocation.hold_id)
    assert inventory_hold.state == inv.HOLD_STATE_ACTIVE
    assert inventory_hold.expires_at.ToDatetime(tzinfo=UTC) >= expires + timedelta(minutes=59)
    assert (await shop.level(warehouse, lamp)).held == 2

    task = await task_of(stack, warehouse, allocation.allocation_id, lambda t: t.hold_reason == ADDRESS)
    picker = stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    with pytest.raises(grpc.aio.AioRpcError) as waiting:
        await picker.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    assert waiting.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert violation_types(waiting.value) == ["TASK_ON_HOLD"]

    released = await release(shop.orders_as("storefront"), order.order_id)
    assert not released.on_hold and released.holds[0].status == pb.FULFILMENT_HOLD_STATUS_RELEASED
    assert released.holds[0].release_note == "paid"
    task = await task_of(stack, warehouse, allocation.allocation_id, lambda t: not t.hold_reason)
    await picker.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    await picker.ConfirmPick(fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id))
    await picker.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id))
    await picker.Ship(fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL", tracking_number="1"))
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED, TIMEOUT)
    assert [hold.status for hold in done.holds] == [pb.FULFILMENT_HOLD_STATUS_RELEASED]


async def test_an_order_placed_on_hold_has_its_tasks_made_blocked(stack: Stack, shop: Shop, tap) -> None:
    warehouse = await shop.location(BERLIN, warehouse=True)
    sofa = await shop.sku("Sofa")
    await shop.receive(warehouse, sofa, 1)
    request = ship_request([(sofa, 1)], hold=hold_of(PAYMENT, ttl=timedelta(days=6)))
    order = (await shop.orders_as("storefront").CreateOrder(request)).order
    assert order.status == pb.ORDER_STATUS_ALLOCATED and order.on_hold
    (placed,) = order.holds
    assert placed.status == pb.FULFILMENT_HOLD_STATUS_ACTIVE and placed.placed_by
    # Taken long enough at once: six days and the margin, not the usual three.
    (allocation,) = order.allocations
    expires = (await shop.hold(allocation.hold_id)).expires_at.ToDatetime(tzinfo=UTC)
    assert expires >= placed.expires_at.ToDatetime(tzinfo=UTC) + timedelta(minutes=59)
    # The task is born blocked: never open for picking, not even for a moment.
    created = await tap.wait_for(
        lambda e, p: e.type == "fulfilment.task.created" and p.task.order_id == order.order_id, TIMEOUT
    )
    assert created[1].task.hold_reason == PAYMENT


async def test_a_hold_nobody_releases_expires_and_cancels_the_order_cleanly(stack: Stack, shop: Shop, tap) -> None:
    store = await shop.location(BERLIN)
    mug = await shop.sku("Mug")
    await shop.receive(store, mug, 2)
    order = (await shop.orders.CreateOrder(store_request([(mug, 2)], store))).order
    (allocation,) = order.allocations
    await task_of(stack, store, allocation.allocation_id)
    await hold(shop.orders, order.order_id, PAYMENT, ttl=timedelta(seconds=1))

    cancelled = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_CANCELLED, TIMEOUT)
    expired = await shop.wait_for_order(
        order.order_id, lambda o: o.holds[0].status == pb.FULFILMENT_HOLD_STATUS_EXPIRED, TIMEOUT
    )
    assert not expired.on_hold and expired.holds[0].closed_at.seconds > 0
    assert [a.status for a in cancelled.allocations] == [pb.ALLOCATION_STATUS_CANCELLED]
    level = await shop.level(store, mug)
    assert (level.on_hand, level.held) == (2, 0)  # the stock is back
    await tap.wait_for(lambda e, p: e.type == "orders.order.hold_expired" and p.order.order_id == order.order_id)
    await task_of(stack, store, allocation.allocation_id, lambda t: t.status == fpb.TASK_STATUS_WITHDRAWN)


async def test_only_the_back_office_releases_a_fraud_review(shop: Shop) -> None:
    warehouse = await shop.location(BERLIN, warehouse=True)
    tv = await shop.sku("TV")
    await shop.receive(warehouse, tv, 1)
    order = (await shop.orders.CreateOrder(ship_request([(tv, 1)]))).order
    placed = (await hold(shop.orders_as("service"), order.order_id, FRAUD)).hold
    web = shop.orders_as("storefront")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await release(web, order.order_id, placed.fulfilment_hold_id)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason_of(refused.value) == Reason.ACTION_NOT_ALLOWED
    with pytest.raises(grpc.aio.AioRpcError) as all_of_them:
        await release(web, order.order_id)
    assert all_of_them.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await shop.order(order.order_id)).on_hold
    released = await release(shop.orders_as("admin"), order.order_id, placed.fulfilment_hold_id)
    assert not released.on_hold
    again = await release(shop.orders_as("admin"), order.order_id, placed.fulfilment_hold_id)
    assert again.holds == released.holds  # released once; asking again changes nothing


async def test_one_allocation_waits_while_the_other_is_worked(stack: Stack, shop: Shop) -> None:
    near = await shop.location(BERLIN, warehouse=True)
    far = await shop.location(HAMBURG, warehouse=True, city="Hamburg")
    chair, table = await shop.sku("Chair"), await shop.sku("Table")
    await shop.receive(near, chair, 1)
    await shop.receive(far, table, 1)
    order = (await shop.orders.CreateOrder(ship_request([(chair, 1), (table, 1)], to=POTSDAM))).order
    by_location = {a.location_id: a for a in order.allocations}
    assert set(by_location) == {near, far}
    await hold(shop.orders, order.order_id, ADDRESS, allocation_id=by_location[far].allocation_id)

    waiting = await task_of(stack, far, by_location[far].allocation_id, lambda t: t.hold_reason == ADDRESS)
    working = await task_of(stack, near, by_location[near].allocation_id)
    assert not working.hold_reason and waiting.hold_reason == ADDRESS
    picker = stack.stub("fulfilment", role="warehouse", locations=[near])
    await picker.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=working.task_id))


async def test_holds_are_refused_where_nothing_waits_or_the_request_is_wrong(shop: Shop) -> None:
    store = await shop.location(BERLIN)
    mug = await shop.sku("Mug")
    await shop.receive(store, mug, 3)
    order = (await shop.orders.CreateOrder(store_request([(mug, 1)], store))).order
    await hold(shop.orders, order.order_id, PAYMENT)
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await hold(shop.orders, order.order_id, PAYMENT)
    assert twice.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await hold(shop.orders, order.order_id, FRAUD, allocation_id="no-such-allocation")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as no_reason:
        await hold(shop.orders, order.order_id, 0)
    assert no_reason.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as too_long:
        await hold(shop.orders, order.order_id, FRAUD, ttl=timedelta(days=30))
    assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as till:
        await shop.orders_as("pos", [store]).CreateOrder(
            store_request([(mug, 1)], store, carry_out=True, hold=hold_of(PAYMENT))
        )
    assert till.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await shop.level(store, mug)).held == 1  # nothing sold at the till

    cancelled = await shop.orders.CancelOrder(
        pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id, reason="changed mind")
    )
    assert cancelled.order.status == pb.ORDER_STATUS_CANCELLED and not cancelled.order.on_hold
    with pytest.raises(grpc.aio.AioRpcError) as over:
        await hold(shop.orders, order.order_id, FRAUD)
    assert over.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert violation_types(over.value) == ["ORDER_STATUS"]
    ended = await shop.wait_for_order(
        order.order_id, lambda o: o.holds[0].status == pb.FULFILMENT_HOLD_STATUS_ENDED, TIMEOUT
    )
    assert ended.holds[0].closed_at.seconds > 0
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await release(shop.orders, order.order_id, ended.holds[0].fulfilment_hold_id)
    assert violation_types(gone.value) == ["HOLD_STATUS"]


async def test_work_released_later_is_promised_from_the_release(
    stack: Stack, shop: Shop, tap, orders_process: OrdersService
) -> None:
    zone = midday_zone()
    tomorrow = local_today(zone) + timedelta(days=1)
    # Every order is past the cut-off: handled from tomorrow's opening, ready an hour later.
    calendar = inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("09:00", "18:00"), pickup_preparation_minutes=60, order_cutoff="00:00"
    )
    store = await shop.location(BERLIN, promise_settings=calendar)
    sofa = await shop.sku("Sofa")
    await shop.receive(store, sofa, 1)
    order = (await shop.orders.CreateOrder(store_request([(sofa, 1)], store, hold=hold_of(PAYMENT)))).order
    assert (order.promise.local_date, order.promise.local_time) == (tomorrow.isoformat(), "10:00")

    # The payment comes only once tomorrow's work can no longer be done (tomorrow is closed, as if
    # the release came days later): handled from the release, it is ready the day after.
    location = (await shop.inventory.GetLocation(inv.GetLocationRequest(location_id=store))).location
    location.promise_settings.closed_dates.append(tomorrow.isoformat())
    await shop.inventory.UpsertLocation(inv.UpsertLocationRequest(request_id=unique_id(), location=location))
    # Released by a process that has not read the store yet: orders keeps a location a few seconds.
    with stack.acting_as("admin"):
        released = (
            await orders_process.holds.release(
                pb.ReleaseOrderHoldRequest(request_id=unique_id(), order_id=order.order_id, note="paid")
            )
        ).order
    after = (tomorrow + timedelta(days=1)).isoformat()
    assert (released.promise.local_date, released.promise.local_time) == (after, "10:00")
    assert (await shop.order(order.order_id)).promise == released.promise
    _, repromised = await tap.wait_for(
        lambda e, p: e.type == "orders.order.repromised" and p.order.order_id == order.order_id, TIMEOUT
    )
    assert repromised.order.promise == released.promise
    assert repromised.previous.promise == order.promise
