"""Edits, picks and cancellations of the same orders at once, through the real orders, fulfilment
and inventory: whatever wins each race, no unit is oversold or lost, every hold agrees with its
order, and each order ends as its last event says."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import grpc
import pytest

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, LEIPZIG, POTSDAM, SPANDAU, Shop, ship_request
from tests.integration.orders.test_edits import system_violations

# What a lost race may answer: refused with a reason, or asked to retry; on a loaded machine a
# call queued behind the others' locks may also run out of its deadline, after which it either
# happened in full or not at all (the checks below hold either way). Never UNKNOWN or INTERNAL.
EXPECTED = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED}
ORDERS = 6


async def attempt(call: Any) -> str:
    try:
        await call
        return "ok"
    except grpc.aio.AioRpcError as error:
        assert error.code() in EXPECTED, f"{error.code()}: {error.details()}"
        return error.code().name


async def test_edits_picks_and_cancellations_keep_every_invariant(stack: Stack, shop: Shop, db, tap) -> None:
    rng = random.Random(20270301)
    sofa, lamp = await shop.sku(), await shop.sku("Lamp", 2900)
    locations = [await shop.location(BERLIN), await shop.location(SPANDAU), await shop.location(LEIPZIG)]
    for location in locations:
        await shop.receive(location, sofa, 6)
        await shop.receive(location, lamp, 4)
    orders = [
        (await shop.orders.CreateOrder(ship_request([(sofa, 2), (lamp, 1)], to=POTSDAM))).order for _ in range(ORDERS)
    ]
    ids = [order.order_id for order in orders]

    async def edits(order: pb.Order) -> list[str]:
        results = []
        for _ in range(4):
            changes = [pb.OrderLineEdit(sku=sofa, quantity=rng.randint(1, 5))]
            if rng.random() < 0.5:
                changes.append(pb.OrderLineEdit(sku=lamp, quantity=rng.randint(0, 3)))
            request = pb.EditOrderRequest(request_id=unique_id(), order_id=order.order_id, lines=changes)
            results.append(await attempt(shop.orders.EditOrder(request)))
        return results

    async def picks(order: pb.Order) -> list[str]:
        """Staff pick, pack and ship whatever task of the order they find open (as the lists show it)."""
        results = []
        for location in locations:
            staff = stack.stub("fulfilment", role="warehouse", locations=[location])
            listed = await staff.ListTasks(fpb.ListTasksRequest(location_id=location, kind=fpb.TASK_KIND_PICK))
            for task in listed.tasks:
                if task.order_id != order.order_id or task.status != fpb.TASK_STATUS_OPEN:
                    continue
                steps = [
                    staff.ConfirmPick(fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id)),
                    staff.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id)),
                    staff.Ship(
                        fpb.ShipRequest(
                            request_id=unique_id(), task_id=task.task_id, carrier="DHL", tracking_number=unique_id()
                        )
                    ),
                ]
                for step in steps:
                    outcome = await attempt(step)
                    results.append(outcome)
                    if outcome != "ok":
                        break
        return results

    async def cancel(order: pb.Order) -> str:
        await asyncio.sleep(rng.random() * 0.2)  # somewhere among the edits and picks, not first
        return await attempt(
            shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id))
        )

    work = []
    for index, order in enumerate(orders):
        work.append(edits(order))
        work.append(picks(order))
        if index % 2 == 0:
            work.append(cancel(order))
    outcomes = await asyncio.gather(*work)
    flat = [o for outcome in outcomes for o in (outcome if isinstance(outcome, list) else [outcome])]
    assert "ok" in flat and len(set(flat)) > 1, flat  # the races really happened, both ways

    # Once the events have been handled everywhere: every cross-service rule holds for these orders.
    assert await system_violations(shop, db, *ids, timeout=30) == []
    assert await check_invariants(db) == []
    for location in locations:
        for sku in (sofa, lamp):
            level = await shop.level(location, sku)
            assert 0 <= level.held <= level.on_hand and level.available >= 0, level
    for order_id in ids:
        final = await shop.order(order_id)
        # The order's equation: every unit of every line is held, shipped, backordered or cancelled.
        for line in final.lines:
            assert line.quantity == line.allocated + line.backordered + line.cancelled, line
        held = [a for a in final.allocations if a.status == pb.ALLOCATION_STATUS_HELD]
        for allocation in held:
            hold = await shop.hold(allocation.hold_id)
            for line in allocation.lines:
                open_units = sum(
                    h.open for h in hold.lines if h.location_id == allocation.location_id and h.sku == line.sku
                )
                assert open_units >= line.quantity, (allocation, hold)
        # Explained by its events: the last order event published says what the order is now.
        last = await last_order_event(tap, order_id, final)
        assert last.order.status == final.status, (last.order, final)
        assert [(line.sku, line.quantity) for line in last.order.lines] == [
            (line.sku, line.quantity) for line in final.lines
        ]
        assert {(a.allocation_id, a.status) for a in last.order.allocations} == {
            (a.allocation_id, a.status) for a in final.allocations
        }


async def last_order_event(tap: Any, order_id: str, final: pb.Order, timeout: float = 10.0) -> pb.OrderChanged:
    """The last orders.order.* event of the order the tap has seen, once it has seen the one written
    with the order's last change (bounded: the last seen after `timeout`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = [
            p
            for e, p in tap.events
            if e.type.startswith("orders.order.") and isinstance(p, pb.OrderChanged) and p.order.order_id == order_id
        ]
        if seen and (seen[-1].order.updated_at == final.updated_at or asyncio.get_running_loop().time() > deadline):
            return seen[-1]
        assert seen or asyncio.get_running_loop().time() < deadline, f"no event of order {order_id}"
        await asyncio.sleep(0.05)


