"""A customer asks the chat agent to stop their order while they check the delivery address: through
the MCP server (stdio, the real protocol) the agent puts the order on hold, the warehouse's task waits,
the agent releases it once the address is confirmed, and the task may be worked again. A fraud review
the back office placed is not the agent's to release: the answer says so in a sentence."""

from __future__ import annotations

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.e2e.mcp_support import call, refusal, stdio_server
from tests.integration.cli.support import World
from tests.integration.orders.support import ship_request

KASSEL = (51.3127, 9.4797)


async def test_the_chat_agent_holds_an_order_for_an_address_check_and_releases_it(stack: Stack) -> None:
    world = World(stack)
    warehouse = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    lamp = await world.sku("Brass lamp")
    await world.receive(warehouse, lamp, 1)
    order = (await stack.stub("orders", role="storefront").CreateOrder(ship_request([(lamp, 1)]))).order
    staff = stack.stub("fulfilment", role="warehouse", locations=[warehouse])

    async def task_on_hold(held: bool) -> fpb.Task | None:
        listed = await staff.ListTasks(fpb.ListTasksRequest(location_id=warehouse))
        mine = [task for task in listed.tasks if task.order_id == order.order_id]
        return mine[0] if mine and bool(mine[0].hold_reason) == held else None

    async with stdio_server(stack) as agent:
        tools = {tool.name: tool for tool in (await agent.list_tools()).tools}
        assert {"hold_order", "release_order_hold"} <= set(tools)
        held = await call(agent, "hold_order", order_id=order.order_id, reason="address_check", note="house number")
        assert held["on_hold"] is True and "It waits (address check)" in held["summary"]
        again = await call(agent, "hold_order", order_id=order.order_id, reason="address_check")
        assert again["summary"].startswith("Already on hold") and len(again["holds"]) == 1  # a retry holds once
        task = await eventually(lambda: task_on_hold(True))
        assert task.status == fpb.TASK_STATUS_OPEN

        released = await call(agent, "release_order_hold", order_id=order.order_id, note="address confirmed")
        assert released["on_hold"] is False and released["holds"][0]["status"] == "released"
        await eventually(lambda: task_on_hold(False))

        await stack.stub("orders", role="admin").HoldOrder(
            opb.HoldOrderRequest(
                request_id=unique_id(),
                order_id=order.order_id,
                hold=opb.FulfilmentHoldRequest(reason=common_pb2.FULFILMENT_HOLD_REASON_FRAUD_REVIEW),
            )
        )
        said = await refusal(agent, "release_order_hold", order_id=order.order_id)
        assert "back office" in said
        status = await call(agent, "order_status", order_id=order.order_id)
        assert status["on_hold"] is True and "fraud review" in status["summary"]
