"""Ship to store through the MCP server, as a model drives it: the branch has no green sofa, the agent
offers to bring one and reserves it with ship_to_store; the answer says the day in words an agent can
say ("at the branch on Thursday via transfer from the warehouse"), and the customer's open
reservations include it while it is on its way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.mcp_support import call, refusal, stdio_server
from tests.integration.cli.support import World

BRANCH = (52.5200, 13.4050)
WAREHOUSE = (52.5300, 13.2000)


async def test_the_agent_reserves_a_sofa_the_branch_lacks_and_says_when_it_arrives(stack: Stack) -> None:
    world = World(stack)
    city = unique_id("Berlin-")
    branch = await world.location(city, BRANCH, name="Mitte")
    warehouse = await world.location(city, WAREHOUSE, kind="warehouse", name="the Berlin warehouse")
    sofa = await world.sku("Velvet sofa, green", colour="green")
    await world.receive(warehouse, sofa, 3)
    email = f"{unique_id('ada').lower()}@example.com"
    asked = {"sku": sofa, "store_id": branch, "customer_name": "Ada Lovelace", "email": email}

    async with stdio_server(stack) as agent:
        tools = {tool.name: tool for tool in (await agent.list_tools()).tools}
        assert "ship_to_store" in tools["reserve_for_pickup"].input_schema["properties"]
        short = await refusal(agent, "reserve_for_pickup", **asked)
        assert "Mitte" in short or branch in short

        reserved = await call(agent, "reserve_for_pickup", ship_to_store=True, **asked)
        assert reserved["status"] == "awaiting_transfer"
        assert reserved["coming_from"] == "the Berlin warehouse"
        expected = datetime.now(UTC) + timedelta(days=2)  # the default lead time from a warehouse
        day = f"{expected:%A}"
        assert f"at Mitte on {day}" in reserved["summary"], reserved["summary"]
        assert "via transfer from the Berlin warehouse" in reserved["summary"]
        assert reserved["promised_at"].startswith(expected.date().isoformat())

        listed = await call(agent, "list_reservations", email=email)
        assert [r["reservation_id"] for r in listed["reservations"]] == [reserved["reservation_id"]]
