"""Backordered units are filled when stock comes: oldest order first, never beyond the stock, never
twice, whoever asks (inventory's stock events, the sweep, a second copy of the service)."""

from __future__ import annotations

import asyncio
import contextlib

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_orders.adapters import repository
from omnistock_orders.entrypoints.handlers import STOCK_DURABLE, EventHandlers
from omnistock_orders.entrypoints.main import OrdersService
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.orders.support import (
    BERLIN,
    LEIPZIG,
    SPANDAU,
    Crash,
    Shop,
    allocated,
    ship_request,
    ship_through_fulfilment,
    store_request,
)
from tests.integration.orders.test_reactions import short_pick

PARTIAL = pb.RoutingOptions(allow_partial=True)


def waiting(order: pb.Order) -> dict[str, int]:
    return {line.sku: line.backordered for line in order.lines if line.backordered}


async def stock_event_heard(db, event_id: str) -> bool:
    async with db.connection() as conn:
        return bool(
            await conn.fetchval(
                "SELECT count(*) FROM orders.inbox WHERE consumer = $1 AND event_id = $2", STOCK_DURABLE, event_id
            )
        )


async def two_waiting_for_a_sofa(shop: Shop) -> tuple[str, str, pb.Order, pb.Order]:
    """A store with one sofa and one lamp; the older order asks two sofas (one backordered), the
    younger a sofa and the lamp (its sofa backordered)."""
    sofa, lamp = await shop.sku(), await shop.sku("Lamp")
    store = await shop.location(SPANDAU)
    await shop.receive(store, sofa, 1)
    await shop.receive(store, lamp, 1)
    older = (await shop.orders.CreateOrder(ship_request([(sofa, 2)], options=PARTIAL))).order
    younger = (await shop.orders.CreateOrder(ship_request([(sofa, 1), (lamp, 1)], options=PARTIAL))).order
    assert (older.status, waiting(older)) == (pb.ORDER_STATUS_BACKORDERED, {sofa: 1})
    assert (younger.status, waiting(younger)) == (pb.ORDER_STATUS_BACKORDERED, {sofa: 1})
    return sofa, lamp, older, younger


async def test_stock_received_fills_the_oldest_backorder_and_it_ships(shop: Shop, stack, tap, db) -> None:
    sofa, _, older, younger = await two_waiting_for_a_sofa(shop)
    warehouse = await shop.location(LEIPZIG, warehouse=True)

    await shop.receive(warehouse, sofa, 1)

    _, event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.rerouted" and payload.order.order_id == older.order_id
    )
    (added,) = event.new_allocations
    assert (added.location_id, [(line.sku, line.quantity) for line in added.lines]) == (warehouse, [(sofa, 1)])
    filled = await shop.order(older.order_id)
    assert filled.status == pb.ORDER_STATUS_ALLOCATED
    assert [(line.allocated, line.backordered) for line in filled.lines] == [(2, 0)]
    assert filled.HasField("promise") and "Filled backordered" in filled.decision.explanation
    _, repromised = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "orders.order.repromised" and payload.order.order_id == older.order_id
        )
    )
    assert not repromised.previous.HasField("promise") and repromised.order.promise == filled.promise
    # One unit came, and the older order took it: the younger still waits, nothing more is held.
    still = await shop.order(younger.order_id)
    assert (still.status, waiting(still)) == (pb.ORDER_STATUS_BACKORDERED, {sofa: 1})
    assert await shop.held((warehouse, sofa)) == [1]

    await ship_through_fulfilment(stack, filled)
    done = await shop.wait_for_order(older.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED)
    assert [(line.fulfilled, line.backordered) for line in done.lines] == [(2, 0)]
    assert await check_invariants(db) == []


