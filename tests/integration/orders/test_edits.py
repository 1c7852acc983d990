"""EditOrder: quantities, lines, address and pickup store changed after allocation, with the
order's holds changed in place, all or nothing."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.invariants import run_checks, snapshot_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import (
    BERLIN,
    HAMBURG,
    LEIPZIG,
    POTSDAM,
    Shop,
    address,
    allocated,
    publish,
    ship_request,
    store_request,
    task_event,
)


def edit(order_id: str, *changes: tuple[str, int], **fields: object) -> pb.EditOrderRequest:
    return pb.EditOrderRequest(
        request_id=str(fields.pop("request_id", unique_id())),
        order_id=order_id,
        lines=[pb.OrderLineEdit(sku=sku, quantity=quantity) for sku, quantity in changes],
        reason="customer asked",
        **fields,  # type: ignore[arg-type]
    )


def held(order: pb.Order) -> dict[str, dict[str, int]]:
    return {
        a.location_id: {line.sku: line.quantity for line in a.lines}
        for a in order.allocations
        if a.status == pb.ALLOCATION_STATUS_HELD
    }


def violation_types(error: grpc.aio.AioRpcError) -> list[str]:
    return [v.type for d in details_of(error, error_details_pb2.PreconditionFailure) for v in d.violations]


async def system_violations(shop: Shop, db: Database, *subjects: str, timeout: float = 10.0) -> list[str]:
    """Violations of the cross-service checks that name one of `subjects` (other tests share the
    database), once fulfilment has caught up with the events (bounded: the last ones seen after `timeout`)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        snapshot = await snapshot_of(shop.stack.settings, db=db)
        found = [
            f"{v.check}: {v.subject} {v.detail}"
            for v in run_checks(snapshot)
            if any(subject in v.subject or subject in v.detail for subject in subjects)
        ]
        if not found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_quantities_change_in_place_and_lines_come_and_go(shop: Shop, db, tap) -> None:
    sofa, lamp, rug = await shop.sku(), await shop.sku("Lamp", 2900), await shop.sku("Rug", 9900)
    store = await shop.location(BERLIN)
    for sku in (sofa, lamp, rug):
        await shop.receive(store, sku, 10)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2), (lamp, 1)], to=POTSDAM))).order
    (allocation,) = order.allocations

    # A request id as long as any caller may choose (what inventory is asked under stays within bounds).
    request = edit(order.order_id, (sofa, 3), (lamp, 0), (rug, 2), request_id=(unique_id() + "r" * 128)[:128])
    edited = (await shop.orders.EditOrder(request)).order
    assert (await shop.orders.EditOrder(request)).order == edited  # a retry is the first answer
    assert {line.sku: line.quantity for line in edited.lines} == {sofa: 3, rug: 2}
    assert edited.total_minor == 3 * 49900 + 2 * 9900
    assert held(edited) == {store: {sofa: 3, rug: 2}}
    # One hold all along: grown, shrunk and given a line, never released and taken again.
    assert {a.hold_id for a in edited.allocations} == {allocation.hold_id}
    hold = await shop.hold(allocation.hold_id)
    assert {(line.sku, line.open) for line in hold.lines} == {(sofa, 3), (rug, 2)}
    assert await shop.held((store, sofa), (store, lamp), (store, rug)) == [3, 0, 2]
    _, event = await tap.wait_for(
        lambda e, p: e.type == "orders.order.edited" and p.order.order_id == order.order_id, 10
    )
    assert {line.sku: line.quantity for line in event.previous.lines} == {sofa: 2, lamp: 1}
    assert {line.sku: line.quantity for line in event.order.lines} == {sofa: 3, rug: 2}
    assert not [e for e, p in tap.events if e.type == "inventory.hold.released" and p.hold.hold_id == hold.hold_id]
    assert await system_violations(shop, db, order.order_id, hold.hold_id) == []


async def test_an_increase_that_does_not_fit_is_routed_elsewhere(shop: Shop, db) -> None:
    sofa = await shop.sku()
    near, far = await shop.location(BERLIN), await shop.location(LEIPZIG)
    await shop.receive(near, sofa, 2)
    await shop.receive(far, sofa, 5)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2)], to=POTSDAM))).order
    assert allocated(order) == {near: {sofa: 2}}

    edited = (await shop.orders.EditOrder(edit(order.order_id, (sofa, 5)))).order
    assert held(edited) == {near: {sofa: 2}, far: {sofa: 3}}
    assert len({a.hold_id for a in edited.allocations}) == 1
    assert await shop.held((near, sofa), (far, sofa)) == [2, 3]
    assert "Edited" in edited.decision.explanation and far in edited.decision.explanation
    assert await system_violations(shop, db, order.order_id) == []