async def test_a_parcel_that_left_while_the_cancellation_waited_is_a_shipment(shop: Shop, db) -> None:
    """The race the test above found: a shipment is committed in inventory, the cancellation comes
    before its event. The units that left are recorded as shipped; only the rest is cancelled."""
    sofa, lamp = await shop.sku(), await shop.sku("Lamp", 2900)
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 2)
    await shop.receive(store, lamp, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2), (lamp, 1)], to=POTSDAM))).order
    (allocation,) = order.allocations
    # What fulfilment's Ship does first, its task event still on its way.
    await shop.inventory.CommitHold(
        inv.CommitHoldRequest(
            request_id=unique_id(),
            hold_id=allocation.hold_id,
            lines=[inv.HoldLineRequest(location_id=store, sku=sofa, quantity=2)],
        )
    )
    cancelled = (
        await shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id))
    ).order
    assert cancelled.status == pb.ORDER_STATUS_CANCELLED
    assert [(a.status, {line.sku: line.quantity for line in a.lines}) for a in cancelled.allocations] == [
        (pb.ALLOCATION_STATUS_SHIPPED, {sofa: 2})
    ]
    assert [(line.sku, line.fulfilled, line.cancelled) for line in cancelled.lines] == [(sofa, 2, 0), (lamp, 0, 1)]
    assert await shop.held((store, sofa), (store, lamp)) == [0, 0]
    # (Its task was withdrawn by the cancellation here, as no real shipment marked it shipped.)
    found = await system_violations(shop, db, order.order_id, allocation.hold_id)
    assert [v for v in found if not v.startswith("task disagrees")] == []


async def test_a_cancellation_after_everything_left_is_refused(shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1)], to=POTSDAM))).order
    (allocation,) = order.allocations
    await shop.inventory.CommitHold(inv.CommitHoldRequest(request_id=unique_id(), hold_id=allocation.hold_id))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await shop.order(order.order_id)).status == pb.ORDER_STATUS_ALLOCATED  # its shipment event records it
