"""A chat agent's retry of place_order without an idempotency key is the same intent however it
lists the items: the first order is answered again, never a second one placed."""

from __future__ import annotations

from typing import Any

from mcp import Client
from omnistock_mcp.server import build_server
from omnistock_mcp.tools import ChannelTools

from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import World


async def test_place_order_again_with_its_items_in_another_order_answers_the_first_order(stack: Stack) -> None:
    world = World(stack)
    city = unique_id("Bonn-")
    store = await world.location(city, (50.73, 7.10))
    sofa, cushion = await world.sku("Velvet sofa"), await world.sku("Velvet cushion")
    await world.receive(store, sofa, 2)
    await world.receive(store, cushion, 4)
    token = TokenAuthority(stack.settings).mint(Role.CHAT_AGENT, unique_id("chat-"), channel="chat")
    tools = ChannelTools(stack.settings, lambda: token, addresses=stack.addresses)
    order: dict[str, Any] = {
        "method": "pickup",
        "store_id": store,
        "customer_name": "Ada Customer",
        "email": f"{unique_id('ada-')}@example.com",
        "customer_consent": True,
    }
    try:
        async with Client(build_server(tools)) as agent:
            placed = []
            for items in (
                [{"sku": sofa, "quantity": 1}, {"sku": cushion, "quantity": 2}],
                [{"sku": cushion, "quantity": 2}, {"sku": sofa, "quantity": 1}],
            ):
                result = await agent.call_tool("place_order", {**order, "items": items})
                said = " ".join(getattr(part, "text", "") for part in result.content)
                assert not result.is_error, said
                assert isinstance(result.structured_content, dict)
                placed.append(result.structured_content["order_id"])
    finally:
        await tools.close()
    assert placed[0] == placed[1]
    # Only the one order holds stock: one sofa and two cushions are still there for others.
    assert (await world.level(store, sofa)).available == 1
    assert (await world.level(store, cushion)).available == 2
