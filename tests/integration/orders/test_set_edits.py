"""EditOrder on a set held whole: the set's line grows and shrinks in whole sets, in place where its
location has them, routed elsewhere (whole sets per location) where it does not, then ships."""

from __future__ import annotations

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.orders.support import BERLIN, POTSDAM, SPANDAU, Shop, allocated, ship_request, store_request
from tests.integration.orders.test_bundles import sofa_set
from tests.integration.orders.test_edits import edit, held, system_violations, violation_types


async def task_at(shop: Shop, order_id: str, location_id: str) -> fpb.Task | None:
    listed = await shop.stack.stub("fulfilment", role="admin").ListTasks(fpb.ListTasksRequest(location_id=location_id))
    return next((t for t in listed.tasks if t.order_id == order_id and t.status == fpb.TASK_STATUS_OPEN), None)


def task_lines(task: fpb.Task) -> list[tuple[str, int, list[tuple[str, int]]]]:
    return [(line.sku, line.quantity, sorted((c.sku, c.quantity) for c in line.components)) for line in task.lines]


async def test_a_set_line_grows_in_place_then_elsewhere_shrinks_and_ships(shop: Shop, db) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    near, far = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    for where in (near, far):  # two sets at each
        await shop.receive(where, sofa, 2)
        await shop.receive(where, cushion, 4)
    order = (await shop.orders.CreateOrder(ship_request([(bundle, 1)], to=POTSDAM))).order
    assert allocated(order) == {near: {bundle: 1}}
    (first,) = order.allocations

    grown = (await shop.orders.EditOrder(edit(order.order_id, (bundle, 2)))).order
    assert held(grown) == {near: {bundle: 2}}
    hold = await shop.hold(first.hold_id)
    assert [(b.location_id, b.sku, b.open) for b in hold.bundles] == [(near, bundle, 2)]
    assert await shop.held((near, sofa), (near, cushion)) == [2, 4]
    assert [(await shop.level(near, sku)).on_hand for sku in (sofa, cushion)] == [2, 4]

    # A third set: none left near, so it is routed to the other warehouse, whole.
    routed = (await shop.orders.EditOrder(edit(order.order_id, (bundle, 3)))).order
    assert held(routed) == {near: {bundle: 2}, far: {bundle: 1}}
    assert await shop.held((far, sofa), (far, cushion)) == [1, 2]
    assert [line.allocated for line in routed.lines] == [3]

    # Back to one set: the newest held sets go first, whole.
    shrunk = (await shop.orders.EditOrder(edit(order.order_id, (bundle, 1)))).order
    assert held(shrunk) == {near: {bundle: 1}}
    assert await shop.held((near, sofa), (near, cushion), (far, sofa), (far, cushion)) == [1, 2, 0, 0]
    again = (await shop.orders.EditOrder(edit(order.order_id, (bundle, 2)))).order
    assert held(again) == {near: {bundle: 2}}

    # The pick list shows the new number of sets with its components; shipping sells them.
    task = await eventually(lambda: _with_sets(shop, order.order_id, near, 2), what="the pick task with two sets")
    assert task_lines(task) == [(bundle, 2, sorted([(sofa, 2), (cushion, 4)]))]
    fulfilment = shop.stack.stub("fulfilment", role="admin")
    for step in (fpb.StartPickingRequest, fpb.ConfirmPickRequest, fpb.PackRequest):
        await getattr(fulfilment, step.__name__.removesuffix("Request"))(
            step(request_id=unique_id(), task_id=task.task_id)
        )
    await fulfilment.Ship(fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL"))
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED)
    assert [
        (line.sku, line.quantity, line.allocated, line.fulfilled, line.backordered, line.cancelled)
        for line in done.lines
    ] == [(bundle, 2, 2, 2, 0, 0)]
    assert [(await shop.level(near, sku)).on_hand for sku in (sofa, cushion)] == [0, 0]
    assert [(await shop.level(far, sku)).held for sku in (sofa, cushion)] == [0, 0]
    sold = await shop.hold(first.hold_id)
    assert sold.state == inv.HOLD_STATE_COMMITTED
    assert [(b.location_id, b.committed, b.open) for b in sold.bundles if b.location_id == near] == [(near, 2, 0)]
    assert await system_violations(shop, db, order.order_id, first.hold_id, near, far) == []


async def _with_sets(shop: Shop, order_id: str, location_id: str, sets: int) -> fpb.Task | None:
    task = await task_at(shop, order_id, location_id)
    return task if task is not None and [line.quantity for line in task.lines] == [sets] else None


