"""Units held while still on their way to the store (the chat's pool allows units in transit on
transfers) are promised from the transfer's expected arrival plus the store's preparation, never as
if they were on the shelf: for a reservation, and for a pickup order, its quote included.

Pools hold for the whole database, so these tests run on a stack of their own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_inventory.adapters import transfer_repository
from omnistock_orders.adapters import edit_repository
from omnistock_platform.events.envelope import unpack_payload
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.orders.support import BERLIN, LEIPZIG, Shop, quote_of, ship_request, store_request
from tests.integration.orders.test_edits import edit
from tests.integration.promise_support import every_day, midday_zone
from tests.integration.reservations.support import create_request

# Open around the clock: a promise is its arrival (or now) plus the hour of preparation exactly.
AROUND_THE_CLOCK = inv.PromiseSettings(time_zone="UTC", pickup_preparation_minutes=60)


async def shipped_to_store(shop: Shop, sku: str, units: int, arrival: datetime | None) -> tuple[str, str]:
    """A store with one unit on its shelf, `units` more on their way from a hub, and the chat's pool
    allowing units in transit there; the store and the hub."""
    found = await shop.in_transit_to_store(
        {sku: units}, on_shelf={sku: 1}, arrival=arrival, promise_settings=AROUND_THE_CLOCK
    )
    return found.store, found.hub


async def also_on_their_way(shop: Shop, hub: str, store: str, sku: str, units: int) -> None:
    """`units` of `sku` shipped from the hub to the store on a transfer that says nothing of when it
    arrives, and one on the store's shelf."""
    await shop.receive(hub, sku, units)
    await shop.receive(store, sku, 1)
    transfer = (
        await shop.inventory.CreateTransfer(
            inv.CreateTransferRequest(
                request_id=unique_id(),
                origin_location_id=hub,
                destination_location_id=store,
                lines=[inv.TransferLineRequest(sku=sku, quantity=units)],
            )
        )
    ).transfer
    await shop.inventory.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id))


async def stack_events(stack: Stack, service: str, reservation_id: str) -> list[str]:
    """The types of the reservation's events in the service's outbox, in the order written."""
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        rows = await conn.fetch(f"SELECT envelope FROM {service}.outbox ORDER BY id")
    finally:
        await conn.close()
    found = []
    for row in rows:
        envelope = common_pb2.EventEnvelope.FromString(row["envelope"])
        payload = unpack_payload(envelope)
        if getattr(getattr(payload, "reservation", None), "reservation_id", "") == reservation_id:
            found.append(envelope.type)
    return found


async def test_a_reservation_held_on_units_in_transit_is_promised_from_their_arrival(fresh_stack: Stack) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    chat = stack.stub("reservations", role="chat_agent")
    lamp = await shop.sku("Lamp")
    arrival = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    store, hub = await shipped_to_store(shop, lamp, 3, arrival)

    # The unit on the shelf: ready an hour after now.
    before = datetime.now(UTC)
    shelf = (await chat.CreateReservation(create_request(store, [(lamp, 1)]))).reservation
    assert shelf.promise.kind == common_pb2.PROMISE_KIND_PICKUP
    assert shelf.promise.at.ToDatetime(tzinfo=UTC) - before < timedelta(hours=1, minutes=1)

    # Two more are only on their way: ready an hour after the transfer is expected.
    waiting = (await chat.CreateReservation(create_request(store, [(lamp, 2)]))).reservation
    assert waiting.status == pb.RESERVATION_STATUS_ACTIVE
    assert waiting.promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert waiting.promise.at.ToDatetime(tzinfo=UTC) == arrival + timedelta(hours=1)
    assert waiting.promise.wording.endswith(f"via transfer from Warehouse {hub}")
    admin = stack.stub("reservations", role="admin")
    kept = await admin.GetReservation(pb.GetReservationRequest(reservation_id=waiting.reservation_id))
    assert kept.reservation.promise == waiting.promise


