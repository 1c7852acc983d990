"""Orders reacting to fulfilment and inventory: shipments complete it, short picks and lost holds re-route it.

Fulfilment's events are published here by the test, together with what fulfilment does to inventory
on a short pick (the missing units leave the hold, the shelf count goes down), so the reactions are
tested on their own, whichever other services run.
"""

from __future__ import annotations

from datetime import timedelta

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_orders.entrypoints.main import wire
from omnistock_orders.service_layer import holding
from omnistock_platform.auth import Role
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.orders.support import (
    BERLIN,
    LEIPZIG,
    SPANDAU,
    Shop,
    allocated,
    publish,
    ship_request,
    store_request,
    task_event,
)


async def short_pick(shop: Shop, bus, order: pb.Order, allocation: pb.Allocation, short: dict[str, int]) -> None:
    """What fulfilment does on a short pick: release the missing units, write them off, announce it."""
    await shop.inventory.ReleaseHold(
        inv.ReleaseHoldRequest(
            request_id=unique_id(),
            hold_id=allocation.hold_id,
            lines=[
                inv.HoldLineRequest(location_id=allocation.location_id, sku=sku, quantity=units)
                for sku, units in short.items()
            ],
        )
    )
    for sku, units in short.items():
        await shop.inventory.AdjustStock(
            inv.AdjustStockRequest(
                request_id=unique_id(),
                location_id=allocation.location_id,
                sku=sku,
                reason=inv.ADJUSTMENT_REASON_SHRINKAGE,
                delta=-units,
            )
        )
    event = task_event(order, allocation)
    event.short.extend(common_pb2.SkuQuantity(sku=sku, quantity=units) for sku, units in short.items())
    await publish(bus, "fulfilment.task.short_picked", event, source="fulfilment")


async def test_shipments_move_the_order_to_partially_shipped_then_completed(shop: Shop, bus, tap) -> None:
    sofa, lamp = await shop.sku(), await shop.sku("Lamp")
    a, b = await shop.location(BERLIN), await shop.location(LEIPZIG)
    await shop.receive(a, sofa, 1)
    await shop.receive(b, lamp, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1), (lamp, 1)]))).order
    first, second = order.allocations

    await publish(bus, "fulfilment.task.shipped", task_event(order, first), source="fulfilment")
    partly = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_PARTIALLY_SHIPPED)
    assert [a.status for a in partly.allocations] == [pb.ALLOCATION_STATUS_SHIPPED, pb.ALLOCATION_STATUS_HELD]

    # Redelivered or repeated shipments change nothing.
    await publish(bus, "fulfilment.task.shipped", task_event(order, first), source="fulfilment")
    await publish(bus, "fulfilment.task.shipped", task_event(order, second), source="fulfilment")
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED)
    assert [(line.fulfilled, line.allocated) for line in done.lines] == [(1, 1), (1, 1)]
    await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.completed" and payload.order.order_id == order.order_id
    )
    assert any(
        envelope.type == "orders.order.partially_shipped" and payload.order.order_id == order.order_id
        for envelope, payload in tap.events
    )


async def test_short_pick_is_rerouted_to_another_location_with_a_new_hold(shop: Shop, bus, tap, db) -> None:
    sofa = await shop.sku()
    near, far = await shop.location(SPANDAU), await shop.location(LEIPZIG)
    await shop.receive(near, sofa, 2)
    await shop.receive(far, sofa, 2)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2)]))).order
    assert allocated(order) == {near: {sofa: 2}}
    original = order.allocations[0]

    await short_pick(shop, bus, order, original, {sofa: 1})

    _, event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.rerouted" and payload.order.order_id == order.order_id
    )
    (replacement,) = event.new_allocations
    assert (replacement.location_id, [(line.sku, line.quantity) for line in replacement.lines]) == (far, [(sofa, 1)])
    assert replacement.hold_id != original.hold_id
    rerouted = await shop.order(order.order_id)
    assert rerouted.status == pb.ORDER_STATUS_ALLOCATED
    assert allocated(rerouted) == {near: {sofa: 1}, far: {sofa: 1}}
    assert "short pick" in rerouted.decision.explanation
    # Nothing is double-held: one unit left at each place.
    assert await shop.held((near, sofa), (far, sofa)) == [1, 1]
    hold = await shop.hold(replacement.hold_id)
    assert hold.owner == f"order:{order.order_id}"

    for allocation in rerouted.allocations:
        await publish(bus, "fulfilment.task.shipped", task_event(rerouted, allocation), source="fulfilment")
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED)
    assert [(line.fulfilled, line.backordered) for line in done.lines] == [(2, 0)]
    assert await check_invariants(db) == []