async def test_a_set_line_no_location_can_grow_is_refused_in_whole_sets(shop: Shop, db) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    near = await shop.location(POTSDAM, warehouse=True)
    await shop.receive(near, sofa, 3)
    await shop.receive(near, cushion, 5)  # two sets, and a cushion
    order = (await shop.orders.CreateOrder(ship_request([(bundle, 1)], to=POTSDAM))).order
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.EditOrder(edit(order.order_id, (bundle, 3)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    assert [line.sku for line in shortfall.lines] == [bundle]
    assert held(await shop.order(order.order_id)) == {near: {bundle: 1}}
    assert await shop.held((near, sofa), (near, cushion)) == [1, 2]
    assert await system_violations(shop, db, order.order_id, near) == []


async def test_a_set_added_by_an_edit_joins_the_pick_list_with_its_components(shop: Shop, db) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    lamp = await shop.sku("Lamp", price_minor=2900)
    near = await shop.location(POTSDAM, warehouse=True)
    await shop.receive(near, sofa, 2)
    await shop.receive(near, cushion, 4)
    await shop.receive(near, lamp, 2)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 1)], to=POTSDAM))).order
    await eventually(lambda: task_at(shop, order.order_id, near), what="the pick task")

    edited = (await shop.orders.EditOrder(edit(order.order_id, (bundle, 2)))).order
    assert held(edited) == {near: {lamp: 1, bundle: 2}}
    assert [(line.sku, [(c.sku, c.quantity) for c in line.components]) for line in edited.lines][1] == (
        bundle,
        sorted([(sofa, 1), (cushion, 2)]),
    )
    assert await shop.held((near, sofa), (near, cushion)) == [2, 4]
    task = await eventually(lambda: _with_lines(shop, order.order_id, near, 2), what="the set on the pick list")
    assert sorted(task_lines(task)) == sorted([(lamp, 1, []), (bundle, 2, sorted([(sofa, 2), (cushion, 4)]))])
    assert await system_violations(shop, db, order.order_id, near) == []


async def _with_lines(shop: Shop, order_id: str, location_id: str, lines: int) -> fpb.Task | None:
    task = await task_at(shop, order_id, location_id)
    return task if task is not None and len(task.lines) == lines else None


async def test_a_set_collected_at_another_store_moves_there_whole(shop: Shop, db) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    first, second = await shop.location(BERLIN), await shop.location(BERLIN)
    for store in (first, second):
        await shop.receive(store, sofa, 1)
        await shop.receive(store, cushion, 2)
    order = (await shop.orders.CreateOrder(store_request([(bundle, 1)], first))).order
    (allocation,) = order.allocations

    moved = (await shop.orders.EditOrder(edit(order.order_id, store_id=second))).order
    assert held(moved) == {second: {bundle: 1}}
    assert await shop.held((first, sofa), (first, cushion), (second, sofa), (second, cushion)) == [0, 0, 1, 2]
    hold = await shop.hold(allocation.hold_id)
    assert sorted((b.location_id, b.released, b.open) for b in hold.bundles) == sorted([(first, 1, 0), (second, 0, 1)])
    assert await system_violations(shop, db, order.order_id, first, second) == []


async def test_an_order_with_a_set_and_its_component_alone_edits_the_set(shop: Shop, db) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    near = await shop.location(POTSDAM, warehouse=True)
    await shop.receive(near, sofa, 3)
    await shop.receive(near, cushion, 8)
    order = (await shop.orders.CreateOrder(ship_request([(bundle, 1), (cushion, 1)], to=POTSDAM))).order
    assert held(order) == {near: {bundle: 1, cushion: 1}}

    grown = (await shop.orders.EditOrder(edit(order.order_id, (bundle, 2)))).order
    assert held(grown) == {near: {bundle: 2, cushion: 1}}
    assert await shop.held((near, sofa), (near, cushion)) == [2, 5]
    # The cushion's own line beside its set is not edited (docs/bundles.md, "Not yet"): refused naming
    # the set (not as a race a retry would win), and nothing changes.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.EditOrder(edit(order.order_id, (cushion, 2)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert violation_types(refused.value) == ["BUNDLE_COMPONENT"]
    assert f"beside the set {bundle}" in (refused.value.details() or "")
    assert held(await shop.order(order.order_id)) == {near: {bundle: 2, cushion: 1}}
    assert await shop.held((near, sofa), (near, cushion)) == [2, 5]
    assert await system_violations(shop, db, order.order_id, near) == []
