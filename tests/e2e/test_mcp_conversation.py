"""A chat agent's whole conversation with a customer, scripted, over the real MCP protocol: over
stdio (the server as an agent host starts it) and over HTTP with the agent's own bearer token.

The sofa story: the customer wants the green velvet sofa near her city; the agent finds it at the
branch and reserves it. Then she changes her mind: the blue one delivered to her home will do. The
agent cancels the reservation, quotes the delivery, asks her, and orders only with her consent.
Then she cancels the order. Every answer the agent reads is typed (the tool's output schema) and
in plain words; the services' records say the same as the conversation."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from omnistock_client.lookups import customer_id_for

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.e2e.mcp_support import agent, call, mcp_http, refusal, stdio_server
from tests.integration.cli.support import World

BRANCH = (50.1109, 8.6821)  # Frankfurt
WAREHOUSE = (50.0500, 8.5700)
HOME = (50.1200, 8.7000)
ELSEWHERE = (49.4875, 8.4660)  # Mannheim, about 70 km away
# What a customer must never be shown: a library's report, a status code, a stack trace.
PROGRAMMER = re.compile(
    r"validation error|pydantic|errors\.pydantic\.dev|Traceback|StatusCode|grpc|"
    r"INVALID_ARGUMENT|FAILED_PRECONDITION|NOT_FOUND|PERMISSION_DENIED|Error executing tool|"
    r"input_value|type=|\{'",
)


def plain(text: str) -> str:
    assert text and not PROGRAMMER.search(text), f"not in plain words: {text}"
    return text


@contextlib.asynccontextmanager
async def connected(stack: Stack, transport: str) -> AsyncIterator[Client]:
    if transport == "stdio":
        async with stdio_server(stack) as client:
            yield client
        return
    token = TokenAuthority(stack.settings).mint(Role.CHAT_AGENT, unique_id("chat-bot-"), channel="chat")
    async with mcp_http(stack) as url, agent(url, token) as client:
        yield client


async def said(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    answer = await call(client, tool, **arguments)
    plain(answer["summary"] if "summary" in answer else answer.get("note") or "ok")
    return answer


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_chat_agent_serves_a_customer_from_search_to_cancelled_order(stack: Stack, transport: str) -> None:
    world = World(stack)
    city = unique_id("Frankfurt-")
    model = unique_id("velvet-").lower()
    branch = await world.location(city, BRANCH, name=f"{city} branch")
    warehouse = await world.location(city, WAREHOUSE, kind="warehouse", name=f"{city} warehouse")
    farther = await world.location(unique_id("Mannheim-"), ELSEWHERE, name="Mannheim branch")
    green = await world.sku("Velvet sofa, green", colour="green", category="sofa", model=model)
    blue = await world.sku("Velvet sofa, blue", colour="blue", category="sofa", model=model)
    await world.receive(branch, green, 1)
    await world.receive(farther, green, 1)
    await world.receive(warehouse, blue, 4)
    email = f"{unique_id('ada').lower()}@example.com"

    async with connected(stack, transport) as client:
        # The agent host sees who it talks to, and what every tool answers, before any call.
        assert client.server_info is not None
        assert (client.server_info.name, client.server_info.title) == ("omnistock", "Omnistock")
        assert re.match(r"^\d+\.\d+", client.server_info.version or ""), client.server_info
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {
            "search_skus",
            "find_locations",
            "find_stock_nearby",
            "reserve_for_pickup",
            "list_reservations",
            "get_reservation",
            "extend_reservation",
            "cancel_reservation",
            "quote_order",
            "place_order",
            "order_status",
            "cancel_order",
        } <= set(tools)
        for tool in tools.values():
            schema = tool.output_schema or {}
            assert schema.get("type") == "object" and schema.get("properties"), f"{tool.name}: {schema}"
            assert schema.get("additionalProperties") is not True, tool.name
        assert "customer_consent" in tools["place_order"].input_schema["required"]

        # "I'd like the velvet sofa in green. I live in <city>."
        found = await said(client, "search_skus", text="velvet sofa", colour="green", attributes={"model": model})
        assert [sku["sku"] for sku in found["skus"]] == [green]
        assert found["skus"][0]["price_minor"] == 9900 and found["skus"][0]["currency"] == "EUR"
        near = await said(client, "find_stock_nearby", sku=green, place=city, radius_km=30)
        assert [(s["store_id"], s["available"]) for s in near["stores"]] == [(branch, 1)]
        assert near["near"]["matched"] == "city" and near["near"]["label"] == city
        # The same branch, asked for by its name, and stores near her home's coordinates.
        by_name = await said(client, "find_locations", place=f"{city} branch")
        assert by_name["near"]["matched"] == "location" and by_name["locations"][0]["location_id"] == branch
        around = await said(client, "find_locations", latitude=HOME[0], longitude=HOME[1], radius_km=20)
        assert branch in [item["location_id"] for item in around["locations"]]  # (other tests' branches too)
        assert all(item["kind"] == "store" and item["distance_km"] <= 20 for item in around["locations"])
        nowhere = plain(await refusal(client, "find_stock_nearby", sku=green, place=unique_id("Atlantis-")))
        assert "does not know a place" in nowhere and city in nowhere and "latitude and longitude" in nowhere

        # The agent slips (a quantity of none) and is told how to do it right, in words.
        slip = plain(
            await refusal(
                client, "reserve_for_pickup", sku=green, store_id=branch, customer_name="Ada Lovelace", quantity=0
            )
        )
        assert "quantity" in slip and "again" in slip
        reserved = await said(
            client, "reserve_for_pickup", sku=green, store_id=branch, customer_name="Ada Lovelace", email=email
        )
        assert reserved["status"] == "active" and reserved["pickup_code"] in reserved["summary"]

        # "What have I reserved?"
        mine = await said(client, "list_reservations", email=email)
        assert [item["reservation_id"] for item in mine["reservations"]] == [reserved["reservation_id"]]
        assert mine["customer_id"] == customer_id_for("", email=email)

        # She changes her mind: the blue one, delivered. The reservation goes first.
        cancelled = await said(
            client, "cancel_reservation", reservation_id=reserved["reservation_id"], reason="prefers delivery"
        )
        assert cancelled["status"] == "cancelled"
        assert (await world.level(branch, green)).held == 0
        assert (await said(client, "list_reservations", email=email))["reservations"] == []

        home = {"recipient": "Ada Lovelace", "street": "Hauptstrasse 1", "city": city, "latitude": HOME[0]}
        home["longitude"] = HOME[1]
        items = [{"sku": blue, "quantity": 1}]
        quote = await said(client, "quote_order", items=items, method="ship", ship_to=home)
        assert quote["complete"] and [a["location_id"] for a in quote["allocations"]] == [warehouse]
        assert quote["total_minor"] == 9900 and quote["total"] == "99.00 EUR" and "99.00 EUR" in quote["summary"]
        assert (await world.level(warehouse, blue)).held == 0  # a quote holds nothing

        # Ordering without having asked her is refused, and nothing is ordered.
        order = {"items": items, "method": "ship", "ship_to": home, "customer_name": "Ada Lovelace", "email": email}
        unasked = plain(await refusal(client, "place_order", **order, customer_consent=False))
        assert "consent" in unasked and "Nothing was ordered" in unasked
        customer = customer_id_for("", email=email)
        orders = stack.stub("orders", role="admin")
        listed = await orders.ListOrders(opb.ListOrdersRequest(customer_id=customer))
        assert list(listed.orders) == []

        # She says yes.
        placed = await said(client, "place_order", **order, customer_consent=True)
        assert placed["status"] == "allocated" and placed["method"] == "ship"
        assert [(line["sku"], line["quantity"]) for line in placed["lines"]] == [(blue, 1)]
        again = await said(client, "place_order", **order, customer_consent=True)  # a retry: the same order
        assert again["order_id"] == placed["order_id"]
        status = await said(client, "order_status", order_id=placed["order_id"])
        assert status["status"] == "allocated" and status["allocations"][0]["location_id"] == warehouse
        assert status["promise"].startswith("delivered ") and status["promise"] in status["summary"]
        assert (await world.level(warehouse, blue)).held == 1
        warehouse_staff = stack.stub("fulfilment", role="warehouse", locations=[warehouse])

        async def pick_task() -> fpb.Task | None:
            reply = await warehouse_staff.ListTasks(fpb.ListTasksRequest(location_id=warehouse))
            return next((task for task in reply.tasks if task.order_id == placed["order_id"]), None)

        await eventually(pick_task)

        # And then she cancels it.
        gone = await said(client, "cancel_order", order_id=placed["order_id"], reason="found one elsewhere")
        assert gone["status"] == "cancelled"
        # No date is passed on for an order that will never come.
        assert gone["promise"] == "" and "delivered" not in gone["summary"], gone["summary"]
        later = await said(client, "order_status", order_id=placed["order_id"])
        assert later["promise"] == "" and "delivered" not in later["summary"], later["summary"]
        assert (await world.level(warehouse, blue)).held == 0
        stored = await orders.GetOrder(opb.GetOrderRequest(order_id=placed["order_id"]))
        assert stored.order.status == opb.ORDER_STATUS_CANCELLED
        assert stored.order.ship_to.street == "Hauptstrasse 1"
        assert stored.order.channel == 3  # CHANNEL_CHAT
        reservations = stack.stub("reservations", role="admin")
        record = await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=reserved["reservation_id"]))
        assert record.reservation.status == rpb.RESERVATION_STATUS_CANCELLED
        assert record.reservation.cancel_reason == "prefers delivery"


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_reservation_becomes_a_pickup_order_when_she_pays_ahead(stack: Stack, transport: str) -> None:
    world = World(stack)
    store = await world.location(unique_id("Kassel-"), (51.31, 9.48), name="Kassel branch")
    lamp = await world.sku("Brass lamp", colour="brass")
    await world.receive(store, lamp, 1)
    async with connected(stack, transport) as client:
        reserved = await said(client, "reserve_for_pickup", sku=lamp, store_id=store, customer_name="Grace Hopper")
        paid = await said(
            client,
            "place_order",
            items=[],
            method="pickup",
            customer_name="Grace Hopper",
            reservation_id=reserved["reservation_id"],
            customer_consent=True,
        )
        assert paid["method"] == "pickup" and paid["reservation_id"] == reserved["reservation_id"]
        assert paid["store_id"] == store
        after = await said(client, "get_reservation", reservation_id=reserved["reservation_id"])
        assert after["status"] == "converted" and after["order_id"] == paid["order_id"]
        assert paid["order_id"] in after["summary"]
    level = await world.level(store, lamp)
    assert (level.on_hand, level.held) == (1, 1)  # the hold moved to the order, never released