async def test_a_transfer_received_after_the_promise_repromises_a_reservation_that_counted_on_it(
    fresh_stack: Stack,
) -> None:
    """A reservation held on units in transit is promised from the transfer's expected arrival (here
    due already, so as if arriving now); the transfer comes later than that: the promise moves to
    the receipt, with reservations.reservation.repromised, as a ship-to-store reservation's does.
    A reservation of units on the shelf at the same store keeps its promise."""
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    chat = stack.stub("reservations", role="chat_agent")
    admin = stack.stub("reservations", role="admin")
    lamp = await shop.sku("Lamp")
    overdue = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    found = await shop.in_transit_to_store(
        {lamp: 2}, on_shelf={lamp: 1}, arrival=datetime.now(UTC) + timedelta(days=1), promise_settings=AROUND_THE_CLOCK
    )
    # A transfer is not drafted with an arrival in the past: it becomes overdue as the day passes.
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        await conn.execute(
            "UPDATE inventory.transfers SET expected_arrival_at = $2 WHERE transfer_id = $1", found.transfer_id, overdue
        )
    finally:
        await conn.close()
    shelf = (await chat.CreateReservation(create_request(found.store, [(lamp, 1)]))).reservation
    waiting = (await chat.CreateReservation(create_request(found.store, [(lamp, 2)]))).reservation
    assert waiting.promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER

    received = await shop.inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=found.transfer_id,
            lines=[inv.TransferArrival(sku=lamp, received=2)],
        )
    )
    received_at = received.transfer.received_at.ToDatetime(tzinfo=UTC)

    async def moved() -> pb.Reservation | None:
        now = (await admin.GetReservation(pb.GetReservationRequest(reservation_id=waiting.reservation_id))).reservation
        return now if now.promise != waiting.promise else None

    repromised = await eventually(moved, what="the reservation re-promised after the late transfer")
    assert repromised.promise.at.ToDatetime(tzinfo=UTC) >= received_at + timedelta(hours=1)
    assert repromised.promise.location_id == found.store
    events = await stack_events(stack, "reservations", waiting.reservation_id)
    assert events.count("reservations.reservation.repromised") == 1
    assert "reservations.reservation.repromised" not in await stack_events(stack, "reservations", shelf.reservation_id)
    kept = (await admin.GetReservation(pb.GetReservationRequest(reservation_id=shelf.reservation_id))).reservation
    assert kept.promise == shelf.promise


async def order_events(stack: Stack, order_id: str) -> list[str]:
    """The types of the order's events in orders' outbox, in the order written."""
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        rows = await conn.fetch("SELECT envelope FROM orders.outbox ORDER BY id")
    finally:
        await conn.close()
    found = []
    for row in rows:
        envelope = common_pb2.EventEnvelope.FromString(row["envelope"])
        if getattr(getattr(unpack_payload(envelope), "order", None), "order_id", "") == order_id:
            found.append(envelope.type)
    return found


async def test_a_transfer_received_after_the_promise_repromises_a_pickup_order_that_counted_on_it(
    fresh_stack: Stack,
) -> None:
    """A pickup order held on units in transit is promised from the transfer's expected arrival (due
    already, so as if arriving now); the transfer comes later than that: the order's promise moves to
    the receipt, once, with orders.order.repromised (previous: the order before), as a reservation's
    does. A pickup order of units on the shelf at the same store keeps its promise."""
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    lamp = await shop.sku("Lamp")
    overdue = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    found = await shop.in_transit_to_store(
        {lamp: 2}, on_shelf={lamp: 1}, arrival=datetime.now(UTC) + timedelta(days=1), promise_settings=AROUND_THE_CLOCK
    )
    # A transfer is not drafted with an arrival in the past: it becomes overdue as the day passes.
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        await conn.execute(
            "UPDATE inventory.transfers SET expected_arrival_at = $2 WHERE transfer_id = $1", found.transfer_id, overdue
        )
    finally:
        await conn.close()
    shelf = (
        await shop.orders.CreateOrder(store_request([(lamp, 1)], found.store, channel=common_pb2.CHANNEL_CHAT))
    ).order
    waiting = (
        await shop.orders.CreateOrder(store_request([(lamp, 2)], found.store, channel=common_pb2.CHANNEL_CHAT))
    ).order
    assert shelf.promise.kind == common_pb2.PROMISE_KIND_PICKUP
    assert waiting.promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER

    received = await shop.inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=found.transfer_id,
            lines=[inv.TransferArrival(sku=lamp, received=2)],
        )
    )
    received_at = received.transfer.received_at.ToDatetime(tzinfo=UTC)

    async def moved() -> opb.Order | None:
        now = await shop.order(waiting.order_id)
        return now if now.promise != waiting.promise else None

    repromised = await eventually(moved, what="the pickup order re-promised after the late transfer")
    assert repromised.promise.at.ToDatetime(tzinfo=UTC) >= received_at + timedelta(hours=1)
    assert repromised.promise.location_id == found.store
    assert repromised.promise.kind == common_pb2.PROMISE_KIND_PICKUP  # the units are on the shelf now
    assert (await order_events(stack, waiting.order_id)).count("orders.order.repromised") == 1
    assert "orders.order.repromised" not in await order_events(stack, shelf.order_id)
    assert (await shop.order(shelf.order_id)).promise == shelf.promise


