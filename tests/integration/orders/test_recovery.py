"""A crash between PENDING and ALLOCATED, and a race lost inside CreateOrder."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_orders.adapters import repository
from omnistock_orders.entrypoints.main import OrdersService
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import LEIPZIG, SPANDAU, Crash, Shop, allocated, ship_request


async def test_crash_after_the_hold_is_finished_with_the_same_hold(shop: Shop, orders_process: OrdersService) -> None:
    sofa = await shop.sku()
    store = await shop.location(SPANDAU)
    await shop.receive(store, sofa, 3)
    placement = orders_process.placement
    finish = placement._finish

    async def crash(*args: Any) -> None:
        raise Crash("killed after the hold, before the order was stored")

    placement._finish = crash  # type: ignore[method-assign]
    request = ship_request([(sofa, 2)])
    with shop.stack.acting_as("admin"), pytest.raises(Crash):  # the shop's own first attempt
        await placement.create(request)
    placement._finish = finish  # type: ignore[method-assign]

    found = await repository.by_request_id(placement.db.pool, request.request_id)
    assert found is not None and found[0].order.status.value == "pending"
    assert await shop.held((store, sofa)) == [2]

    assert await placement.recover(older_than=0) >= 1

    order = await shop.order(found[0].order_id)
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    assert allocated(order) == {store: {sofa: 2}}
    assert await shop.held((store, sofa)) == [2]  # the same hold, not a second one
    hold = await shop.hold(order.allocations[0].hold_id)
    assert hold.owner == f"order:{order.order_id}" and hold.lines[0].quantity == 2
    # The caller's retry gets the recovered order.
    assert (await shop.orders.CreateOrder(request)).order.order_id == order.order_id


async def test_crash_before_anything_was_held_leaves_nothing(shop: Shop, orders_process: OrdersService) -> None:
    """The order is planned before it is written (with its first attempt, in one statement): a crash
    while planning has written nothing, held nothing, and the retry is evaluated afresh."""
    sofa = await shop.sku()
    store = await shop.location(SPANDAU)
    await shop.receive(store, sofa, 1)
    placement = orders_process.placement
    plan = placement.planner.plan

    async def crash(*args: Any) -> None:
        raise Crash("killed while planning")

    placement.planner.plan = crash  # type: ignore[method-assign]
    request = ship_request([(sofa, 1)])
    with pytest.raises(Crash):
        await placement.create(request)
    placement.planner.plan = plan  # type: ignore[method-assign]
    assert await repository.by_request_id(placement.db.pool, request.request_id) is None
    assert await shop.held((store, sofa)) == [0]

    # Nothing was answered, so the retry is evaluated afresh.
    retried = (await shop.orders.CreateOrder(request)).order
    assert retried.status == pb.ORDER_STATUS_ALLOCATED
    assert await shop.held((store, sofa)) == [1]


async def test_crash_while_planning_again_drops_the_written_order(shop: Shop, orders_process: OrdersService) -> None:
    """An order whose first plan found nothing is written without an attempt and planned again; a
    crash then leaves an order that never asked for anything: recovery drops it."""
    sofa = await shop.sku()
    store = await shop.location(SPANDAU)
    placement = orders_process.placement
    plan = placement.planner.plan
    plans: list[Any] = []

    async def find_nothing_then_crash(query: Any) -> Any:
        if plans:
            raise Crash("killed while planning again")
        plans.append(await plan(query))
        return plans[-1]

    placement.planner.plan = find_nothing_then_crash  # type: ignore[method-assign]
    request = ship_request([(sofa, 1)])
    with pytest.raises(Crash):
        await placement.create(request)
    placement.planner.plan = plan  # type: ignore[method-assign]
    assert not plans[0].usable
    found = await repository.by_request_id(placement.db.pool, request.request_id)
    assert found is not None and found[0].attempt == 0

    assert await placement.recover(older_than=0) >= 1
    assert await repository.by_request_id(placement.db.pool, request.request_id) is None
    assert await shop.held((store, sofa)) == [0]


async def test_race_lost_between_plan_and_hold_plans_again(shop: Shop, orders_process: OrdersService) -> None:
    sofa = await shop.sku()
    near, far = await shop.location(SPANDAU), await shop.location(LEIPZIG)
    await shop.receive(near, sofa, 1)
    await shop.receive(far, sofa, 1)
    planner = orders_process.placement.planner
    plan = planner.plan
    plans: list[list[str]] = []

    async def plan_then_lose_the_race(query: Any) -> Any:
        planned = await plan(query)
        plans.append([a.location_id for a in planned.plan.allocations])
        if len(plans) == 1:  # a competitor takes the first choice between our plan and our hold
            await shop.inventory.Hold(
                inv.HoldRequest(
                    request_id=unique_id(),
                    owner="test:competitor",
                    channel=common_pb2.CHANNEL_APP,
                    lines=[inv.HoldLineRequest(location_id=near, sku=sofa, quantity=1)],
                )
            )
        return planned

    planner.plan = plan_then_lose_the_race  # type: ignore[method-assign]
    try:
        order = (await orders_process.placement.create(ship_request([(sofa, 1)]))).order
    finally:
        planner.plan = plan  # type: ignore[method-assign]

    assert plans == [[near], [far]]
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    assert allocated(order) == {far: {sofa: 1}}
    assert [a.location_id for a in order.decision.allocations] == [far]
    assert await shop.held((near, sofa), (far, sofa)) == [1, 1]


async def test_crash_before_the_hold_is_asked_for_then_recovery_and_two_retries_at_once_hold_once(
    shop: Shop, orders_process: OrdersService
) -> None:
    """The order is written with its first attempt's hold call, and the process dies before inventory
    is asked. Recovery and two retries of the request then run at once: each makes the recorded call
    (inventory answers them one hold), one stores it, and the order is allocated once, with 2 sofas
    held, not 4 or 6; every caller hears that order, or is told to retry, and a retry gets it."""
    sofa = await shop.sku()
    store = await shop.location(SPANDAU)
    await shop.receive(store, sofa, 6)
    placement = orders_process.placement
    hold = placement.inventory.hold

    async def crash(*args: Any) -> None:
        raise Crash("killed after the order was written, before inventory was asked")

    placement.inventory.hold = crash  # type: ignore[method-assign]
    request = ship_request([(sofa, 2)])
    with shop.stack.acting_as("admin"), pytest.raises(Crash):
        await placement.create(request)
    placement.inventory.hold = hold  # type: ignore[method-assign]
    found = await repository.by_request_id(placement.db.pool, request.request_id)
    assert found is not None and found[0].order.status.value == "pending" and found[0].attempt == 1
    assert await shop.held((store, sofa)) == [0]

    async def retry() -> str:
        try:
            return (await shop.orders.CreateOrder(request)).order.order_id
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ABORTED, error.details()
            return ""

    _, first, second = await asyncio.gather(placement.recover(older_than=0), retry(), retry())
    assert {first, second} <= {found[0].order_id, ""}
    order = await shop.order(found[0].order_id)
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    assert allocated(order) == {store: {sofa: 2}}
    assert await shop.held((store, sofa)) == [2]
    assert (await shop.orders.CreateOrder(request)).order.order_id == order.order_id
