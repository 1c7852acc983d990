"""CreateOrder: allocation with one hold, idempotency, cancellation, carry-out, validation, lost races."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import (
    BERLIN,
    LEIPZIG,
    POTSDAM,
    SPANDAU,
    Shop,
    allocated,
    quote_of,
    ship_request,
    store_request,
)


async def test_created_order_is_allocated_with_one_hold_visible_in_inventory(shop: Shop, tap) -> None:
    sofa, lamp = await shop.sku(price_minor=49900), await shop.sku("Lamp", price_minor=2500)
    warehouse = await shop.location(SPANDAU, warehouse=True)
    await shop.receive(warehouse, sofa, 3)
    await shop.receive(warehouse, lamp, 3)

    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1), (lamp, 2)]))).order

    assert order.status == pb.ORDER_STATUS_ALLOCATED
    assert allocated(order) == {warehouse: {sofa: 1, lamp: 2}}
    assert order.total_minor == 49900 + 2 * 2500 and order.currency == "EUR"
    assert [(line.sku, line.unit_price_minor, line.allocated) for line in order.lines] == [
        (sofa, 49900, 1),
        (lamp, 2500, 2),
    ]
    assert order.decision.complete and order.decision.allocations[0].location_id == warehouse
    hold = await shop.hold(order.allocations[0].hold_id)
    assert hold.owner == f"order:{order.order_id}" and hold.state == inv.HOLD_STATE_ACTIVE
    assert await shop.held((warehouse, sofa), (warehouse, lamp)) == [1, 2]

    _, allocated_event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.allocated" and payload.order.order_id == order.order_id
    )
    assert [a.allocation_id for a in allocated_event.new_allocations] == [a.allocation_id for a in order.allocations]
    assert any(
        envelope.type == "orders.order.created" and payload.order.order_id == order.order_id
        for envelope, payload in tap.events
    )
    assert (await shop.order(order.order_id)) == order


async def test_retry_returns_the_same_order_and_a_changed_request_is_refused(shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 5)
    request = ship_request([(sofa, 2)])

    first = (await shop.orders.CreateOrder(request)).order
    again = (await shop.orders.CreateOrder(request)).order
    assert again.order_id == first.order_id and again.allocations == first.allocations
    assert await shop.held((store, sofa)) == [2]

    changed = pb.CreateOrderRequest()
    changed.CopyFrom(request)
    changed.lines[0].quantity = 3
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(changed)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "request_id" in (refused.value.details() or "")
    assert await shop.held((store, sofa)) == [2]


async def test_cancel_gives_the_units_back(shop: Shop, tap) -> None:
    sofa = await shop.sku()
    store_a, store_b = await shop.location(BERLIN), await shop.location(LEIPZIG)
    await shop.receive(store_a, sofa, 1)
    await shop.receive(store_b, sofa, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2)]))).order
    assert len(order.allocations) == 2
    assert await shop.held((store_a, sofa), (store_b, sofa)) == [1, 1]

    cancel = pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id, reason="changed my mind")
    cancelled = (await shop.orders.CancelOrder(cancel)).order
    assert cancelled.status == pb.ORDER_STATUS_CANCELLED
    assert {a.status for a in cancelled.allocations} == {pb.ALLOCATION_STATUS_CANCELLED}
    assert [(line.cancelled, line.allocated) for line in cancelled.lines] == [(2, 0)]
    assert await shop.held((store_a, sofa), (store_b, sofa)) == [0, 0]
    assert (await shop.hold(order.allocations[0].hold_id)).state == inv.HOLD_STATE_RELEASED
    await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.cancelled" and payload.order.order_id == order.order_id
    )
    # The same request again answers the same; a second cancellation changes nothing.
    assert (await shop.orders.CancelOrder(cancel)).order == cancelled
    again = pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id)
    assert (await shop.orders.CancelOrder(again)).order.status == pb.ORDER_STATUS_CANCELLED


async def test_skus_priced_in_different_currencies_are_refused_by_the_order_and_its_quote(shop: Shop) -> None:
    sofa, lamp = await shop.sku(), await shop.sku("Lamp", 2500, "GBP")
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    await shop.receive(store, lamp, 1)
    request = ship_request([(sofa, 1), (lamp, 1)])

    for call in (shop.orders.CreateOrder(request), shop.orders.QuoteRouting(quote_of(request))):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "different currencies: EUR, GBP" in (refused.value.details() or "")
    assert await shop.held((store, sofa), (store, lamp)) == [0, 0]


async def test_a_web_shop_orders_only_in_its_own_channel(shop: Shop) -> None:
    """The web's pools keep its share: a storefront naming another channel is refused and holds nothing."""
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 2)
    storefront = shop.orders_as("storefront")
    for channel in (common_pb2.CHANNEL_CHAT, common_pb2.CHANNEL_APP, common_pb2.CHANNEL_MARKETPLACE):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await storefront.CreateOrder(ship_request([(sofa, 1)], channel=channel))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        (info,) = details_of(refused.value, error_details_pb2.ErrorInfo)
        assert info.reason == "ACTION_NOT_ALLOWED"
    assert await shop.held((store, sofa)) == [0]
    order = (await storefront.CreateOrder(ship_request([(sofa, 1)], channel=common_pb2.CHANNEL_WEB))).order
    assert order.status == pb.ORDER_STATUS_ALLOCATED