async def test_a_transfer_past_its_expected_arrival_repromises_what_was_promised_from_it(
    fresh_stack: Stack,
) -> None:
    """A pickup order and a reservation hold lamps on their way to the store, promised an hour after
    the transfer's expected arrival. A day passes and the truck has not come: the promise is a time
    gone. Inventory announces the transfer overdue (inventory.transfer.overdue, once), and both are
    promised again as if the lamps arrived now, as a new order would be: later, still via the
    transfer, each with its repromised event once. An order of lamps on the shelf keeps its promise."""
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    chat = stack.stub("reservations", role="chat_agent")
    admin = stack.stub("reservations", role="admin")
    lamp = await shop.sku("Lamp")
    found = await shop.in_transit_to_store(
        {lamp: 4}, on_shelf={lamp: 1}, arrival=datetime.now(UTC) + timedelta(days=1), promise_settings=AROUND_THE_CLOCK
    )
    shelf = (
        await shop.orders.CreateOrder(store_request([(lamp, 1)], found.store, channel=common_pb2.CHANNEL_CHAT))
    ).order
    order = (
        await shop.orders.CreateOrder(store_request([(lamp, 2)], found.store, channel=common_pb2.CHANNEL_CHAT))
    ).order
    reservation = (await chat.CreateReservation(create_request(found.store, [(lamp, 2)]))).reservation
    assert order.promise.kind == reservation.promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER

    # A day passes, in one transaction: the transfer's expected arrival and the promises made from it
    # are in the past (the sweep sees them together).
    arrived = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    promised = arrived + timedelta(hours=1)
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        async with conn.transaction():
            decision = opb.RoutingPlan.FromString(
                await conn.fetchval("SELECT decision FROM orders.orders WHERE order_id = $1", order.order_id)
            )
            decision.promise.at.FromDatetime(promised)
            await conn.execute(
                "UPDATE orders.orders SET decision = $2 WHERE order_id = $1",
                order.order_id,
                decision.SerializeToString(),
            )
            await conn.execute(
                "UPDATE reservations.reservations SET promise = jsonb_set(promise, '{at}', to_jsonb($2::text))"
                " WHERE reservation_id = $1",
                reservation.reservation_id,
                promised.isoformat(),
            )
            await conn.execute(
                "UPDATE inventory.transfers SET expected_arrival_at = $2 WHERE transfer_id = $1",
                found.transfer_id,
                arrived,
            )
    finally:
        await conn.close()
    swept = datetime.now(UTC)

    async def order_moved() -> opb.Order | None:
        now = await shop.order(order.order_id)
        return now if now.promise.at.ToDatetime(tzinfo=UTC) != promised else None

    async def reservation_moved() -> pb.Reservation | None:
        now = (
            await admin.GetReservation(pb.GetReservationRequest(reservation_id=reservation.reservation_id))
        ).reservation
        return now if now.promise.at.ToDatetime(tzinfo=UTC) != promised else None

    for moved in (
        await eventually(order_moved, what="the pickup order re-promised once the transfer was overdue"),
        await eventually(reservation_moved, what="the reservation re-promised once the transfer was overdue"),
    ):
        assert moved.promise.at.ToDatetime(tzinfo=UTC) >= swept + timedelta(hours=1)
        assert moved.promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert (await order_events(stack, order.order_id)).count("orders.order.repromised") == 1
    assert (await stack_events(stack, "reservations", reservation.reservation_id)).count(
        "reservations.reservation.repromised"
    ) == 1
    assert "orders.order.repromised" not in await order_events(stack, shelf.order_id)
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT envelope FROM inventory.outbox WHERE subject LIKE '%.inventory.transfer.overdue'"
        )
    finally:
        await conn.close()
    announced = [unpack_payload(common_pb2.EventEnvelope.FromString(row["envelope"])) for row in rows]
    assert [event.transfer.transfer_id for event in announced].count(found.transfer_id) == 1


