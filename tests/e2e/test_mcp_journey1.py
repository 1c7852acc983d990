"""Journey 1 through the MCP server, as a model would drive it: the `mcp` client library talks
to `python -m omnistock_mcp` over stdio (the real protocol), the server calls the running
services as the chat agent. Search the green sofa, find it near the customer's city, reserve
it at the branch; then, through gRPC, the reservation is ACTIVE and the branch has a
pickup-preparation task. A retry does not reserve twice; a shortfall reads as a sentence."""

from __future__ import annotations

from mcp import Client

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.e2e.mcp_support import call, refusal, stdio_server
from tests.integration.cli.support import World

BRANCH = (51.3397, 12.3731)  # Leipzig
SUBURB = (51.3100, 12.4200)
OTHER_CITY = (51.0504, 13.7373)  # Dresden, about 100 km away


async def test_the_chat_agent_reserves_the_last_green_sofa_through_mcp(stack: Stack) -> None:
    async with stdio_server(stack) as agent:
        await the_last_green_sofa(stack, agent)


async def the_last_green_sofa(stack: Stack, agent: Client) -> None:
    world = World(stack)
    city = unique_id("Leipzig-")
    model = unique_id("velvet-").lower()
    branch = await world.location(city, BRANCH, name="Leipzig branch")
    suburb = await world.location(city, SUBURB, name="Leipzig suburb", rank=20)
    farther = await world.location(unique_id("Dresden-"), OTHER_CITY, name="Dresden branch")
    warehouse = await world.location(city, BRANCH, kind="warehouse")
    green = await world.sku("Velvet sofa, green", colour="green", category="sofa", model=model)
    blue = await world.sku("Velvet sofa, blue", colour="blue", category="sofa", model=model)
    await world.receive(branch, green, 1)
    await world.receive(farther, green, 2)
    await world.receive(warehouse, blue, 5)
    await world.receive(suburb, blue, 1)

    tools = {tool.name: tool for tool in (await agent.list_tools()).tools}
    assert set(tools) >= {
        "search_skus",
        "find_stock_nearby",
        "reserve_for_pickup",
        "get_reservation",
        "extend_reservation",
        "cancel_reservation",
        "order_status",
    }
    reserve_schema = tools["reserve_for_pickup"].input_schema
    assert reserve_schema["required"] == ["sku", "store_id", "customer_name"]
    assert "pickup_code" in (tools["reserve_for_pickup"].description or "")

    # The customer wants the sofa in green: the agent finds the variant by words and colour.
    found = await call(agent, "search_skus", text="velvet sofa", colour="green", attributes={"model": model})
    assert [sku["sku"] for sku in found["skus"]] == [green]
    assert found["skus"][0]["attributes"]["colour"] == "green"

    # Near the customer's city, only the branch has it.
    nearby = await call(agent, "find_stock_nearby", sku=green, city=city, radius_km=30)
    assert [(store["store_id"], store["available"]) for store in nearby["stores"]] == [(branch, 1)]
    assert "Leipzig branch" in nearby["summary"]

    # The agent reserves it for pickup: a pickup code and an expiry.
    email = f"{unique_id('ada').lower()}@example.com"
    asked = {"sku": green, "store_id": branch, "customer_name": "Ada Lovelace", "email": email}
    reserved = await call(agent, "reserve_for_pickup", **asked)
    assert reserved["status"] == "active" and reserved["pickup_code"] and reserved["expires_at"]
    assert reserved["store_name"] == "Leipzig branch" and reserved["pickup_code"] in reserved["summary"]

    # The model did not see the answer and asks again: the same reservation, not a second one.
    retried = await call(agent, "reserve_for_pickup", **asked)
    assert retried["reservation_id"] == reserved["reservation_id"]

    # Through gRPC: the reservation is ACTIVE and holds the sofa; the branch has the task.
    reservations = stack.stub("reservations", role="admin")
    stored = await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=reserved["reservation_id"]))
    assert stored.reservation.status == rpb.RESERVATION_STATUS_ACTIVE
    assert stored.reservation.channel == 3  # CHANNEL_CHAT
    assert (await world.level(branch, green)).held == 1
    clerk = stack.stub("fulfilment", role="pos", locations=[branch])

    async def pickup_task() -> fpb.Task | None:
        reply = await clerk.ListTasks(fpb.ListTasksRequest(location_id=branch))
        return next((task for task in reply.tasks if task.reservation_id == reserved["reservation_id"]), None)

    task = await eventually(pickup_task, timeout=15)
    assert (task.kind, task.status) == (fpb.TASK_KIND_PICKUP_PREPARATION, fpb.TASK_STATUS_OPEN)
    assert [(line.sku, line.quantity) for line in task.lines] == [(green, 1)]

    # Another customer asks for the same sofa: refused with a sentence the agent can pass on.
    sorry = await refusal(
        agent, "reserve_for_pickup", sku=green, store_id=branch, customer_name="Bob Blue", email="bob@example.com"
    )
    assert sorry.startswith(f"Only 0 of {green} are left at Leipzig branch")
    assert "Leipzig branch" in sorry and "Dresden branch" in sorry and f"has 2 of {green}" in sorry

    # Later in the conversation: look it up and keep it a day longer.
    again = await call(agent, "get_reservation", reservation_id=reserved["reservation_id"])
    assert again["pickup_code"] == reserved["pickup_code"]
    longer = await call(agent, "extend_reservation", reservation_id=reserved["reservation_id"], days=1)
    assert longer["expires_at"] > reserved["expires_at"]

    order_id = unique_id("order-")
    unknown = await refusal(agent, "order_status", order_id=order_id)
    assert unknown.startswith(f"Omnistock has no order {order_id}")
    nowhere = await refusal(agent, "find_stock_nearby", sku=green, city=unique_id("Atlantis-"))
    assert "does not know a place called" in nowhere and "latitude and longitude" in nowhere