async def test_carry_out_commits_at_once_using_the_tills_own_safety_stock(shop: Shop, tap) -> None:
    sofa = await shop.sku()
    store, other = await shop.location(BERLIN), await shop.location(POTSDAM)
    await shop.receive(store, sofa, 2)
    await shop.safety_stock(store, sofa, 2)  # nothing for remote channels

    web = pb.QuoteRoutingRequest()
    web.CopyFrom(quote_of(ship_request([(sofa, 1)])))
    assert not (await shop.orders.QuoteRouting(web)).plan.complete

    till = shop.orders_as("pos", [store])
    sale = store_request([(sofa, 2)], store, carry_out=True)
    order = (await till.CreateOrder(sale)).order
    assert order.status == pb.ORDER_STATUS_COMPLETED
    assert allocated(order) == {store: {sofa: 2}}
    assert [a.status for a in order.allocations] == [pb.ALLOCATION_STATUS_HANDED_OVER]
    assert [(line.fulfilled, line.allocated) for line in order.lines] == [(2, 2)]
    assert (await shop.hold(order.allocations[0].hold_id)).state == inv.HOLD_STATE_COMMITTED
    level = await shop.level(store, sofa)
    assert (level.on_hand, level.held) == (0, 0)
    await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.completed" and payload.order.order_id == order.order_id
    )

    # A completed sale cannot be cancelled.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await till.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # Only a till of that store, or an admin, may sell there; the web shop never carries out.
    await shop.receive(store, sofa, 1)
    for caller in (shop.orders_as("pos", [other]), shop.orders_as("storefront")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await caller.CreateOrder(store_request([(sofa, 1)], store, carry_out=True))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_invalid_requests_name_every_field_and_change_nothing(shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    customer = unique_id("CUST-")
    bad = pb.CreateOrderRequest(
        request_id=unique_id(),
        channel=common_pb2.CHANNEL_WEB,
        customer_id=customer,
        lines=[pb.OrderLineRequest(sku=sofa, quantity=0), pb.OrderLineRequest(sku="bad sku!", quantity=1)],
        method=common_pb2.FULFILMENT_METHOD_SHIP,
        ship_to=pb.Address(point=common_pb2.GeoPoint(latitude=91, longitude=0)),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(bad)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (details,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert {v.field for v in details.field_violations} == {
        "lines[0].quantity",
        "lines[1].sku",
        "ship_to.point.latitude",
    }

    for request, field in (
        (store_request([(sofa, 1)], ""), "store_id"),
        (store_request([(sofa, 1)], store, carry_out=True, channel=common_pb2.CHANNEL_WEB), "channel"),
        (ship_request([(sofa, 1), (sofa, 1)]), "lines[1].sku"),
        (ship_request([(sofa, 1)], request_id=""), "request_id"),
    ):
        request.customer_id = customer
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.orders.CreateOrder(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in (refused.value.details() or ""), (field, refused.value.details())
    # An unknown SKU is not a bad field but a missing thing (tests/integration/security/test_unknown.py).
    unknown = ship_request([(unique_id("SKU-"), 1)])
    unknown.customer_id = customer
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(unknown)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    (info,) = details_of(refused.value, error_details_pb2.ResourceInfo)
    assert (info.resource_type, info.description) == ("sku", "lines[0].sku")

    listed = await shop.orders.ListOrders(pb.ListOrdersRequest(customer_id=customer))
    assert list(listed.orders) == []
    assert await shop.held((store, sofa)) == [0]


async def test_an_address_name_of_only_spaces_is_refused_naming_it(shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    request = ship_request([(sofa, 1)])
    request.ship_to.name = "   "
    request.ship_to.city = "\u00a0"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (details,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert {v.field for v in details.field_violations} == {"ship_to.name", "ship_to.city"}
    assert await shop.held((store, sofa)) == [0]


async def test_shortfall_is_refused_with_where_else_and_keeps_nothing(shop: Shop, tap) -> None:
    sofa = await shop.sku()
    store, nearby = await shop.location(BERLIN), await shop.location(SPANDAU)
    await shop.receive(store, sofa, 1)
    await shop.receive(nearby, sofa, 3)
    customer = unique_id("CUST-")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(store_request([(sofa, 2)], store, customer_id=customer))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.location_id, line.sku, line.requested, line.available) for line in shortfall.lines] == [
        (store, sofa, 2, 1)
    ]
    assert [(alt.location_id, {a.sku: a.quantity for a in alt.available}) for alt in shortfall.alternatives] == [
        (nearby, {sofa: 3})
    ]
    assert list((await shop.orders.ListOrders(pb.ListOrdersRequest(customer_id=customer))).orders) == []
    assert await shop.held((store, sofa), (nearby, sofa)) == [0, 0]
    # The refused demand is announced for whoever counts it.
    _, refused_event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.demand.refused" and payload.location_id == store
    )
    assert refused_event.channel == common_pb2.CHANNEL_WEB
    assert [(line.sku, line.requested, line.available) for line in refused_event.short] == [(sofa, 2, 1)]


async def test_quote_and_order_make_the_same_plan_on_the_same_stock(shop: Shop) -> None:
    sofa, lamp, rug = await shop.sku(), await shop.sku("Lamp"), await shop.sku("Rug")
    a, b, c = await shop.location(BERLIN), await shop.location(LEIPZIG), await shop.location(SPANDAU)
    await shop.receive(a, sofa, 1)
    await shop.receive(a, lamp, 1)
    await shop.receive(b, rug, 2)
    await shop.receive(c, lamp, 1)
    await shop.receive(c, rug, 1)
    request = ship_request([(sofa, 1), (lamp, 1), (rug, 1)])

    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan
    order = (await shop.orders.CreateOrder(request)).order

    assert order.decision == quoted
    assert allocated(order) == {
        allocation.location_id: {line.sku: line.quantity for line in allocation.lines}
        for allocation in quoted.allocations
    }


async def test_stock_gone_between_quote_and_order_is_routed_elsewhere(shop: Shop) -> None:
    sofa = await shop.sku()
    near, far = await shop.location(SPANDAU), await shop.location(LEIPZIG)
    await shop.receive(near, sofa, 1)
    await shop.receive(far, sofa, 1)
    request = ship_request([(sofa, 1)], to=POTSDAM)
    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan
    assert [a.location_id for a in quoted.allocations] == [near]

    # Someone else takes the near unit first.
    await shop.inventory.Hold(
        inv.HoldRequest(
            request_id=unique_id(),
            owner="test:competitor",
            channel=common_pb2.CHANNEL_WEB,
            lines=[inv.HoldLineRequest(location_id=near, sku=sofa, quantity=1)],
        )
    )
    order = (await shop.orders.CreateOrder(request)).order
    assert allocated(order) == {far: {sofa: 1}}
    assert order.decision.allocations[0].location_id == far


DUPLICATES = 6
ROUNDS = 8


@pytest.mark.parametrize("stocked", [0, 1], ids=["short", "in-stock"])
async def test_concurrent_duplicates_hear_another_call_is_placing_the_order(shop: Shop, stocked: int) -> None:
    """The same CreateOrder sent several times at once: each gets the order, the same shortfall, or
    "being handled by another call" (REQUEST_IN_PROGRESS, retryable, with RetryInfo): never that the
    order was abandoned; and a retry after that gets the order or the shortfall."""
    warehouse = await shop.location(SPANDAU, warehouse=True)
    for _ in range(ROUNDS):
        sofa = await shop.sku()
        if stocked:
            await shop.receive(warehouse, sofa, stocked)
        request = ship_request([(sofa, 1)])
        answers = await asyncio.gather(
            *(shop.orders.CreateOrder(request) for _ in range(DUPLICATES)), return_exceptions=True
        )
        orders = {answer.order.order_id for answer in answers if isinstance(answer, pb.CreateOrderResponse)}
        assert len(orders) <= 1, "duplicates placed different orders"
        for answer in answers:
            if isinstance(answer, pb.CreateOrderResponse):
                continue
            assert isinstance(answer, grpc.aio.AioRpcError), answer
            assert "abandoned" not in (answer.details() or ""), answer.details()
            (info,) = details_of(answer, error_details_pb2.ErrorInfo)
            if answer.code() == grpc.StatusCode.FAILED_PRECONDITION:
                assert info.reason == "INSUFFICIENT_STOCK" and not stocked, answer.details()
                continue
            assert answer.code() == grpc.StatusCode.ABORTED, f"{answer.code().name} {answer.details()}"
            assert info.reason == "REQUEST_IN_PROGRESS" and details_of(answer, error_details_pb2.RetryInfo)
        if stocked:
            retried = (await shop.orders.CreateOrder(request)).order
            assert retried.status == pb.ORDER_STATUS_ALLOCATED and {retried.order_id} >= orders
            assert await shop.held((warehouse, sofa)) == [1]


async def test_a_routed_shortfall_names_the_location(shop: Shop) -> None:
    """A shipment that cannot be routed is short somewhere: at the location with the most of the SKU,
    with where else some of it is as alternatives (not "SKU at : requested 5")."""
    sofa = await shop.sku()
    most, some = await shop.location(SPANDAU, warehouse=True), await shop.location(POTSDAM, warehouse=True)
    await shop.receive(most, sofa, 2)
    await shop.receive(some, sofa, 1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(ship_request([(sofa, 5)]))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.location_id, line.sku, line.requested, line.available) for line in shortfall.lines] == [
        (most, sofa, 5, 2)
    ]
    elsewhere = [(alt.location_id, {a.sku: a.quantity for a in alt.available}) for alt in shortfall.alternatives]
    assert (some, {sofa: 1}) in elsewhere and all(location != most for location, _ in elsewhere)
    assert f"{sofa} at {most}: requested 5, available 2" in (refused.value.details() or "")


async def test_a_pickup_at_a_location_that_does_not_offer_pickup_is_refused_as_such(shop: Shop) -> None:
    """A warehouse, or a store whose pickup is switched off, has the items but hands nothing over:
    the order is refused naming store_id, not answered with a shortfall of stock that is there."""
    sofa = await shop.sku()
    warehouse = await shop.location(BERLIN, warehouse=True)
    closed_desk = await shop.location(BERLIN, pickup=False)
    for location in (warehouse, closed_desk):
        await shop.receive(location, sofa, 3)
        customer = unique_id("CUST-")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.orders.CreateOrder(store_request([(sofa, 1)], location, customer_id=customer))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
        (details,) = details_of(refused.value, error_details_pb2.BadRequest)
        assert [(v.field, v.description) for v in details.field_violations] == [
            ("store_id", f"store {location} does not offer pickup")
        ]
        listed = await shop.orders.ListOrders(pb.ListOrdersRequest(customer_id=customer))
        assert list(listed.orders) == []
        assert await shop.held((location, sofa)) == [0]


async def test_a_till_sale_where_the_store_does_not_sell_at_a_till_is_refused_as_such(shop: Shop) -> None:
    sofa = await shop.sku()
    no_till = await shop.location(BERLIN, till_sales=False)
    await shop.receive(no_till, sofa, 3)
    till = shop.orders_as("pos", [no_till])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await till.CreateOrder(store_request([(sofa, 1)], no_till, carry_out=True))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    (details,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in details.field_violations] == [
        ("store_id", f"store {no_till} does not sell at a till")
    ]
    assert await shop.held((no_till, sofa)) == [0]
    assert (await shop.level(no_till, sofa)).on_hand == 3