async def test_units_in_transit_without_an_expected_arrival_get_no_date(fresh_stack: Stack) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    chat = stack.stub("reservations", role="chat_agent")
    vase = await shop.sku("Vase")
    store, _ = await shipped_to_store(shop, vase, 2, None)
    reserved = (await chat.CreateReservation(create_request(store, [(vase, 3)]))).reservation
    assert reserved.status == pb.RESERVATION_STATUS_ACTIVE
    assert not reserved.HasField("promise")


async def test_a_pickup_order_on_units_in_transit_is_quoted_and_promised_from_their_arrival(
    fresh_stack: Stack,
) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    rug = await shop.sku("Rug")
    arrival = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    store, hub = await shipped_to_store(shop, rug, 4, arrival)
    request = store_request([(rug, 3)], store, channel=common_pb2.CHANNEL_CHAT)
    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan.promise
    placed = (await shop.orders.CreateOrder(request)).order
    assert placed.status == opb.ORDER_STATUS_ALLOCATED
    assert quoted.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert quoted.at.ToDatetime(tzinfo=UTC) == arrival + timedelta(hours=1)
    assert quoted.wording.endswith(f"via transfer from Warehouse {hub}")
    assert placed.promise == quoted


async def test_an_edit_adding_units_still_on_their_way_repromises_from_their_arrival(fresh_stack: Stack, tap) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    lamp, vase = await shop.sku("Lamp"), await shop.sku("Vase")
    arrival = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    store, hub = await shipped_to_store(shop, lamp, 4, arrival)
    await shop.receive(store, vase, 1)
    order = (await shop.orders.CreateOrder(store_request([(vase, 1)], store, channel=common_pb2.CHANNEL_CHAT))).order
    assert order.promise.kind == common_pb2.PROMISE_KIND_PICKUP

    # Three lamps: one on the shelf, two on their way.
    edited = (await shop.orders.EditOrder(edit(order.order_id, (lamp, 3)))).order
    assert edited.promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert edited.promise.at.ToDatetime(tzinfo=UTC) == arrival + timedelta(hours=1)
    assert edited.promise.wording.endswith(f"via transfer from Warehouse {hub}")
    assert (await shop.order(order.order_id)).promise == edited.promise


async def test_an_edit_resumed_after_a_crash_repromises_as_an_uninterrupted_one(
    fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    lamp, vase = await shop.sku("Lamp"), await shop.sku("Vase")
    arrival = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    store, hub = await shipped_to_store(shop, lamp, 4, arrival)
    await shop.receive(store, vase, 1)
    order = (await shop.orders.CreateOrder(store_request([(vase, 1)], store, channel=common_pb2.CHANNEL_CHAT))).order
    real_save = edit_repository.save_edited
    cut: list[str] = []

    async def crash_once(conn: Any, order_id: str, **fields: Any) -> Any:
        if order_id == order.order_id and not cut:
            cut.append(order_id)
            raise ConnectionResetError("the database went away")  # after inventory changed the holds
        return await real_save(conn, order_id, **fields)

    monkeypatch.setattr(edit_repository, "save_edited", crash_once)
    # Three lamps: one on the shelf, two on their way. The edit is resumed (by the service itself
    # after the lost connection, or by the caller's retry) and adopts the holds as they are.
    request = edit(order.order_id, (lamp, 3))
    try:
        edited = (await shop.orders.EditOrder(request)).order
    except grpc.aio.AioRpcError as error:
        assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED)
        edited = (await shop.orders.EditOrder(request)).order
    assert cut == [order.order_id]
    assert edited.promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert edited.promise.at.ToDatetime(tzinfo=UTC) == arrival + timedelta(hours=1)
    assert edited.promise.wording.endswith(f"via transfer from Warehouse {hub}")
    assert (await shop.order(order.order_id)).promise == edited.promise
    # The lamps are held once, and the new date is published once.
    assert (await shop.level(store, lamp)).held == 3
    conn = await asyncpg.connect(stack.settings.database_url)
    try:
        rows = await conn.fetch("SELECT envelope FROM orders.outbox WHERE subject LIKE '%.orders.order.repromised'")
    finally:
        await conn.close()
    moved = [unpack_payload(common_pb2.EventEnvelope.FromString(row["envelope"])) for row in rows]
    assert [event.order.order_id for event in moved if event.order.order_id == order.order_id] == [order.order_id]


