"""Returns, end to end: a web order of three cushions ships from the warehouse and is delivered. The
customer tells the chat agent "I want to return two cushions"; through the MCP server (stdio, the real
protocol) the agent starts a return at a store in another part of town. The store's till receives
them: one is fine and goes back on the shelf, one is damaged. Stock, the ledger, the events, the
figures and `omnistock verify`'s return checks come out exact; the store sells the restocked cushion,
never the damaged one; and nothing more can be returned than was delivered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.insights.v1 import insights_pb2 as spb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.invariants import returns_match_movements, returns_within_delivered, snapshot_of
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.mcp_support import call, refusal, stdio_server
from tests.integration.orders.support import BERLIN, SPANDAU, Shop, store_request

TIMEOUT = 20.0


async def figures(stack: Stack, location_id: str) -> list[spb.ChannelInsights]:
    today = datetime.now(UTC).date().isoformat()
    reply = await stack.stub("insights", role="admin").GetChannelInsights(
        spb.GetChannelInsightsRequest(
            location_id=location_id, channel=common_pb2.CHANNEL_WEB, from_date=today, to_date=today
        )
    )
    return list(reply.rows)


async def figures_when(stack: Stack, location_id: str, ready: object) -> spb.ChannelInsights:
    """The web row at the location once the projection caught up (bounded)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        rows = await figures(stack, location_id)
        if rows and ready(rows[0]):  # type: ignore[operator]
            return rows[0]
        assert asyncio.get_running_loop().time() < deadline, f"the figures at {location_id} never caught up: {rows}"
        await asyncio.sleep(0.1)


async def test_a_delivered_order_is_returned_at_another_store_restocked_and_damaged(
    stack: Stack, db: Database, tap: EventTap
) -> None:
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    warehouse = await shop.location(SPANDAU, warehouse=True)
    store = await shop.location(BERLIN)
    cushion = await shop.sku("Velvet cushion", price_minor=2900)
    await shop.receive(warehouse, cushion, 3)

    order = await shop.delivered(warehouse, [(cushion, 3)], shipped=True)
    assert order.lines[0].fulfilled == 3

    async with stdio_server(stack) as agent:
        tools = {tool.name for tool in (await agent.list_tools()).tools}
        assert {"start_return", "return_status"} <= tools
        too_many = await refusal(
            agent, "start_return", order_id=order.order_id, items=[{"sku": cushion, "quantity": 4}], location_id=store
        )
        assert "may still be returned" in too_many
        started = await call(
            agent,
            "start_return",
            order_id=order.order_id,
            items=[{"sku": cushion, "quantity": 2}],
            location_id=store,
            reason="changed mind",
        )
        assert started["status"] == "authorised" and started["return_id"] in started["summary"]
        again = await call(
            agent,
            "start_return",
            order_id=order.order_id,
            items=[{"sku": cushion, "quantity": 2}],
            location_id=store,
            reason="changed mind",
        )
        assert again["return_id"] == started["return_id"]  # the same intent asked twice is one return
    return_id = started["return_id"]
    await tap.wait_for(
        lambda e, p: e.type == "orders.return.authorised" and p.order_return.return_id == return_id, TIMEOUT
    )

    # The store's till inspects the cushions: one back on the shelf, one damaged.
    till = stack.stub("orders", role="pos", locations=[store])
    received = (
        await till.ReceiveReturn(
            pb.ReceiveReturnRequest(
                request_id=unique_id(),
                return_id=return_id,
                lines=[
                    pb.InspectedLine(sku=cushion, condition=pb.RETURN_CONDITION_RESTOCK, quantity=1),
                    pb.InspectedLine(sku=cushion, condition=pb.RETURN_CONDITION_DAMAGED, quantity=1),
                ],
            )
        )
    ).order_return
    assert received.status == pb.RETURN_STATUS_RECEIVED and received.channel == common_pb2.CHANNEL_WEB
    _, event = await tap.wait_for(
        lambda e, p: e.type == "orders.return.received" and p.order_return.return_id == return_id, TIMEOUT
    )
    assert [(line.restocked, line.damaged, line.written_off) for line in event.order_return.lines] == [(1, 1, 0)]

    level = await shop.level(store, cushion)
    assert (level.on_hand, level.held, level.available) == (1, 0, 1)
    assert (await shop.level(warehouse, cushion)).on_hand == 0
    ledger = (await shop.inventory.ListMovements(inv.ListMovementsRequest(location_id=store, sku=cushion))).movements
    assert sorted((m.reason.split(":")[0], m.on_hand_delta, m.document_ref) for m in ledger) == [
        ("damage", -1, f"return:{return_id}"),
        ("return", 1, f"return:{return_id}"),
        ("return", 1, f"return:{return_id}"),
    ]

    # One more may come back; the third would be more than was delivered and not returned.
    last = await stack.stub("orders", role="chat_agent").CreateReturn(
        pb.CreateReturnRequest(
            request_id=unique_id(), order_id=order.order_id, lines=[pb.ReturnLineRequest(sku=cushion, quantity=1)],
            location_id=store,
        )
    )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.stub("orders", role="chat_agent").CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(), order_id=order.order_id, lines=[pb.ReturnLineRequest(sku=cushion, quantity=1)],
                location_id=store,
            )
        )  # fmt: skip
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await stack.stub("orders", role="chat_agent").CancelReturn(
        pb.CancelReturnRequest(request_id=unique_id(), return_id=last.order_return.return_id, reason="kept it")
    )

    # The figures: three web units sold at the warehouse, two returned at the store (one restocked,
    # one damaged); over the channel's rows, two of three units came back.
    returned = await figures_when(stack, store, lambda row: row.returns.received == 1 and row.returns.authorised == 2)
    assert (returned.returns.units_returned, returned.returns.units_restocked, returned.returns.units_damaged) == (
        2,
        1,
        1,
    )
    assert returned.orders.units == 0 and "returns.return_rate" in returned.undefined_figures
    sold = await figures_when(stack, warehouse, lambda row: row.orders.units == 3)
    assert sold.returns.units_returned == 0
    assert (returned.returns.units_returned + sold.returns.units_returned) / (
        returned.orders.units + sold.orders.units
    ) == pytest.approx(2 / 3)

    # The restocked cushion sells at the store's till; the damaged one never does.
    seller = stack.stub("orders", role="pos", locations=[store])
    await seller.CreateOrder(store_request([(cushion, 1)], store, carry_out=True))
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await seller.CreateOrder(store_request([(cushion, 1)], store, carry_out=True))
    assert empty.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    snapshot = await snapshot_of(stack.settings, db=db)
    mine = {return_id, last.order_return.return_id, order.order_id}
    violations = returns_match_movements(snapshot) + returns_within_delivered(snapshot)
    assert [v for v in violations if v.subject in mine] == []
