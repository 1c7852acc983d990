"""Orders of a splittable set (allow_split): the set is ordered as its parts, each part routed, held,
picked, re-routed and cancelled like any line, so the parts may come from different locations."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_orders.adapters import repository
from omnistock_orders.entrypoints.main import OrdersService
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.invariants import run_checks, snapshot_of
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.orders.support import (
    BERLIN,
    POTSDAM,
    SPANDAU,
    Crash,
    Shop,
    allocated,
    quote_of,
    ship_request,
    store_request,
)
from tests.integration.reservations.support import create_request

SET_PRICE = 139900


async def sofa_set(shop: Shop, *, allow_split: bool = True) -> tuple[str, str, str]:
    """A set of one sofa and two cushions: (sofa, cushion, set)."""
    sofa, cushion = await shop.sku("Green sofa", price_minor=99900), await shop.sku("Cushion", price_minor=2900)
    bundle = await define_set(
        shop.inventory,
        {sofa: 1, cushion: 2},
        title="Green sofa with two cushions",
        price_minor=SET_PRICE,
        currency="EUR",
        allow_split=allow_split,
    )
    return sofa, cushion, bundle


def accounted(order: pb.Order) -> None:
    """Every unit of every line in exactly one place."""
    held: dict[str, int] = {}
    for allocation in order.allocations:
        if allocation.status == pb.ALLOCATION_STATUS_HELD:
            for line in allocation.lines:
                held[line.sku] = held.get(line.sku, 0) + line.quantity
    for line in order.lines:
        assert line.quantity == held.get(line.sku, 0) + line.fulfilled + line.backordered + line.cancelled, line


def planned(plan: pb.RoutingPlan) -> dict[str, dict[str, int]]:
    return {a.location_id: {line.sku: line.quantity for line in a.lines} for a in plan.allocations}


async def task_at(shop: Shop, order_id: str, location_id: str) -> fpb.Task:
    fulfilment = shop.stack.stub("fulfilment", role="admin")

    async def found() -> fpb.Task | None:
        listed = await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=location_id))
        return next((t for t in listed.tasks if t.order_id == order_id), None)

    return await eventually(found, what=f"the pick task at {location_id}")


async def ship(shop: Shop, order_id: str, location_id: str) -> None:
    fulfilment = shop.stack.stub("fulfilment", role="admin")
    task = await task_at(shop, order_id, location_id)
    for step in (fpb.StartPickingRequest, fpb.ConfirmPickRequest, fpb.PackRequest):
        await getattr(fulfilment, step.__name__.removesuffix("Request"))(
            step(request_id=unique_id(), task_id=task.task_id)
        )
    await fulfilment.Ship(fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL"))


async def test_a_splittable_set_takes_its_parts_from_two_locations_and_comes_back_whole(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    sofas, cushions = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    await shop.receive(sofas, sofa, 1)
    await shop.receive(cushions, cushion, 2)

    request = ship_request([(bundle, 1)])
    quote = (await shop.orders.QuoteRouting(quote_of(request))).plan
    order = (await shop.orders.CreateOrder(request)).order
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    assert allocated(order) == {sofas: {sofa: 1}, cushions: {cushion: 2}}
    assert planned(quote) == planned(order.decision) == allocated(order)
    # The set is kept once, with its price; its part lines name it and cost nothing on their own.
    assert sorted((line.sku, line.quantity, line.part_of, line.unit_price_minor) for line in order.lines) == sorted(
        [(sofa, 1, bundle, 0), (cushion, 2, bundle, 0)]
    )
    assert [(s.sku, s.quantity, s.unit_price_minor, s.fulfilled) for s in order.sets] == [(bundle, 1, SET_PRICE, 0)]
    assert {c.sku: c.quantity for c in order.sets[0].components} == {sofa: 1, cushion: 2}
    assert order.total_minor == SET_PRICE
    assert await shop.held((sofas, sofa), (cushions, cushion)) == [1, 2]
    accounted(order)
    # A retry with the same request id answers the same order, holding nothing more.
    assert (await shop.orders.CreateOrder(request)).order == order
    assert await shop.held((sofas, sofa), (cushions, cushion)) == [1, 2]

    for location_id in (sofas, cushions):
        await ship(shop, order.order_id, location_id)
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED)
    assert [s.fulfilled for s in done.sets] == [1]
    assert [(await shop.level(sofas, sofa)).on_hand, (await shop.level(cushions, cushion)).on_hand] == [0, 0]
    accounted(done)

    # The set comes back by its SKU: each part back on hand at the receiving store.
    store = await shop.location()
    customer = shop.orders_as("chat_agent")

    def asking(**quantities: int) -> pb.CreateReturnRequest:
        return pb.CreateReturnRequest(
            request_id=unique_id(),
            order_id=order.order_id,
            lines=[pb.ReturnLineRequest(sku=sku, quantity=units) for sku, units in quantities.items()],
            location_id=store,
        )

    created = (await customer.CreateReturn(asking(**{bundle: 1}))).order_return
    assert {line.sku: line.quantity for line in created.lines} == {sofa: 1, cushion: 2}
    assert [(s.sku, s.quantity) for s in created.sets] == [(bundle, 1)]
    till = shop.orders_as("pos", [store])
    await till.ReceiveReturn(
        pb.ReceiveReturnRequest(
            request_id=unique_id(),
            return_id=created.return_id,
            lines=[pb.InspectedLine(sku=bundle, condition=pb.RETURN_CONDITION_RESTOCK, quantity=1)],
        )
    )
    assert [(await shop.level(store, sofa)).on_hand, (await shop.level(store, cushion)).on_hand] == [1, 2]
    # One set was delivered: a second whole set, or a single part more, is refused.
    for again in ({bundle: 1}, {cushion: 1}):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await customer.CreateReturn(asking(**again))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        violations = details_of(refused.value, error_details_pb2.PreconditionFailure)[0].violations
        assert ("RETURN_QUANTITY", *again) in [(v.type, v.subject) for v in violations]
    found = run_checks(await snapshot_of(shop.stack.settings))
    assert [v for v in found if order.order_id in v.subject] == []


async def test_a_set_two_locations_hold_together_is_not_placed_without_allow_split(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop, allow_split=False)
    sofas, cushions = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    await shop.receive(sofas, sofa, 1)
    await shop.receive(cushions, cushion, 2)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(ship_request([(bundle, 1)]))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert [line.sku for line in details_of(refused.value, common_pb2.Shortfall)[0].lines] == [bundle]
    assert await shop.held((sofas, sofa), (cushions, cushion)) == [0, 0]


async def test_a_splittable_set_one_location_has_whole_ships_from_there(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    near = await shop.location(POTSDAM, warehouse=True)  # the nearest: a sofa, no cushions
    whole = await shop.location(SPANDAU, warehouse=True)
    await shop.receive(near, sofa, 3)
    await shop.receive(whole, sofa, 1)
    await shop.receive(whole, cushion, 2)
    request = ship_request([(bundle, 1)])
    quote = (await shop.orders.QuoteRouting(quote_of(request))).plan
    order = (await shop.orders.CreateOrder(request)).order
    assert allocated(order) == planned(quote) == {whole: {sofa: 1, cushion: 2}}
    assert await shop.held((near, sofa), (whole, sofa), (whole, cushion)) == [0, 1, 2]


async def test_a_part_short_at_the_pick_is_routed_elsewhere_and_the_other_part_stays(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    sofas = await shop.location(POTSDAM, warehouse=True)
    cushions = await shop.location(SPANDAU, warehouse=True)
    spare = await shop.location(SPANDAU, warehouse=True, rank=50)  # cushions too, ranked after
    await shop.receive(sofas, sofa, 1)
    await shop.receive(cushions, cushion, 2)
    await shop.receive(spare, cushion, 2)
    order = (await shop.orders.CreateOrder(ship_request([(bundle, 1)]))).order
    assert allocated(order) == {sofas: {sofa: 1}, cushions: {cushion: 2}}
    fulfilment = shop.stack.stub("fulfilment", role="admin")
    task = await task_at(shop, order.order_id, cushions)
    await fulfilment.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    await fulfilment.ConfirmPick(
        fpb.ConfirmPickRequest(
            request_id=unique_id(),
            task_id=task.task_id,
            picked=[common_pb2.SkuQuantity(sku=cushion, quantity=1)],
            short_reason="one cushion is torn",
        )
    )
    moved = await shop.wait_for_order(order.order_id, lambda o: spare in {a.location_id for a in o.allocations})
    held = {
        a.location_id: {line.sku: line.quantity for line in a.lines}
        for a in moved.allocations
        if a.status == pb.ALLOCATION_STATUS_HELD
    }
    assert held == {sofas: {sofa: 1}, cushions: {cushion: 1}, spare: {cushion: 1}}
    assert await shop.held((sofas, sofa), (cushions, cushion), (spare, cushion)) == [1, 1, 1]
    accounted(moved)

    # Nothing left anywhere: the next short cushion is backordered, the sofa still untouched.
    task = await task_at(shop, order.order_id, spare)
    await fulfilment.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    await fulfilment.ConfirmPick(
        fpb.ConfirmPickRequest(
            request_id=unique_id(),
            task_id=task.task_id,
            picked=[common_pb2.SkuQuantity(sku=cushion, quantity=0)],
            short_reason="not on the shelf",
        )
    )
    waiting = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_BACKORDERED)
    lines = {line.sku: (line.quantity, line.backordered, line.part_of) for line in waiting.lines}
    assert lines == {sofa: (1, 0, bundle), cushion: (2, 1, bundle)}
    assert await shop.held((sofas, sofa)) == [1]
    accounted(waiting)


async def test_cancelling_a_split_order_gives_every_part_back(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    sofas, cushions = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    await shop.receive(sofas, sofa, 2)
    await shop.receive(cushions, cushion, 3)
    before = [await shop.level(sofas, sofa), await shop.level(cushions, cushion)]
    order = (await shop.orders.CreateOrder(ship_request([(bundle, 1)]))).order
    assert await shop.held((sofas, sofa), (cushions, cushion)) == [1, 2]
    cancelled = (
        await shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id))
    ).order
    assert cancelled.status == pb.ORDER_STATUS_CANCELLED
    assert {line.sku: line.cancelled for line in cancelled.lines} == {sofa: 1, cushion: 2}
    after = [await shop.level(sofas, sofa), await shop.level(cushions, cushion)]
    assert [(level.on_hand, level.held, level.available) for level in after] == [
        (level.on_hand, level.held, level.available) for level in before
    ]
    accounted(cancelled)


async def test_an_edit_changes_a_split_set_by_its_sku_and_refuses_a_part_alone(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    sofas, cushions = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    await shop.receive(sofas, sofa, 2)
    await shop.receive(cushions, cushion, 4)
    order = (await shop.orders.CreateOrder(ship_request([(bundle, 1)]))).order

    def edit(**quantities: int) -> pb.EditOrderRequest:
        return pb.EditOrderRequest(
            request_id=unique_id(),
            order_id=order.order_id,
            lines=[pb.OrderLineEdit(sku=sku, quantity=units) for sku, units in quantities.items()],
        )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.EditOrder(edit(**{cushion: 4}))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    violations = details_of(refused.value, error_details_pb2.PreconditionFailure)[0].violations
    assert [(v.type, v.subject) for v in violations] == [("SET_PART", bundle)]
    assert await shop.held((sofas, sofa), (cushions, cushion)) == [1, 2]

    grown = (await shop.orders.EditOrder(edit(**{bundle: 2}))).order
    assert {line.sku: line.quantity for line in grown.lines} == {sofa: 2, cushion: 4}
    assert [(s.sku, s.quantity) for s in grown.sets] == [(bundle, 2)]
    assert grown.total_minor == 2 * SET_PRICE
    assert await shop.held((sofas, sofa), (cushions, cushion)) == [2, 4]
    accounted(grown)


async def test_an_edited_split_set_is_kept_with_the_order(shop: Shop) -> None:
    """The set's new count is stored with its part lines: a later read (and the shipment's events,
    which read the order) tells the same sets and total as the edit's answer, and removing the set
    removes it from the order for good."""
    sofa, cushion, bundle = await sofa_set(shop)
    sofas, cushions = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    await shop.receive(sofas, sofa, 3)
    await shop.receive(cushions, cushion, 6)
    other = await shop.sku("Lamp", price_minor=1000)
    await shop.receive(sofas, other, 1)
    order = (await shop.orders.CreateOrder(ship_request([(bundle, 1), (other, 1)]))).order

    def edit(**quantities: int) -> pb.EditOrderRequest:
        return pb.EditOrderRequest(
            request_id=unique_id(),
            order_id=order.order_id,
            lines=[pb.OrderLineEdit(sku=sku, quantity=units) for sku, units in quantities.items()],
        )

    grown = (await shop.orders.EditOrder(edit(**{bundle: 3}))).order
    read = await shop.order(order.order_id)
    assert [(s.sku, s.quantity) for s in read.sets] == [(s.sku, s.quantity) for s in grown.sets] == [(bundle, 3)]
    assert read.total_minor == grown.total_minor == 3 * SET_PRICE + 1000

    await shop.orders.EditOrder(edit(**{bundle: 0}))
    read = await shop.order(order.order_id)
    assert [(s.sku, s.quantity) for s in read.sets] == []
    assert {line.sku for line in read.lines if line.quantity} == {other}
    assert read.total_minor == 1000


async def test_a_split_order_cut_short_after_its_hold_is_finished_with_the_same_parts(
    shop: Shop, orders_process: OrdersService
) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    sofas, cushions = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    await shop.receive(sofas, sofa, 1)
    await shop.receive(cushions, cushion, 2)
    placement = orders_process.placement
    finish = placement._finish

    async def crash(*args: Any) -> None:
        raise Crash("killed after the hold, before the order was stored")

    placement._finish = crash  # type: ignore[method-assign]
    request = ship_request([(bundle, 1)])
    with shop.stack.acting_as("admin"), pytest.raises(Crash):
        await placement.create(request)
    placement._finish = finish  # type: ignore[method-assign]
    found = await repository.by_request_id(placement.db.pool, request.request_id)
    assert found is not None and found[0].order.wanted == {sofa: 1, cushion: 2}

    assert await placement.recover(older_than=0) >= 1
    order = await shop.order(found[0].order_id)
    assert allocated(order) == {sofas: {sofa: 1}, cushions: {cushion: 2}}
    assert [(s.sku, s.quantity) for s in order.sets] == [(bundle, 1)]
    assert await shop.held((sofas, sofa), (cushions, cushion)) == [1, 2]  # the same hold, not a second
    assert (await shop.orders.CreateOrder(request)).order.order_id == order.order_id


SELLERS = 16


async def test_split_sets_and_their_parts_sold_alone_at_once_never_oversell(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    sofas, cushions = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    await shop.receive(sofas, sofa, 5)
    await shop.receive(cushions, cushion, 8)
    units = {sofa: {sofa: 1}, cushion: {cushion: 1}, bundle: {sofa: 1, cushion: 2}}
    rng = random.Random(7)
    plans = [(rng.choice(list(units)), rng.randint(1, 2)) for _ in range(SELLERS)]

    async def sell(sku: str, quantity: int) -> dict[str, int]:
        try:
            order = (await shop.orders.CreateOrder(ship_request([(sku, quantity)]))).order
        except grpc.aio.AioRpcError as error:
            assert error.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED), error
            return {}
        accounted(order)
        assert order.status == pb.ORDER_STATUS_ALLOCATED
        return {part: quantity * n for part, n in units[sku].items()}

    sales = await asyncio.gather(*(sell(sku, quantity) for sku, quantity in plans))
    asked = {part: sum(quantity * units[sku].get(part, 0) for sku, quantity in plans) for part in (sofa, cushion)}
    assert asked[sofa] > 5 and asked[cushion] > 8  # more was asked for than there was
    held = {part: sum(sale.get(part, 0) for sale in sales) for part in (sofa, cushion)}
    levels = {sofa: await shop.level(sofas, sofa), cushion: await shop.level(cushions, cushion)}
    for part, start in ((sofa, 5), (cushion, 8)):
        assert 0 <= levels[part].held == held[part] <= levels[part].on_hand == start


async def test_a_split_set_whose_parts_exceed_one_hold_line_is_refused_naming_its_line(shop: Shop) -> None:
    sofa, cushion = await shop.sku("Sofa"), await shop.sku("Cushion")
    bundle = await define_set(shop.inventory, {sofa: 1, cushion: 1000}, price_minor=SET_PRICE, allow_split=True)
    lamp = await shop.sku("Lamp")
    request = ship_request([(lamp, 1), (bundle, 1001)])  # 1,001,000 cushions
    for call in (shop.orders.QuoteRouting(quote_of(request)), shop.orders.CreateOrder(request)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = details_of(refused.value, error_details_pb2.BadRequest)[0].field_violations
        assert [violation.field for violation in fields] == ["lines[1].quantity"]


async def test_a_splittable_set_stays_whole_at_a_till_and_from_a_reservation(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 2)
    await shop.receive(store, cushion, 4)
    till = shop.orders_as("pos", [store])
    sold = (await till.CreateOrder(store_request([(bundle, 1)], store, carry_out=True))).order
    assert sold.status == pb.ORDER_STATUS_COMPLETED and list(sold.sets) == []
    assert [(line.sku, line.part_of) for line in sold.lines] == [(bundle, "")]
    assert sold.total_minor == SET_PRICE

    # A reservation's hold holds the set as a bundle line at the store: the order takes it over whole.
    chat = shop.stack.stub("reservations", role="chat_agent")
    reservation = (await chat.CreateReservation(create_request(store, [(bundle, 1)]))).reservation
    order = (
        await shop.orders.CreateOrder(
            pb.CreateOrderRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer_id=reservation.customer.customer_id,
                method=common_pb2.FULFILMENT_METHOD_PICKUP,
                reservation_id=reservation.reservation_id,
            )
        )
    ).order
    assert order.status == pb.ORDER_STATUS_ALLOCATED and list(order.sets) == []
    assert allocated(order) == {store: {bundle: 1}}
    assert await shop.held((store, sofa), (store, cushion)) == [1, 2]


async def test_a_split_set_that_cannot_be_had_is_refused_naming_its_short_part(shop: Shop) -> None:
    sofa, cushion, bundle = await sofa_set(shop)
    sofas, cushions = await shop.location(POTSDAM, warehouse=True), await shop.location(SPANDAU, warehouse=True)
    await shop.receive(sofas, sofa, 1)
    await shop.receive(cushions, cushion, 1)  # one cushion of the two
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(ship_request([(bundle, 1)]))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.sku, line.requested, line.available) for line in shortfall.lines] == [(cushion, 2, 1)]
    assert await shop.held((sofas, sofa), (cushions, cushion)) == [0, 0]