async def test_find_availability_promises_units_in_transit_as_the_reservation_then_made(fresh_stack: Stack) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    chat = stack.stub("reservations", role="chat_agent")
    lamp, vase = await shop.sku("Lamp"), await shop.sku("Vase")
    arrival = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    store, hub = await shipped_to_store(shop, lamp, 3, arrival)
    # Two vases on their way too, on a transfer without an expected arrival, and one on the shelf.
    await also_on_their_way(shop, hub, store, vase, 2)

    async def pickup_at(location_id: str, sku: str, quantity: int) -> list[common_pb2.Promise]:
        found = await shop.inventory.FindAvailability(
            inv.FindAvailabilityRequest(
                items=[common_pb2.SkuQuantity(sku=sku, quantity=quantity)],
                channel=common_pb2.CHANNEL_CHAT,
                method=common_pb2.FULFILMENT_METHOD_PICKUP,
            )
        )
        [entry] = [entry for entry in found.locations if entry.location.location_id == location_id]
        assert entry.complete  # the chat's pool counts the units in transit
        return [promise for promise in entry.promises if promise.kind != common_pb2.PROMISE_KIND_DELIVERY]

    # One lamp is on the shelf: ready once prepared, as its reservation.
    [shelf] = await pickup_at(store, lamp, 1)
    assert shelf.kind == common_pb2.PROMISE_KIND_PICKUP
    # Three need the two on their way: ready an hour after the transfer is expected, via its origin.
    [quoted] = await pickup_at(store, lamp, 3)
    assert quoted.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert quoted.at.ToDatetime(tzinfo=UTC) == arrival + timedelta(hours=1)
    assert quoted.wording.endswith(f"via transfer from Warehouse {hub}")
    reserved = (await chat.CreateReservation(create_request(store, [(lamp, 3)]))).reservation
    assert reserved.status == pb.RESERVATION_STATUS_ACTIVE
    assert reserved.promise == quoted
    # Nothing says when the vases arrive: no date, as the reservation.
    assert await pickup_at(store, vase, 3) == []
    reserved = (await chat.CreateReservation(create_request(store, [(vase, 3)]))).reservation
    assert reserved.status == pb.RESERVATION_STATUS_ACTIVE
    assert not reserved.HasField("promise")


async def test_a_set_whose_components_are_on_their_way_is_promised_from_their_arrival(fresh_stack: Stack) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    lamp, vase = await shop.sku("Lamp"), await shop.sku("Vase")
    arrival = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    store, hub = await shipped_to_store(shop, lamp, 3, arrival)
    await shop.receive(store, vase, 2)
    pair = unique_id("SET-")
    await define_set(
        shop.inventory, {lamp: 1, vase: 1}, sku=pair, title="Lamp and vase", price_minor=5900, currency="EUR"
    )

    # Two sets: two vases and one lamp on the shelf, the second lamp on its way.
    found = await shop.inventory.FindAvailability(
        inv.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=pair, quantity=2)],
            channel=common_pb2.CHANNEL_CHAT,
            method=common_pb2.FULFILMENT_METHOD_PICKUP,
        )
    )
    [entry] = [entry for entry in found.locations if entry.location.location_id == store]
    [offered] = [promise for promise in entry.promises if promise.kind != common_pb2.PROMISE_KIND_DELIVERY]
    request = store_request([(pair, 2)], store, channel=common_pb2.CHANNEL_CHAT)
    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan.promise
    assert quoted.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert quoted.at.ToDatetime(tzinfo=UTC) == arrival + timedelta(hours=1)
    assert quoted.wording.endswith(f"via transfer from Warehouse {hub}")
    assert offered == quoted
    placed = (await shop.orders.CreateOrder(request)).order
    assert placed.status == opb.ORDER_STATUS_ALLOCATED
    assert placed.promise == quoted


