"""QuoteRouting against real stock: the plan, why every other location it weighed was passed over, and nothing held."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_platform.grpc.errors import details_of
from tests.integration.orders.support import (
    BERLIN,
    HAMBURG,
    LEIPZIG,
    MUNICH,
    POTSDAM,
    SPANDAU,
    Shop,
    allocated,
    quote_of,
    reasons,
    ship_request,
    store_request,
)


async def test_quote_explains_every_location_it_weighed(shop: Shop) -> None:
    sofa, lamp = await shop.sku(), await shop.sku("Lamp", price_minor=2500)
    warehouse = await shop.location(SPANDAU, warehouse=True)  # has everything, near Potsdam
    far_store = await shop.location(MUNICH)  # has everything, far away
    half_store = await shop.location(BERLIN)  # lamps only
    no_shipping = await shop.location(POTSDAM, ships=False)  # right there, but does not ship
    safety_only = await shop.location(LEIPZIG)  # its sofa is safety stock
    closed = await shop.location(POTSDAM, active=False)
    for location in (warehouse, far_store, no_shipping, closed):
        await shop.receive(location, sofa, 2)
        await shop.receive(location, lamp, 2)
    await shop.receive(half_store, lamp, 5)
    await shop.receive(safety_only, sofa, 1)
    await shop.safety_stock(safety_only, sofa, 1)

    request = ship_request([(sofa, 1), (lamp, 2)], to=POTSDAM)
    plan = (await shop.orders.QuoteRouting(quote_of(request))).plan

    assert plan.complete and plan.splits == 1
    assert allocated(
        pb.Order(allocations=[pb.Allocation(location_id=a.location_id, lines=a.lines) for a in plan.allocations])
    ) == {warehouse: {sofa: 1, lamp: 2}}
    assert plan.allocations[0].warehouse
    assert warehouse in plan.explanation
    # One location fills the whole order: routing read and explains the locations it weighed, those
    # that may ship ranked best first, and no other.
    assert reasons(plan) == {
        far_store: "PASS_OVER_REASON_NOT_A_WAREHOUSE",
        half_store: "PASS_OVER_REASON_NOT_ENOUGH_STOCK",
        safety_only: "PASS_OVER_REASON_SAFETY_STOCK",
    }
    assert all(passed.detail for passed in plan.passed_over)
    assert {(v.location_id, v.sku) for v in plan.stock_versions} >= {(warehouse, sofa), (warehouse, lamp)}
    assert {v.location_id for v in plan.stock_versions} <= {warehouse, far_store, half_store, safety_only}
    # A quote holds nothing.
    assert await shop.held((warehouse, sofa), (warehouse, lamp)) == [0, 0]

    # No location has three lamps and a sofa: a split weighs every location, and explains each.
    split = (await shop.orders.QuoteRouting(quote_of(ship_request([(sofa, 1), (lamp, 3)], to=POTSDAM)))).plan
    assert split.complete and split.splits == 2
    assert {a.location_id for a in split.allocations} == {warehouse, half_store}
    passed_over = reasons(split)
    assert set(passed_over) == {far_store, no_shipping, safety_only, closed}
    assert (passed_over[no_shipping], passed_over[closed]) == (
        "PASS_OVER_REASON_METHOD_NOT_SERVED",
        "PASS_OVER_REASON_INACTIVE",
    )


async def test_a_location_opened_since_orders_listed_the_locations_is_weighed_at_once(shop: Shop) -> None:
    sofa = await shop.sku()
    far = await shop.location(MUNICH, warehouse=True)
    await shop.receive(far, sofa, 2)
    request = ship_request([(sofa, 1)], to=POTSDAM)
    before = (await shop.orders.QuoteRouting(quote_of(request))).plan  # orders has listed the locations now
    assert [allocation.location_id for allocation in before.allocations] == [far]

    near = await shop.location(SPANDAU, warehouse=True)
    await shop.receive(near, sofa, 2)
    after = (await shop.orders.QuoteRouting(quote_of(request))).plan

    # Its listing does not know the new warehouse yet; inventory names it, and orders lists again.
    assert [allocation.location_id for allocation in after.allocations] == [near]
    assert reasons(after) == {far: "PASS_OVER_REASON_FARTHER"}


async def test_quote_options_override_the_configured_policy(shop: Shop) -> None:
    sofa = await shop.sku()
    warehouse = await shop.location(HAMBURG, warehouse=True)
    store = await shop.location(SPANDAU)
    for location in (warehouse, store):
        await shop.receive(location, sofa, 1)
    request = ship_request([(sofa, 1)], to=POTSDAM)

    default = (await shop.orders.QuoteRouting(quote_of(request))).plan
    assert [a.location_id for a in default.allocations] == [warehouse]  # warehouses preferred for shipping

    request.options.prefer_warehouses = False
    nearest = (await shop.orders.QuoteRouting(quote_of(request))).plan
    assert [a.location_id for a in nearest.allocations] == [store]
    assert reasons(nearest) == {warehouse: "PASS_OVER_REASON_FARTHER"}

    request.options.exclude_location_ids.append(store)
    request.options.max_distance_km = 50
    nowhere = (await shop.orders.QuoteRouting(quote_of(request))).plan
    assert not nowhere.complete and not nowhere.allocations
    assert [(line.sku, line.quantity) for line in nowhere.unfilled] == [(sofa, 1)]
    assert reasons(nowhere) == {warehouse: "PASS_OVER_REASON_TOO_FAR", store: "PASS_OVER_REASON_EXCLUDED"}


async def test_quote_refuses_bad_requests_naming_each_field(shop: Shop) -> None:
    request = pb.QuoteRoutingRequest(
        channel=common_pb2.CHANNEL_WEB,
        lines=[pb.OrderLineRequest(sku="", quantity=0), pb.OrderLineRequest(sku="A", quantity=1)],
        method=common_pb2.FULFILMENT_METHOD_SHIP,
        options=pb.RoutingOptions(max_distance_km=-1),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.QuoteRouting(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = details_of(refused.value, error_details_pb2.BadRequest)
    fields = {violation.field for violation in bad.field_violations}
    assert fields == {"lines[0].sku", "lines[0].quantity", "ship_to.point", "options.max_distance_km"}

    pickup = pb.QuoteRoutingRequest(
        channel=common_pb2.CHANNEL_APP,
        lines=[pb.OrderLineRequest(sku="A", quantity=1)],
        method=common_pb2.FULFILMENT_METHOD_PICKUP,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.QuoteRouting(pickup)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "store_id" in (refused.value.details() or "")


async def test_a_quote_where_the_store_cannot_serve_the_method_is_refused_as_the_order_would_be(shop: Shop) -> None:
    """The quote is the order's dry run: a pickup at a warehouse or at a store whose pickup is switched
    off, or a till sale where the store does not sell at a till, is refused naming store_id, as
    CreateOrder refuses it, not answered with a plan that passes the store over for stock it has."""
    sofa = await shop.sku()
    warehouse = await shop.location(BERLIN, warehouse=True)
    closed_desk = await shop.location(BERLIN, pickup=False)
    no_till = await shop.location(BERLIN, till_sales=False)
    asked = [
        (store_request([(sofa, 1)], warehouse), f"store {warehouse} does not offer pickup"),
        (store_request([(sofa, 1)], closed_desk), f"store {closed_desk} does not offer pickup"),
        (store_request([(sofa, 1)], no_till, carry_out=True), f"store {no_till} does not sell at a till"),
    ]
    for request, why in asked:
        await shop.receive(request.store_id, sofa, 3)
        for rpc, asking in ((shop.orders.QuoteRouting, quote_of(request)), (shop.orders.CreateOrder, request)):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await rpc(asking)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
            (details,) = details_of(refused.value, error_details_pb2.BadRequest)
            assert [(v.field, v.description) for v in details.field_violations] == [("store_id", why)]
