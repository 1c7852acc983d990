"""A customer asks the chat agent for one more chair: through the MCP server (stdio, the real
protocol) the agent changes the placed order; asked for more than anywhere has, the answer says
what is short and the order stays as it was."""

from __future__ import annotations

from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.mcp_support import call, refusal, stdio_server
from tests.integration.cli.support import World
from tests.integration.orders.support import ship_request

KASSEL = (51.3127, 9.4797)


async def test_the_chat_agent_changes_a_quantity(stack: Stack) -> None:
    world = World(stack)
    warehouse = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    chair = await world.sku("Oak chair")
    await world.receive(warehouse, chair, 3)
    order = (await stack.stub("orders", role="storefront").CreateOrder(ship_request([(chair, 1)]))).order
    orders = stack.stub("orders", role="admin")

    async with stdio_server(stack) as agent:
        tools = {tool.name: tool for tool in (await agent.list_tools()).tools}
        assert "edit_order" in tools
        changed = await call(agent, "edit_order", order_id=order.order_id, items=[{"sku": chair, "quantity": 2}])
        assert changed["status"] == "allocated" and "2 x" in changed["summary"]
        said = await refusal(agent, "edit_order", order_id=order.order_id, items=[{"sku": chair, "quantity": 9}])
        assert chair in said
        after = (await orders.GetOrder(opb.GetOrderRequest(order_id=order.order_id))).order
        assert [(line.sku, line.quantity) for line in after.lines] == [(chair, 2)]
