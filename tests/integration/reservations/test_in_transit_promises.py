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
from omnistock_orders.adapters import edit_repository
from omnistock_platform.events.envelope import unpack_payload
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, LEIPZIG, Shop, quote_of, store_request
from tests.integration.orders.test_edits import edit
from tests.integration.reservations.support import create_request

# Open around the clock: a promise is its arrival (or now) plus the hour of preparation exactly.
AROUND_THE_CLOCK = inv.PromiseSettings(time_zone="UTC", pickup_preparation_minutes=60)


async def shipped_to_store(shop: Shop, sku: str, units: int, arrival: datetime | None) -> tuple[str, str]:
    """A store with one unit on its shelf, `units` more on their way from a hub, and the chat's pool
    allowing units in transit there; the store and the hub."""
    store = await shop.location(BERLIN, promise_settings=AROUND_THE_CLOCK)
    hub = await shop.location(LEIPZIG, warehouse=True)
    await shop.receive(hub, sku, units)
    await shop.receive(store, sku, 1)
    stores = unique_id("stores-")
    await shop.inventory.UpsertLocationGroup(
        inv.UpsertLocationGroupRequest(
            request_id=unique_id(),
            group=inv.LocationGroup(group_id=stores, display_name="Stores", location_ids=[store]),
        )
    )
    await shop.inventory.SetChannelPools(
        inv.SetChannelPoolsRequest(
            request_id=unique_id(),
            channel=common_pb2.CHANNEL_CHAT,
            pools=[inv.ChannelPool(group_id=stores, allow_transfer_in_transit=True)],
        )
    )
    expected = Timestamp()
    if arrival is not None:
        expected.FromDatetime(arrival)
    transfer = (
        await shop.inventory.CreateTransfer(
            inv.CreateTransferRequest(
                request_id=unique_id(),
                origin_location_id=hub,
                destination_location_id=store,
                lines=[inv.TransferLineRequest(sku=sku, quantity=units)],
                expected_arrival_at=expected if arrival is not None else None,
            )
        )
    ).transfer
    await shop.inventory.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id))
    return store, hub


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
    await shop.receive(hub, vase, 2)
    await shop.receive(store, vase, 1)
    transfer = (
        await shop.inventory.CreateTransfer(
            inv.CreateTransferRequest(
                request_id=unique_id(),
                origin_location_id=hub,
                destination_location_id=store,
                lines=[inv.TransferLineRequest(sku=vase, quantity=2)],
            )
        )
    ).transfer
    await shop.inventory.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id))

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