async def test_cancel_with_an_idempotency_key_gives_the_sofa_back(stack: Stack) -> None:
    async with stdio_server(stack) as agent:
        await cancel_with_a_key(stack, agent, unique_id("conversation-42:"))


async def cancel_with_a_key(stack: Stack, agent: Client, key: str) -> None:
    world = World(stack)
    store = await world.location(unique_id("Halle-"), (51.48, 11.97), name="Halle branch")
    sofa = await world.sku("Velvet sofa", colour="grey")
    await world.receive(store, sofa, 1)
    reserved = await call(
        agent, "reserve_for_pickup", sku=sofa, store_id=store, customer_name="Grace", idempotency_key=key
    )
    cancelled = await call(agent, "cancel_reservation", reservation_id=reserved["reservation_id"], reason="found one")
    assert cancelled["status"] == "cancelled" and "cancelled" in cancelled["summary"]
    assert (await world.level(store, sofa)).held == 0


async def test_a_call_made_again_today_with_other_details_is_explained_without_a_key_the_agent_never_gave(
    stack: Stack,
) -> None:
    """Without an idempotency_key, the same intent on the same day is one request. A reservation
    asked again with the customer's name spelled otherwise is not made twice, and the agent is told
    what happened (not that a key it never gave was used); a cancellation asked again in other
    words is answered as cancelled, not refused."""
    world = World(stack)
    store = await world.location(unique_id("Halle-"), (51.48, 11.97), name="Halle branch")
    lamp = await world.sku("Table lamp", colour="opal")
    await world.receive(store, lamp, 3)
    email = f"{unique_id('joan-')}@example.com"
    async with stdio_server(stack) as agent:
        first = await call(
            agent, "reserve_for_pickup", sku=lamp, store_id=store, customer_name="Joan Clarke", email=email
        )
        said = await refusal(
            agent, "reserve_for_pickup", sku=lamp, store_id=store, customer_name="Joan Clarke-Murray", email=email
        )
        assert said.startswith("Nothing was done: reserve_for_pickup was already called today"), said
        assert "list_reservations" in said and "idempotency_key was already used" not in said
        assert (await world.level(store, lamp)).held == 1

        cancelled = await call(
            agent, "cancel_reservation", reservation_id=first["reservation_id"], reason="changed her mind"
        )
        assert cancelled["status"] == "cancelled"
        again = await call(
            agent, "cancel_reservation", reservation_id=first["reservation_id"], reason="she called to cancel"
        )
        assert again["status"] == "cancelled"
    assert (await world.level(store, lamp)).held == 0


async def test_a_name_of_only_spaces_is_no_name(stack: Stack) -> None:
    """The staff at the desk would hand the items to a blank: the agent is asked for the name."""
    world = World(stack)
    store = await world.location(unique_id("Halle-"), (51.48, 11.97), name="Halle branch")
    lamp = await world.sku("Table lamp", colour="opal")
    await world.receive(store, lamp, 1)
    async with stdio_server(stack) as agent:
        said = await refusal(
            agent, "reserve_for_pickup", sku=lamp, store_id=store, customer_name="   ", email="blank@example.com"
        )
        assert said.startswith("The call to reserve_for_pickup was not made: customer_name"), said
        reserved = await call(
            agent, "reserve_for_pickup", sku=lamp, store_id=store, customer_name="  Joan Clarke ", phone="+49 30 1"
        )
        assert reserved["customer"]["name"] == "Joan Clarke"
    assert (await world.level(store, lamp)).held == 1


async def test_an_argument_the_tool_does_not_have_is_refused_naming_it(stack: Stack) -> None:
    """A misnamed argument was dropped without a word: search_skus(query=...) answered the whole
    catalogue as if it matched, and reserve_for_pickup(qty=2) reserved one unit for a customer who
    asked for two. The call is refused, naming the argument and the tool's own, and nothing is held."""
    world = World(stack)
    store = await world.location(unique_id("Jena-"), (50.93, 11.59), name="Jena branch")
    lamp = await world.sku("Table lamp", colour="opal")
    await world.receive(store, lamp, 3)
    async with stdio_server(stack) as agent:
        said = await refusal(agent, "search_skus", query="opal table lamp")
        assert said.startswith("The call to search_skus was not made: it has no argument 'query'"), said
        assert "text" in said and said.endswith("Call search_skus again with that corrected.")
        said = await refusal(agent, "reserve_for_pickup", sku=lamp, store_id=store, customer_name="Grace Hopper", qty=2)
        assert said.startswith("The call to reserve_for_pickup was not made: it has no argument 'qty'"), said
        assert "quantity" in said
        assert (await world.level(store, lamp)).held == 0
        found = await call(agent, "search_skus", text="opal table lamp", colour="opal")
        assert lamp in [sku["sku"] for sku in found["skus"]]
