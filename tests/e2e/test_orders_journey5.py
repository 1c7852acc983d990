"""Journey 5, "reserve, then buy": a customer who reserved in the app decides to pay online for
pickup. The order takes over the reservation's hold — the same hold, never released in between,
so inventory's `held` never drops — and the reservation is marked converted."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
import pytest
import pytest_asyncio

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, Shop, allocated

TIMEOUT = 15.0

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def shop(stack: Stack) -> Shop:
    if "reservations" not in stack.addresses:
        pytest.skip("the reservations service is not installed")
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))


async def watch_held(inventory: Any, sku: str, store: str, seen: list[int], ready: asyncio.Event) -> None:
    """Every `held` inventory reports for the row, from the snapshot on."""
    stream = inventory.WatchStock(inv.WatchStockRequest(skus=[sku], location_ids=[store]))
    async for message in stream:
        seen.extend(level.held for level in message.levels if level.location_id == store)
        if message.snapshot_complete:
            ready.set()


async def test_reserve_then_buy_takes_the_same_hold_over(stack: Stack, shop: Shop, db, tap) -> None:
    sofa = await shop.sku("Green velvet sofa", 129900)
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 2)
    customer = rpb.Customer(customer_id=unique_id("CUST-"), name="Grace Hopper", email="grace@example.com")

    app = stack.stub("reservations", role="app")
    reservation = (
        await app.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_APP,
                customer=customer,
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=sofa, quantity=1)],
            )
        )
    ).reservation
    assert reservation.status == rpb.RESERVATION_STATUS_ACTIVE
    hold_before = reservation.hold_id
    assert (await shop.hold(hold_before)).owner == f"reservation:{reservation.reservation_id}"
    assert await shop.held((store, sofa)) == [1]

    seen: list[int] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch_held(stack.stub("inventory", role="admin"), sofa, store, seen, ready))
    await asyncio.wait_for(ready.wait(), TIMEOUT)
    try:
        order = (
            await shop.orders_as("app").CreateOrder(
                pb.CreateOrderRequest(
                    request_id=unique_id(),
                    channel=common_pb2.CHANNEL_APP,
                    customer_id=customer.customer_id,
                    method=common_pb2.FULFILMENT_METHOD_PICKUP,
                    reservation_id=reservation.reservation_id,
                )
            )
        ).order
        # The transfer's stock event (a ledger row, no change of counters) reaches the watcher too.
        await tap.wait_for(
            lambda envelope, payload: (
                envelope.type == "inventory.hold.transferred" and payload.hold.hold_id == hold_before
            ),
            TIMEOUT,
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    # The order holds the reservation's units with the very same hold.
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    assert order.reservation_id == reservation.reservation_id and order.store_id == store
    assert order.method == common_pb2.FULFILMENT_METHOD_PICKUP
    assert allocated(order) == {store: {sofa: 1}}
    assert [a.hold_id for a in order.allocations] == [hold_before]
    assert order.total_minor == 129900
    hold_after = await shop.hold(hold_before)
    assert hold_after.owner == f"order:{order.order_id}" and hold_after.state == inv.HOLD_STATE_ACTIVE
    # It now lasts as long as an order's hold, not only until the pickup deadline.
    assert hold_after.expires_at.ToDatetime() > reservation.expires_at.ToDatetime()

    # Never released in between: held stayed at one unit throughout, and no release was announced.
    assert seen and min(seen) == 1, seen
    assert await shop.held((store, sofa)) == [1]
    assert not [
        payload
        for envelope, payload in tap.events
        if envelope.type in ("inventory.hold.released", "inventory.hold.expired")
        and payload.hold.hold_id == hold_before
    ]

    # The reservation is converted and points at the order.
    converted = (
        await app.GetReservation(rpb.GetReservationRequest(reservation_id=reservation.reservation_id))
    ).reservation
    assert converted.status == rpb.RESERVATION_STATUS_CONVERTED
    assert converted.order_id == order.order_id
    await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "orders.order.allocated" and payload.order.order_id == order.order_id
        ),
        TIMEOUT,
    )
    assert await check_invariants(db) == []


async def test_a_reservation_that_cannot_be_converted_is_refused_with_its_reason(stack: Stack, shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    customer = rpb.Customer(customer_id=unique_id("CUST-"), name="Alan Turing")
    app = stack.stub("reservations", role="app")
    reservation = (
        await app.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_APP,
                customer=customer,
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=sofa, quantity=1)],
            )
        )
    ).reservation
    await app.CancelReservation(
        rpb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
    )
    request = pb.CreateOrderRequest(
        request_id=unique_id(),
        channel=common_pb2.CHANNEL_APP,
        customer_id=customer.customer_id,
        method=common_pb2.FULFILMENT_METHOD_PICKUP,
        reservation_id=reservation.reservation_id,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders_as("app").CreateOrder(request)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    listed = await shop.orders.ListOrders(pb.ListOrdersRequest(customer_id=customer.customer_id))
    assert list(listed.orders) == []

    # Someone else's reservation cannot be bought.
    other = (
        await app.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_APP,
                customer=customer,
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=sofa, quantity=1)],
            )
        )
    ).reservation
    stranger = pb.CreateOrderRequest()
    stranger.CopyFrom(request)
    stranger.request_id = unique_id()
    stranger.reservation_id = other.reservation_id
    stranger.customer_id = unique_id("CUST-")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders_as("app").CreateOrder(stranger)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await shop.held((store, sofa)) == [1]