async def test_a_stock_event_again_and_a_second_copy_fill_nothing_twice(
    shop: Shop, tap, db, orders_process: OrdersService
) -> None:
    sofa, _, older, younger = await two_waiting_for_a_sofa(shop)
    warehouse = await shop.location(LEIPZIG, warehouse=True)
    await shop.receive(warehouse, sofa, 1)
    envelope, _ = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "inventory.stock.changed"
            and (payload.level.location_id, payload.level.sku) == (warehouse, sofa)
            and payload.cause == inv.MOVEMENT_KIND_RECEIPT
        )
    )
    await shop.wait_for_order(older.order_id, lambda o: o.status == pb.ORDER_STATUS_ALLOCATED)

    # The same event handled again (as a redelivery past the inbox would be), by another copy of
    # the service, and that copy's sweep: the unit is held for the older order already.
    handlers = EventHandlers(orders_process.reactions, orders_process.backorders)
    payload = inv.StockChanged()
    envelope.payload.Unpack(payload)
    async with orders_process.db.transaction() as conn:
        await handlers.on_stock(conn, envelope, payload)
    # (The sweep's count is of every backordered order in the database, other tests' too.)
    await orders_process.backorders.sweep()

    again = await shop.order(older.order_id)
    assert len(again.allocations) == 2 and allocated(again)[warehouse] == {sofa: 1}
    assert waiting(await shop.order(younger.order_id)) == {sofa: 1}
    assert await shop.held((warehouse, sofa)) == [1]
    rerouted = [
        payload
        for envelope, payload in tap.events
        if envelope.type == "orders.order.rerouted" and payload.order.order_id in (older.order_id, younger.order_id)
    ]
    assert len(rerouted) == 1
    assert await check_invariants(db) == []


async def test_the_sweep_fills_what_no_event_brought(shop: Shop, tap, db, orders_process: OrdersService) -> None:
    """Stock that becomes usable without a stock event (the warehouse starts shipping after its
    units were received) is filled by the sweep."""
    sofa, _, older, _ = await two_waiting_for_a_sofa(shop)
    warehouse = await shop.location(LEIPZIG, warehouse=True, ships=False)
    await shop.receive(warehouse, sofa, 1)
    received, _ = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "inventory.stock.available"
            and (payload.level.location_id, payload.level.sku) == (warehouse, sofa)
        )
    )

    # The running service took the event while the warehouse did not ship.
    await eventually(
        lambda: stock_event_heard(db, received.event_id), what="the receipt's stock event handled by orders"
    )
    assert waiting(await shop.order(older.order_id)) == {sofa: 1}
    location = (await shop.inventory.GetLocation(inv.GetLocationRequest(location_id=warehouse))).location
    location.ships = True
    await shop.inventory.UpsertLocation(inv.UpsertLocationRequest(request_id=unique_id(), location=location))

    # A batch may hold other tests' waiting orders: the sweep goes on past them. The running
    # service's own sweep may be the one that fills it: either way, a sweep did.
    for _ in range(3):
        await orders_process.backorders.sweep()
        if (await shop.order(older.order_id)).status == pb.ORDER_STATUS_ALLOCATED:
            break
    after = await shop.order(older.order_id)
    assert (after.status, allocated(after)[warehouse]) == (pb.ORDER_STATUS_ALLOCATED, {sofa: 1})
    assert await shop.held((warehouse, sofa)) == [1]
    assert await check_invariants(db) == []


async def test_cancelled_orders_are_not_filled(shop: Shop, tap, orders_process: OrdersService) -> None:
    sofa, _, older, younger = await two_waiting_for_a_sofa(shop)
    store = allocated(older).popitem()[0]

    await shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=older.order_id))

    # The unit the cancellation gave back goes to the order still waiting.
    _, event = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "orders.order.rerouted" and payload.order.order_id == younger.order_id
        )
    )
    assert [allocation.location_id for allocation in event.new_allocations] == [store]
    warehouse = await shop.location(LEIPZIG, warehouse=True)
    await shop.receive(warehouse, sofa, 1)
    assert await orders_process.backorders.stock_rose(warehouse, sofa) == 0
    cancelled = await shop.order(older.order_id)
    assert cancelled.status == pb.ORDER_STATUS_CANCELLED and len(cancelled.allocations) == 1
    assert [(line.backordered, line.cancelled) for line in cancelled.lines] == [(0, 2)]
    assert await shop.held((store, sofa), (warehouse, sofa)) == [1, 0]


async def test_a_pickup_is_filled_only_at_its_store(shop: Shop, tap) -> None:
    sofa, lamp = await shop.sku(), await shop.sku("Lamp")
    store, other = await shop.location(BERLIN), await shop.location(SPANDAU)
    await shop.receive(store, lamp, 1)
    order = (await shop.orders.CreateOrder(store_request([(sofa, 1), (lamp, 1)], store, options=PARTIAL))).order
    assert waiting(order) == {sofa: 1}

    await shop.receive(other, sofa, 1)  # another store's shelf: no use to a pickup here
    await shop.receive(store, sofa, 1)

    _, event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.rerouted" and payload.order.order_id == order.order_id
    )
    assert [(a.location_id, [(line.sku, line.quantity) for line in a.lines]) for a in event.new_allocations] == [
        (store, [(sofa, 1)])
    ]
    filled = await shop.order(order.order_id)
    assert filled.status == pb.ORDER_STATUS_ALLOCATED and filled.promise.location_id == store
    assert await shop.held((store, sofa), (other, sofa)) == [1, 0]
    assert filled.channel == common_pb2.CHANNEL_WEB