async def test_find_availability_promises_a_delivery_from_units_in_transit_as_the_order_then_placed(
    fresh_stack: Stack,
) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    lamp, vase = await shop.sku("Lamp"), await shop.sku("Vase")
    arrival = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    store, hub = await shipped_to_store(shop, lamp, 3, arrival)  # the store ships too
    # Two vases on their way on a transfer without an expected arrival, and one on the shelf.
    await also_on_their_way(shop, hub, store, vase, 2)

    async def delivery_from(location_id: str, sku: str, quantity: int) -> list[common_pb2.Promise]:
        found = await shop.inventory.FindAvailability(
            inv.FindAvailabilityRequest(
                items=[common_pb2.SkuQuantity(sku=sku, quantity=quantity)],
                channel=common_pb2.CHANNEL_CHAT,
                method=common_pb2.FULFILMENT_METHOD_SHIP,
                ship_to_region="DE",
            )
        )
        [entry] = [entry for entry in found.locations if entry.location.location_id == location_id]
        assert entry.complete  # the chat's pool counts the units in transit
        return [promise for promise in entry.promises if promise.kind == common_pb2.PROMISE_KIND_DELIVERY]

    # Three lamps need the two on their way: dispatched once the transfer is expected, as the order.
    [quoted] = await delivery_from(store, lamp, 3)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 3)], channel=common_pb2.CHANNEL_CHAT))).order
    assert order.status == opb.ORDER_STATUS_ALLOCATED
    assert [allocation.location_id for allocation in order.allocations] == [store]
    assert order.promise == quoted
    assert quoted.local_date >= arrival.date().isoformat()
    # Nothing says when the vases arrive: no date, as the order.
    assert await delivery_from(store, vase, 3) == []
    order = (await shop.orders.CreateOrder(ship_request([(vase, 3)], channel=common_pb2.CHANNEL_CHAT))).order
    assert order.status == opb.ORDER_STATUS_ALLOCATED
    assert not order.HasField("promise")


async def backorderable(shop: Shop, store: str, hub: str, *, shelf: int, safety: int, transfer: int) -> str:
    """A backorderable SKU at the store: `shelf` units on hand, `safety` of them safety stock, five
    announced for five days from now, and `transfer` units shipped to it from the hub, expected in
    two days; the SKU."""
    sku = unique_id("SKU-")
    await shop.inventory.UpsertSku(
        inv.UpsertSkuRequest(request_id=unique_id(), sku=inv.Sku(sku=sku, title="Made to order", allow_backorder=True))
    )
    if shelf:
        await shop.receive(store, sku, shelf)
    if safety:
        await shop.safety_stock(store, sku, safety)
    expected = Timestamp()
    expected.FromDatetime(datetime.now(UTC) + timedelta(days=5))
    await shop.inventory.ExpectStock(
        inv.ExpectStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=5, expected_at=expected)
    )
    if transfer:
        await shop.receive(hub, sku, transfer)
        arrival = Timestamp()
        arrival.FromDatetime(datetime.now(UTC) + timedelta(days=2))
        made = await shop.inventory.CreateTransfer(
            inv.CreateTransferRequest(
                request_id=unique_id(),
                origin_location_id=hub,
                destination_location_id=store,
                lines=[inv.TransferLineRequest(sku=sku, quantity=transfer)],
                expected_arrival_at=arrival,
            )
        )
        await shop.inventory.ShipTransfer(
            inv.ShipTransferRequest(request_id=unique_id(), transfer_id=made.transfer.transfer_id)
        )
    return sku


