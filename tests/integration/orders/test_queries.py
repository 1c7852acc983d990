"""GetOrder and ListOrders: filters, keyset pages, and staff who see only their own locations."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import BERLIN, SPANDAU, Shop, quote_of, ship_request, store_request


async def test_list_filters_pages_and_location_scope(shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    warehouse = await shop.location(SPANDAU, warehouse=True)
    await shop.receive(store, sofa, 10)
    await shop.receive(warehouse, sofa, 10)
    customer = unique_id("CUST-")
    pickups = [
        (await shop.orders.CreateOrder(store_request([(sofa, 1)], store, customer_id=customer))).order for _ in range(3)
    ]
    shipped = (
        await shop.orders.CreateOrder(ship_request([(sofa, 1)], customer_id=customer, channel=common_pb2.CHANNEL_APP))
    ).order
    newest_first = [shipped.order_id, *reversed([o.order_id for o in pickups])]

    seen: list[str] = []
    token = ""
    while True:
        page = await shop.orders.ListOrders(pb.ListOrdersRequest(customer_id=customer, page_size=3, page_token=token))
        seen += [o.order_id for o in page.orders]
        token = page.next_page_token
        if not token:
            break
    assert seen == newest_first

    by_channel = await shop.orders.ListOrders(
        pb.ListOrdersRequest(customer_id=customer, channel=common_pb2.CHANNEL_APP)
    )
    assert [o.order_id for o in by_channel.orders] == [shipped.order_id]
    at_store = await shop.orders.ListOrders(pb.ListOrdersRequest(customer_id=customer, location_id=store))
    assert {o.order_id for o in at_store.orders} == {o.order_id for o in pickups}
    allocated = await shop.orders.ListOrders(
        pb.ListOrdersRequest(customer_id=customer, status=pb.ORDER_STATUS_ALLOCATED)
    )
    assert len(allocated.orders) == 4
    assert not (
        await shop.orders.ListOrders(pb.ListOrdersRequest(customer_id=customer, status=pb.ORDER_STATUS_COMPLETED))
    ).orders

    # A store clerk sees the store's orders only.
    clerk = shop.orders_as("pos", [store])
    mine = await clerk.ListOrders(pb.ListOrdersRequest(customer_id=customer))
    assert {o.order_id for o in mine.orders} == {o.order_id for o in pickups}
    assert (await clerk.GetOrder(pb.GetOrderRequest(order_id=pickups[0].order_id))).order.order_id
    for denied in (
        clerk.ListOrders(pb.ListOrdersRequest(location_id=warehouse)),
        clerk.GetOrder(pb.GetOrderRequest(order_id=shipped.order_id)),
        clerk.CancelOrder(pb.CancelOrderRequest(request_id=unique_id(), order_id=shipped.order_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await denied
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_wrong_hands_and_bad_reads_are_refused(shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    request = ship_request([(sofa, 1)])

    # Chat agents may quote; warehouse staff do not place orders; nobody without a token does anything.
    assert (await shop.orders_as("chat_agent").QuoteRouting(quote_of(request))).plan.complete
    for stub, code in (
        (shop.orders_as("warehouse", [store]), grpc.StatusCode.PERMISSION_DENIED),
        (shop.stack.stub("orders", token=""), grpc.StatusCode.UNAUTHENTICATED),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateOrder(request)
        assert refused.value.code() == code

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await shop.orders.GetOrder(pb.GetOrderRequest(order_id=unique_id("ORDER-")))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    for bad, field in (
        (pb.ListOrdersRequest(page_token="not a token"), "page_token"),
        (pb.ListOrdersRequest(page_size=10_000), "page_size"),
        (pb.ListOrdersRequest(status=99), "status"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await shop.orders.ListOrders(bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (refused.value.details() or "")
    assert await shop.held((store, sofa)) == [0]


async def test_orders_at_an_unknown_location_are_not_found_and_at_an_idle_one_none(shop: Shop) -> None:
    """A mistyped location must not read as "no orders there"."""
    idle = await shop.location(BERLIN)
    nowhere = unique_id("NOWHERE-")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.ListOrders(pb.ListOrdersRequest(location_id=nowhere))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    (resource,) = details_of(refused.value, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name, resource.description) == (
        "location",
        nowhere,
        "location_id",
    )
    assert list((await shop.orders.ListOrders(pb.ListOrdersRequest(location_id=idle))).orders) == []
    # Staff asking of a location not theirs are refused as before, whether it exists or not.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await shop.orders_as("pos", [idle]).ListOrders(pb.ListOrdersRequest(location_id=nowhere))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