async def test_short_pick_with_no_stock_anywhere_is_backordered(shop: Shop, bus, tap) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1)]))).order

    await short_pick(shop, bus, order, order.allocations[0], {sofa: 1})

    await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "orders.order.backordered" and payload.order.order_id == order.order_id
        )
    )
    backordered = await shop.order(order.order_id)
    assert backordered.status == pb.ORDER_STATUS_BACKORDERED
    assert [a.status for a in backordered.allocations] == [pb.ALLOCATION_STATUS_SHORT]
    assert [(line.backordered, line.allocated) for line in backordered.lines] == [(1, 0)]


async def test_short_pick_for_pickup_is_held_again_at_the_store_when_it_has_more(shop: Shop, bus, tap, db) -> None:
    """A pickup must happen at its store: the missing units are looked for there again (more on its
    shelf than the picker was sent for), never routed away, and never left waiting for nothing."""
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(await shop.location(LEIPZIG), sofa, 5)  # elsewhere: no use to a pickup here
    await shop.receive(store, sofa, 3)
    order = (await shop.orders.CreateOrder(store_request([(sofa, 2)], store))).order
    original = order.allocations[0]

    await short_pick(shop, bus, order, original, {sofa: 1})

    _, event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.rerouted" and payload.order.order_id == order.order_id
    )
    (replacement,) = event.new_allocations
    assert (replacement.location_id, [(line.sku, line.quantity) for line in replacement.lines]) == (store, [(sofa, 1)])
    rerouted = await shop.order(order.order_id)
    assert rerouted.status == pb.ORDER_STATUS_ALLOCATED
    assert [(line.allocated, line.backordered, line.cancelled) for line in rerouted.lines] == [(2, 0, 0)]
    assert await shop.held((store, sofa)) == [2]
    assert await check_invariants(db) == []


async def test_short_pick_for_pickup_the_store_cannot_get_is_cancelled_and_said(shop: Shop, bus, tap) -> None:
    """Nothing at the store and nothing on its way there: the missing units cannot be waited for
    (no other store can hand them over), so they are cancelled, and the order's event says so,
    instead of a backorder nothing would ever fill."""
    sofa, lamp = await shop.sku(), await shop.sku("Lamp")
    store = await shop.location(BERLIN)
    await shop.receive(await shop.location(LEIPZIG), sofa, 5)
    await shop.receive(store, sofa, 2)
    await shop.receive(store, lamp, 1)
    order = (await shop.orders.CreateOrder(store_request([(sofa, 2), (lamp, 1)], store))).order

    await short_pick(shop, bus, order, order.allocations[0], {sofa: 1})

    _, event = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "orders.order.backordered" and payload.order.order_id == order.order_id
        )
    )
    told = {line.sku: (line.allocated, line.backordered, line.cancelled) for line in event.order.lines}
    assert told == {sofa: (1, 0, 1), lamp: (1, 0, 0)}
    after = await shop.order(order.order_id)
    assert after.status == pb.ORDER_STATUS_ALLOCATED  # the rest is still ready to collect, when promised
    assert after.promise.at == order.promise.at and order.HasField("promise")
    assert f"Cancelled {sofa}\u00d71: {store} cannot get them" in after.decision.explanation
    assert await shop.held((store, sofa), (store, lamp)) == [1, 1]


async def test_shipment_that_was_short_reroutes_the_rest_even_unannounced(shop: Shop, bus, tap) -> None:
    sofa = await shop.sku()
    near, far = await shop.location(SPANDAU), await shop.location(LEIPZIG)
    await shop.receive(near, sofa, 2)
    await shop.receive(far, sofa, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2)]))).order
    allocation = order.allocations[0]
    # Only one unit left the building (its short pick event is late): the other one is routed again.
    await shop.inventory.ReleaseHold(
        inv.ReleaseHoldRequest(
            request_id=unique_id(),
            hold_id=allocation.hold_id,
            lines=[inv.HoldLineRequest(location_id=near, sku=sofa, quantity=1)],
        )
    )
    await publish(bus, "fulfilment.task.shipped", task_event(order, allocation, picked={sofa: 1}), source="fulfilment")

    shipped = await shop.wait_for_order(
        order.order_id, lambda o: len(o.allocations) == 2 and o.status == pb.ORDER_STATUS_PARTIALLY_SHIPPED
    )
    assert allocated(shipped) == {near: {sofa: 1}, far: {sofa: 1}}
    assert [a.status for a in shipped.allocations] == [pb.ALLOCATION_STATUS_SHIPPED, pb.ALLOCATION_STATUS_HELD]


