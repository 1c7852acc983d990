"""Journey "the last lamps are for walk-ins": the back office names its location groups and says
per channel where it may sell — the web shop from the Berlin stores but never their last two
units, the chat agent at most half of a store's shelf, the marketplace only from the warehouses.
Every channel's answer, route and hold follows its pools and says which pool the units come from:
the web shop cannot take the last units that the stores keep for walk-ins, and the till sells them.
Back office through the CLI, channels through gRPC and the MCP server.

Pools hold for the whole system, so the journey runs on a database of its own."""

from __future__ import annotations

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.mcp_support import call, refusal, stdio_server
from tests.integration.cli.support import Cli
from tests.integration.orders.support import BERLIN, SPANDAU, Shop, quote_of, reasons, ship_request, store_request


async def test_the_web_shop_cannot_take_the_last_units_the_stores_keep_for_walk_ins(fresh_stack: Stack) -> None:
    stack, cli = fresh_stack, Cli(fresh_stack)
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    mitte = await shop.location(BERLIN, city="Berlin")
    warehouse = await shop.location(SPANDAU, warehouse=True, city="Berlin", rank=50)
    lamp = await shop.sku("Opal table lamp", 8900)
    await shop.receive(mitte, lamp, 4)
    await shop.receive(warehouse, lamp, 5)
    stores, warehouses = unique_id("berlin-stores-").lower(), unique_id("german-warehouses-").lower()

    # The back office names its groups and sets each channel's pools.
    await cli.run("groups", "put", stores, "--name", "Berlin stores", "-l", mitte)
    await cli.run("groups", "put", warehouses, "--name", "German warehouses", "-l", warehouse)
    await cli.run("pools", "set", "web", "--pool", f"{stores}:100:2", "--pool", warehouses)
    await cli.run("pools", "set", "chat", "--pool", f"{stores}:50")
    await cli.run("pools", "set", "marketplace", "--pool", warehouses)
    listed = await cli.json("pools", "list")
    assert {(p["channel"], p["group_id"], p["cap_percent"], p["buffer_units"]) for p in listed["pools"]} == {
        ("CHANNEL_WEB", stores, 100, 2),
        ("CHANNEL_WEB", warehouses, 100, 0),
        ("CHANNEL_CHAT", stores, 50, 0),
        ("CHANNEL_MARKETPLACE", warehouses, 100, 0),
    }
    shown = await cli.run("groups", "list")
    assert "Berlin stores" in shown.stdout and mitte in shown.stdout

    # Each channel sees its own share and where it comes from.
    web_view = await cli.json("stock", lamp, "--channel", "web")
    assert {lv["location_id"]: (lv["available"], lv["pool_group_id"]) for lv in web_view["levels"]} == {
        mitte: (2, stores),
        warehouse: (5, warehouses),
    }
    assert "pool" in (await cli.run("stock", lamp, "--channel", "web", "--wide")).stdout
    marketplace_view = await cli.json("stock", lamp, "--channel", "marketplace")
    assert {lv["location_id"]: lv["available"] for lv in marketplace_view["levels"]} == {mitte: 0, warehouse: 5}

    # A marketplace order ships from the warehouse even though the store is nearer: the store is not
    # its pool. (The marketplace's connector calls as a service.)
    web, marketplace = stack.stub("orders", role="storefront"), stack.stub("orders", role="service")
    to_mitte = ship_request([(lamp, 1)], to=BERLIN, channel=common_pb2.CHANNEL_MARKETPLACE)
    plan = (await marketplace.QuoteRouting(quote_of(to_mitte))).plan
    assert [a.location_id for a in plan.allocations] == [warehouse]
    assert reasons(plan)[mitte] == "PASS_OVER_REASON_CHANNEL_POOL"
    assert "not in its location groups" in next(p.detail for p in plan.passed_over if p.location_id == mitte)
    placed = (await marketplace.CreateOrder(to_mitte)).order
    assert placed.channel == common_pb2.CHANNEL_MARKETPLACE
    assert [a.location_id for a in placed.allocations] == [warehouse]
    hold = (await shop.inventory.GetHold(inv.GetHoldRequest(hold_id=placed.allocations[0].hold_id))).hold
    assert hold.channel == common_pb2.CHANNEL_MARKETPLACE  # held as the marketplace: its pools bound it

    # The chat agent, through MCP, is offered half of the store's shelf and told whose pool it is.
    async with stdio_server(stack) as agent:
        found = await call(agent, "find_stock_nearby", sku=lamp, latitude=BERLIN[0], longitude=BERLIN[1])
        assert [(s["store_id"], s["available"], s["pool"]) for s in found["stores"]] == [(mitte, 2, stores)]
        assert f"from the {stores} pool" in found["summary"]

        # A web customer takes the two lamps the web shop may sell at Mitte, for pickup.
        order = (await web.CreateOrder(store_request([(lamp, 2)], mitte))).order
        assert [a.location_id for a in order.allocations] == [mitte]
        # The next web customer is refused with a clear shortfall: the last two are kept for walk-ins.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await web.CreateOrder(store_request([(lamp, 1)], mitte))
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert details_of(refused.value, common_pb2.Shortfall)
        # The web shop's quote says why: the store's pool keeps the last two back from it.
        plan = (await web.QuoteRouting(quote_of(store_request([(lamp, 1)], mitte)))).plan
        passed = {p.location_id: p for p in plan.passed_over}[mitte]
        assert passed.reason == opb.PASS_OVER_REASON_CHANNEL_POOL
        assert f"kept back from this channel by its pool {stores}" in passed.detail
        # So is the chat agent: half of the shelf (2 of 4) is all its pool ever offers, and 2 are held.
        sentence = await refusal(
            agent, "reserve_for_pickup", sku=lamp, store_id=mitte, customer_name="Mia Walk", quantity=1
        )
        assert lamp in sentence

    # Two walk-in customers buy the kept lamps at the till.
    till = stack.stub("orders", role="pos", locations=[mitte])
    sold = (await till.CreateOrder(store_request([(lamp, 2)], mitte, carry_out=True))).order
    assert sold.status in (opb.ORDER_STATUS_COMPLETED, opb.ORDER_STATUS_ALLOCATED)
    level = (
        await shop.inventory.GetStock(
            inv.GetStockRequest(sku=lamp, location_id=mitte, channel=common_pb2.CHANNEL_POS, selling_location_id=mitte)
        )
    ).levels[0]
    assert (level.on_hand, level.held, level.available) == (2, 2, 0)  # the web order's two, waiting for pickup

    # Stock and pools agree with every invariant, pools never exceeding stock included.
    report = await cli.json("verify", "--inventory-only")
    assert report["ok"], report["violations"]