async def test_a_backorderable_sku_is_promised_as_the_reservation_and_the_order_then_made(
    fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backorderable SKU without units in transit the channel counts (the web shop has no pools):
    FindAvailability dates it by what a hold of the items would take beyond on hand, looking at the
    shipped transfers first, as the reservation and the order do; not by what the shelf lacks for
    the channel from the announced deliveries. It reads the transfers only where some are on their
    way."""
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    web = stack.stub("reservations", role="storefront")
    # Past the cut-off all day: handled from tomorrow's opening, so the minute of a call decides nothing.
    zone = midday_zone()
    settings = inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("09:00", "18:00"), pickup_preparation_minutes=60, order_cutoff="00:00"
    )
    store = await shop.location(BERLIN, promise_settings=settings)
    hub = await shop.location(LEIPZIG, warehouse=True)
    # Four of five on hand, three of them safety stock: a hold of four stays on the shelf.
    within = await backorderable(shop, store, hub, shelf=5, safety=3, transfer=0)
    # One on hand, two on a transfer expected before the announced five: they bring the two beyond it.
    shipped = await backorderable(shop, store, hub, shelf=1, safety=0, transfer=2)
    shipped_too = await backorderable(shop, store, hub, shelf=1, safety=0, transfer=2)
    # One on hand, nothing shipped: the announced five bring the two beyond it.
    announced = await backorderable(shop, store, hub, shelf=1, safety=0, transfer=0)
    reads: list[object] = []
    listed = transfer_repository.list_transfers

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs.get("location_ids"))
        return await listed(*args, **kwargs)

    monkeypatch.setattr(transfer_repository, "list_transfers", counted)

    async def offered(sku: str, quantity: int) -> dict[int, common_pb2.Promise]:
        found = await shop.inventory.FindAvailability(
            inv.FindAvailabilityRequest(
                items=[common_pb2.SkuQuantity(sku=sku, quantity=quantity)],
                channel=common_pb2.CHANNEL_WEB,
                ship_to_region="DE",
            )
        )
        [entry] = [entry for entry in found.locations if entry.location.location_id == store]
        assert entry.complete  # the channel may take the announced units of a backorderable SKU
        return {promise.kind: promise for promise in entry.promises}

    def on_the_web(store_id: str, lines: list[tuple[str, int]]) -> pb.CreateReservationRequest:
        return create_request(store_id, lines, channel=common_pb2.CHANNEL_WEB)

    on_shelf = await offered(within, 4)
    on_receipt = await offered(announced, 3)
    assert reads == []  # nothing on a transfer there: no transfer is read
    via_transfer = await offered(shipped, 3)
    assert reads == [[store]]
    delivered = await offered(shipped_too, 3)
    assert on_shelf.keys() == {common_pb2.PROMISE_KIND_PICKUP, common_pb2.PROMISE_KIND_DELIVERY}
    assert on_receipt.keys() == {common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT, common_pb2.PROMISE_KIND_DELIVERY}
    assert via_transfer.keys() == {common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER, common_pb2.PROMISE_KIND_DELIVERY}

    reserved = (await web.CreateReservation(on_the_web(store, [(within, 4)]))).reservation
    assert reserved.status == pb.RESERVATION_STATUS_ACTIVE
    assert reserved.promise == on_shelf[common_pb2.PROMISE_KIND_PICKUP]
    reserved = (await web.CreateReservation(on_the_web(store, [(announced, 3)]))).reservation
    assert reserved.status == pb.RESERVATION_STATUS_ACTIVE
    assert reserved.promise == on_receipt[common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT]
    reserved = (await web.CreateReservation(on_the_web(store, [(shipped, 3)]))).reservation
    assert reserved.status == pb.RESERVATION_STATUS_ACTIVE
    assert reserved.promise == via_transfer[common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER]
    assert reserved.promise.wording.endswith(f"via transfer from Warehouse {hub}")
    order = (await shop.orders.CreateOrder(ship_request([(shipped_too, 3)]))).order
    assert order.status == opb.ORDER_STATUS_ALLOCATED
    assert [allocation.location_id for allocation in order.allocations] == [store]
    assert order.promise == delivered[common_pb2.PROMISE_KIND_DELIVERY]
