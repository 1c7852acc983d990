"""How many units a tool is given: a number no request can carry is an argument the model is told
to correct, never "an unexpected problem, try again" (which a retry cannot cure)."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from omnistock_mcp.server import build_server
from omnistock_mcp.tools import ChannelTools

from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.testing.stack import Stack, unique_id

NO_SUCH_ORDER = "6f1c1f0e-2222-4222-8222-222222222222"


@pytest.mark.parametrize("units", [10**19, 2**63, 10**30])
@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("quote_order", {"method": "pickup", "store_id": "STORE-ANY"}),
        (
            "place_order",
            {"method": "pickup", "store_id": "STORE-ANY", "customer_name": "A Customer", "customer_consent": True},
        ),
        ("start_return", {"order_id": NO_SUCH_ORDER, "location_id": "STORE-ANY"}),
        ("edit_order", {"order_id": NO_SUCH_ORDER}),
    ],
)
async def test_a_quantity_beyond_what_a_request_carries_is_an_argument_to_correct(
    stack: Stack, tool: str, arguments: dict[str, Any], units: int
) -> None:
    token = TokenAuthority(stack.settings).mint(Role.CHAT_AGENT, unique_id("chat-"), channel="chat")
    tools = ChannelTools(stack.settings, lambda: token, addresses=stack.addresses)
    try:
        async with Client(build_server(tools)) as agent:
            result = await agent.call_tool(tool, {**arguments, "items": [{"sku": "SOFA", "quantity": units}]})
    finally:
        await tools.close()
    said = " ".join(getattr(part, "text", "") for part in result.content)
    assert result.is_error, said
    assert "unexpected" not in said, said
    assert said.startswith(f"The call to {tool} was not made: item 1's quantity"), said
    assert f"Call {tool} again with that corrected" in said, said