async def cut_short_fill(shop: Shop, monkeypatch, orders_process: OrdersService) -> tuple[str, str, pb.Order]:
    """The older order's fill dies after inventory took its hold and before the order was saved
    (whichever copy of orders tried it): the unit is held, the order still waits."""
    sofa, _, older, _ = await two_waiting_for_a_sofa(shop)
    warehouse = await shop.location(LEIPZIG, warehouse=True)
    saving = repository.save

    async def crashing(conn, record):
        if record.order_id == older.order_id and not record.order.lines[0].backordered:
            raise Crash("died before the fill was saved")
        return await saving(conn, record)

    monkeypatch.setattr(repository, "save", crashing)
    await shop.receive(warehouse, sofa, 1)
    with contextlib.suppress(Crash):
        await orders_process.reactions.fill_backorder(older.order_id)
    assert await shop.held((warehouse, sofa)) == [1]
    assert waiting(await shop.order(older.order_id)) == {sofa: 1}
    monkeypatch.setattr(repository, "save", saving)
    return sofa, warehouse, older


async def test_a_fill_cut_short_is_finished_with_the_hold_it_took(
    shop: Shop, db, monkeypatch, orders_process: OrdersService
) -> None:
    sofa, warehouse, older = await cut_short_fill(shop, monkeypatch, orders_process)
    before = (await shop.level(warehouse, sofa)).version

    await orders_process.reactions.fill_backorder(older.order_id)

    filled = await shop.order(older.order_id)
    assert (filled.status, allocated(filled)[warehouse]) == (pb.ORDER_STATUS_ALLOCATED, {sofa: 1})
    # The hold taken before the crash: no other was taken (and given back) meanwhile.
    level = await shop.level(warehouse, sofa)
    assert (level.held, level.version) == (1, before)
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders.reroutes WHERE order_id = $1", older.order_id) == 0
    assert await check_invariants(db) == []


async def test_a_fill_cut_short_of_an_order_cancelled_since_gives_its_hold_back(
    shop: Shop, db, monkeypatch, orders_process: OrdersService
) -> None:
    sofa, warehouse, older = await cut_short_fill(shop, monkeypatch, orders_process)
    await shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=older.order_id))

    assert await orders_process.reactions.fill_backorder(older.order_id) is False

    assert await shop.held((warehouse, sofa)) == [0]
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders.reroutes WHERE order_id = $1", older.order_id) == 0
    assert await check_invariants(db) == []


async def test_the_sweep_gives_back_the_hold_of_a_fill_cut_short_of_an_order_cancelled_since(
    shop: Shop, bus, tap, db, monkeypatch, orders_process: OrdersService
) -> None:
    """Once cancelled, the order waits for nothing: no stock event and no round over the backordered
    asks to fill it again, so the hold its cut-short fill took is given back by the sweep (left, it
    would keep the unit from every other order until inventory let it expire days later)."""
    sofa = await shop.sku()
    store = await shop.location(SPANDAU)
    await shop.receive(store, sofa, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1)]))).order
    await short_pick(shop, bus, order, order.allocations[0], {sofa: 1})
    await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_BACKORDERED)
    # Received while it does not ship, the unit is nobody's when its stock event comes: only the fill
    # below takes it.
    warehouse = await shop.location(LEIPZIG, warehouse=True, ships=False)
    await shop.receive(warehouse, sofa, 1)
    received, _ = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "inventory.stock.available"
            and (payload.level.location_id, payload.level.sku) == (warehouse, sofa)
        )
    )
    await eventually(lambda: stock_event_heard(db, received.event_id), what="the receipt handled by orders")
    location = (await shop.inventory.GetLocation(inv.GetLocationRequest(location_id=warehouse))).location
    location.ships = True
    await shop.inventory.UpsertLocation(inv.UpsertLocationRequest(request_id=unique_id(), location=location))
    saving = repository.save

    async def crashing(conn, record):
        if record.order_id == order.order_id and not record.order.lines[0].backordered:
            raise Crash("died before the fill was saved")
        return await saving(conn, record)

    monkeypatch.setattr(repository, "save", crashing)
    with contextlib.suppress(Crash):
        await orders_process.reactions.fill_backorder(order.order_id)
    monkeypatch.setattr(repository, "save", saving)
    # Nothing of the order is held any more: its cancellation gives nothing back.
    await shop.orders.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id))
    assert await shop.held((warehouse, sofa)) == [1]

    await orders_process.backorders.sweep()

    assert await shop.held((warehouse, sofa)) == [0]
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders.reroutes WHERE order_id = $1", order.order_id) == 0
    cancelled = await shop.order(order.order_id)
    assert cancelled.status == pb.ORDER_STATUS_CANCELLED and len(cancelled.allocations) == 1
    assert await check_invariants(db) == []