async def test_an_edit_nothing_can_hold_leaves_everything_as_it_was(shop: Shop, db) -> None:
    sofa, lamp = await shop.sku(), await shop.sku("Lamp", 2900)
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 3)
    await shop.receive(store, lamp, 3)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2), (lamp, 2)], to=POTSDAM))).order

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.EditOrder(edit(order.order_id, (lamp, 1), (sofa, 9)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(refused.value, common_pb2.Shortfall)
    after = await shop.order(order.order_id)
    assert (after.lines, after.allocations, after.status) == (order.lines, order.allocations, order.status)
    assert await shop.held((store, sofa), (store, lamp)) == [2, 2]
    assert await system_violations(shop, db, order.order_id) == []


async def test_an_edit_refused_short_says_what_the_customer_could_have(shop: Shop) -> None:
    """The order's own units count: a pickup of 2 at a store with 3 grown to 9 could have 3 there,
    and the refusal says the line's 9 asked for and those 3, not the 7 more and 'available 0'."""
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 3)
    order = (await shop.orders.CreateOrder(store_request([(sofa, 2)], store))).order

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.EditOrder(edit(order.order_id, (sofa, 9)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.location_id, line.sku, line.requested, line.available) for line in shortfall.lines] == [
        (store, sofa, 9, 3)
    ]
    assert "requested 9, available 3" in (refused.value.details() or "")
    assert await shop.held((store, sofa)) == [2]


async def test_a_shipment_edit_refused_short_counts_the_units_it_holds(shop: Shop) -> None:
    sofa = await shop.sku()
    near, far = await shop.location(BERLIN), await shop.location(LEIPZIG)
    await shop.receive(near, sofa, 3)
    await shop.receive(far, sofa, 2)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2)], to=POTSDAM))).order
    assert allocated(order) == {near: {sofa: 2}}

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.EditOrder(edit(order.order_id, (sofa, 9)))
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    # Where most can be had for the order: its own 2 and the 1 beside them at `near`.
    assert [(line.location_id, line.sku, line.requested, line.available) for line in shortfall.lines] == [
        (near, sofa, 9, 3)
    ]


async def test_units_being_picked_are_not_taken_away(shop: Shop, bus, db) -> None:
    sofa = await shop.sku()
    store, other = await shop.location(BERLIN), await shop.location(LEIPZIG)
    await shop.receive(store, sofa, 5)
    await shop.receive(other, sofa, 5)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 3)], to=POTSDAM))).order
    (allocation,) = order.allocations
    await publish(bus, "fulfilment.task.picking_started", task_event(order, allocation), source="fulfilment")
    deadline = asyncio.get_running_loop().time() + 10
    while not await db.fetchval(
        "SELECT picking_started FROM orders.allocations WHERE allocation_id = $1", allocation.allocation_id
    ):
        assert asyncio.get_running_loop().time() < deadline, "orders never heard that picking started"
        await asyncio.sleep(0.05)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.EditOrder(edit(order.order_id, (sofa, 1)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert violation_types(refused.value) == ["ALLOCATION_PICKING"]
    assert await shop.held((store, sofa)) == [3]
    # More units are held elsewhere, not added to (or beside) the list in the picker's hands.
    grown = (await shop.orders.EditOrder(edit(order.order_id, (sofa, 4)))).order
    assert held(grown) == {store: {sofa: 3}, other: {sofa: 1}}
    assert await shop.held((store, sofa), (other, sofa)) == [3, 1]


async def test_refusals_name_their_reason(shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 5)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1)], to=POTSDAM))).order
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await shop.orders.EditOrder(edit(order.order_id, (sofa, 0)))
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as no_store:
        await shop.orders.EditOrder(edit(order.order_id, store_id=store))
    assert no_store.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id))
    with pytest.raises(grpc.aio.AioRpcError) as cancelled:
        await shop.orders.EditOrder(edit(order.order_id, (sofa, 2)))
    assert cancelled.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert violation_types(cancelled.value) == ["ORDER_STATUS"]
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await shop.orders.EditOrder(pb.EditOrderRequest(request_id=unique_id(), order_id=order.order_id))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_address_and_pickup_store_change(shop: Shop, db) -> None:
    sofa = await shop.sku()
    first, second = await shop.location(BERLIN), await shop.location(HAMBURG)
    await shop.receive(first, sofa, 2)
    await shop.receive(second, sofa, 2)

    shipped = (await shop.orders.CreateOrder(ship_request([(sofa, 1)], to=POTSDAM))).order
    moved = (await shop.orders.EditOrder(edit(shipped.order_id, ship_to=address(HAMBURG, name="Grace Hopper")))).order
    assert moved.ship_to.name == "Grace Hopper" and moved.allocations == shipped.allocations

    pickup = (await shop.orders.CreateOrder(store_request([(sofa, 1)], first))).order
    assert allocated(pickup) == {first: {sofa: 1}}
    (old,) = pickup.allocations
    there = (await shop.orders.EditOrder(edit(pickup.order_id, store_id=second))).order
    assert there.store_id == second and held(there) == {second: {sofa: 1}}
    assert {a.hold_id for a in there.allocations} == {old.hold_id}
    assert [a.status for a in there.allocations if a.allocation_id == old.allocation_id] == [
        pb.ALLOCATION_STATUS_CANCELLED
    ]
    assert await shop.held((first, sofa), (second, sofa)) == [1, 1]  # the first order ships from `first`
    assert await system_violations(shop, db, shipped.order_id, pickup.order_id) == []

    # A warehouse has sofas but hands nothing over: the move is refused as such, nothing changes.
    warehouse = await shop.location(HAMBURG, warehouse=True)
    await shop.receive(warehouse, sofa, 2)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.EditOrder(edit(pickup.order_id, store_id=warehouse))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    (details,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in details.field_violations] == [
        ("store_id", f"store {warehouse} does not offer pickup")
    ]
    still = await shop.order(pickup.order_id)
    assert still.store_id == second and held(still) == {second: {sofa: 1}}
    assert await shop.held((warehouse, sofa)) == [0]