async def test_expired_order_hold_is_routed_again(shop: Shop, stack, tap) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    # An orders process whose holds last one second; the running service reacts to the expiry.
    parts = wire(stack.wired_settings(order_hold_ttl=timedelta(seconds=1)))
    await parts.db.connect()
    try:
        order = (await parts.placement.create(ship_request([(sofa, 1)]))).order
    finally:
        await parts.db.close()
        for channel in parts.channels:
            await channel.close()
    lost = order.allocations[0]

    _, event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.rerouted" and payload.order.order_id == order.order_id
    )
    (replacement,) = event.new_allocations
    assert replacement.location_id == store and replacement.hold_id != lost.hold_id
    rerouted = await shop.order(order.order_id)
    assert [a.status for a in rerouted.allocations] == [pb.ALLOCATION_STATUS_SHORT, pb.ALLOCATION_STATUS_HELD]
    assert rerouted.status == pb.ORDER_STATUS_ALLOCATED
    assert (await shop.hold(lost.hold_id)).state == inv.HOLD_STATE_EXPIRED
    assert await shop.held((store, sofa)) == [1]


async def test_events_of_other_tasks_and_holds_are_ignored(shop: Shop, bus) -> None:
    preparation = fulfilment_pb2.TaskChanged(
        task=fulfilment_pb2.Task(
            task_id=unique_id(), kind=fulfilment_pb2.TASK_KIND_PICKUP_PREPARATION, reservation_id="R"
        )
    )
    await publish(bus, "fulfilment.task.handed_over", preparation, source="fulfilment")
    await publish(
        bus, "inventory.hold.expired", inv.HoldChanged(hold=inv.Hold(hold_id="H", owner="reservation:R")), "inventory"
    )
    # The service keeps serving: a fresh order goes through.
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1)]))).order
    assert order.status == pb.ORDER_STATUS_ALLOCATED


async def test_a_reroute_cut_short_and_no_longer_needed_gives_its_hold_back(shop: Shop, bus, tap, db) -> None:
    """A short pick's first delivery recorded its re-route's hold request, inventory took the hold,
    and the process died before the order was saved. Before the event came again the customer
    cancelled. The redelivery finds nothing to route: the recorded hold is given back and its
    record dropped, instead of units held for a cancelled order and a re-route never settled."""
    sofa = await shop.sku()
    near, far = await shop.location(SPANDAU), await shop.location(LEIPZIG)
    await shop.receive(near, sofa, 2)
    await shop.receive(far, sofa, 2)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2)]))).order
    allocation = order.allocations[0]
    event = task_event(order, allocation)
    event.short.append(common_pb2.SkuQuantity(sku=sofa, quantity=1))
    envelope = new_envelope("fulfilment.task.short_picked", event, source="fulfilment")
    # What the cut-short delivery left: the recorded request, and the hold inventory took for it.
    plan = pb.RoutingPlan(
        allocations=[pb.PlannedAllocation(location_id=far, lines=[common_pb2.SkuQuantity(sku=sofa, quantity=1)])]
    )
    request = holding.hold_request(
        order_id=order.order_id,
        request_id=holding.derived_request_id(order.order_id, "reroute", envelope.event_id, "1"),
        channel=common_pb2.CHANNEL_WEB,
        plan=plan,
        ttl=timedelta(hours=1),
    )
    as_orders = shop.stack.stub("inventory", token=shop.stack.token(Role.SERVICE, subject="orders"))
    abandoned = (await as_orders.Hold(request)).hold
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO orders.reroutes (cause, order_id, attempt, hold_request, decision) VALUES ($1, $2, 1, $3, $4)",
            envelope.event_id,
            order.order_id,
            request.SerializeToString(deterministic=True),
            plan.SerializeToString(),
        )
    cancel = pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id, reason="changed my mind")
    await shop.orders.CancelOrder(cancel)

    subject = bus.settings.subject(*envelope.type.split("."))
    await bus.js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id})

    async def settled() -> bool:
        async with db.connection() as conn:
            left = await conn.fetchval("SELECT count(*) FROM orders.reroutes WHERE order_id = $1", order.order_id)
        return left == 0 and (await shop.hold(abandoned.hold_id)).state == inv.HOLD_STATE_RELEASED

    await eventually(settled, what="the abandoned re-route's hold released and its record dropped")
    assert [line.open for line in (await shop.hold(abandoned.hold_id)).lines] == [0]
    assert (await shop.order(order.order_id)).status == pb.ORDER_STATUS_CANCELLED
    assert await check_invariants(db) == []