async def test_fills_asked_at_once_by_a_stock_event_the_sweep_and_directly_fill_each_unit_once(
    shop: Shop, db, orders_process: OrdersService
) -> None:
    """A stock event, a sweep and direct fills of waiting orders, all at once, beside the running
    service's own: three sofas come for five orders waiting for one each, and three orders get one."""
    sofa, lamp = await shop.sku(), await shop.sku("Lamp")
    store = await shop.location(SPANDAU)
    await shop.receive(store, lamp, 5)
    waiting_orders = [
        (await shop.orders.CreateOrder(ship_request([(sofa, 1), (lamp, 1)], options=PARTIAL))).order for _ in range(5)
    ]
    assert all(waiting(order) == {sofa: 1} for order in waiting_orders)
    warehouse = await shop.location(LEIPZIG, warehouse=True)

    await shop.receive(warehouse, sofa, 3)
    fills = orders_process.reactions.fill_backorder
    await asyncio.gather(
        *(fills(order.order_id) for order in waiting_orders[:2]),
        orders_process.backorders.stock_rose(warehouse, sofa),
        orders_process.backorders.sweep(),
    )

    async def settled() -> list[pb.Order]:
        orders = [await shop.order(order.order_id) for order in waiting_orders]
        return orders if sum(1 for order in orders if not waiting(order)) == 3 else []

    orders = await eventually(settled, what="three of the waiting orders filled")
    assert sorted(len(order.allocations) for order in orders) == [1, 1, 2, 2, 2]
    assert await shop.held((warehouse, sofa)) == [3]
    async with db.connection() as conn:
        ids = [order.order_id for order in waiting_orders]
        assert await conn.fetchval("SELECT count(*) FROM orders.reroutes WHERE order_id = ANY($1)", ids) == 0
    assert await check_invariants(db) == []


async def test_more_fills_of_one_order_at_once_than_the_pool_has_connections_all_finish(
    shop: Shop, db, orders_process: OrdersService
) -> None:
    """Each fill waits for the order's row lock on a connection of the process's pool, and the fill
    holding the lock records its hold's request before inventory is asked. With every connection
    taken by fills waiting for the lock, that record must not need one of them: it did, and the
    process's fills (and everything else it did on that pool) waited for each other forever."""
    sofa, _, _, younger = await two_waiting_for_a_sofa(shop)
    warehouse = await shop.location(LEIPZIG, warehouse=True)
    await shop.receive(warehouse, sofa, 2)
    at_once = 2 * orders_process.settings.db_pool_max + 2
    fill = orders_process.reactions.fill_backorder

    async def all_of_them() -> list[bool]:
        return list(await asyncio.gather(*(fill(younger.order_id) for _ in range(at_once))))

    filled = await asyncio.wait_for(all_of_them(), timeout=60)

    assert filled.count(True) <= 1
    order = await shop.wait_for_order(younger.order_id, lambda o: not waiting(o))
    assert sum(a.lines[0].quantity for a in order.allocations if a.location_id == warehouse) == 1
    assert await check_invariants(db) == []


async def test_a_short_pick_nobody_could_cover_is_filled_by_a_receipt_and_completes(
    shop: Shop, stack, bus, tap, db
) -> None:
    sofa = await shop.sku()
    store = await shop.location(SPANDAU)
    await shop.receive(store, sofa, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1)]))).order
    await short_pick(shop, bus, order, order.allocations[0], {sofa: 1})
    await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_BACKORDERED)
    warehouse = await shop.location(LEIPZIG, warehouse=True)

    await shop.receive(warehouse, sofa, 1)

    filled = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_ALLOCATED)
    (added,) = [allocation for allocation in filled.allocations if allocation.status == pb.ALLOCATION_STATUS_HELD]
    assert added.location_id == warehouse and filled.HasField("promise")
    shipping = pb.Order()
    shipping.CopyFrom(filled)
    del shipping.allocations[:]
    shipping.allocations.append(added)
    await ship_through_fulfilment(stack, shipping)
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == pb.ORDER_STATUS_COMPLETED)
    assert [(line.fulfilled, line.backordered) for line in done.lines] == [(1, 0)]
    assert await check_invariants(db) == []
