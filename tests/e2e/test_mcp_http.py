"""`omnistock mcp --transport http`: the same tools over streamable HTTP, for agents that
connect to a running server instead of starting one. Every request needs a bearer token the
services would accept, and the tools act as that caller: its permissions, its channel, its own
request ids. Serving without authentication is refused on any address but a loopback one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.embedded import free_port
from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.mcp_support import (
    STARTS_WITHIN,
    agent,
    call,
    listening,
    mcp_http,
    refusal,
    start_mcp,
    stop,
    wait_for_port,
)
from tests.integration.cli.support import World

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


def token(stack: Stack, role: Role, subject: str, **claims: Any) -> str:
    return TokenAuthority(stack.settings).mint(role, subject, **claims)


@pytest.fixture
def foreign_tokens(stack: Stack) -> Iterator[dict[str, str]]:
    """Tokens the services would refuse, each for another reason."""
    other_secret = stack.settings.model_copy(update={"jwt_secret": "not-the-secret-of-this-system-at-all"})
    other_audience = stack.settings.model_copy(update={"jwt_audience": "another-system"})
    yield {
        "garbage": "not-a-jwt",
        "signed with another secret": TokenAuthority(other_secret).mint(Role.CHAT_AGENT, "intruder"),
        "for another audience": TokenAuthority(other_audience).mint(Role.CHAT_AGENT, "intruder"),
        "expired": TokenAuthority(stack.settings).mint(Role.CHAT_AGENT, "late", ttl=timedelta(minutes=-10)),
    }


async def test_a_request_without_a_valid_bearer_token_is_401(stack: Stack, foreign_tokens: dict[str, str]) -> None:
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with mcp_http(stack) as url, httpx2.AsyncClient(timeout=30) as http:
        bare = await http.post(url, json=INITIALIZE, headers=accept)
        assert bare.status_code == 401, bare.text
        assert bare.headers["www-authenticate"].startswith("Bearer")
        basic = await http.post(url, json=INITIALIZE, headers={**accept, "Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401, basic.text
        for why, bad in foreign_tokens.items():
            refused = await http.post(url, json=INITIALIZE, headers={**accept, "Authorization": f"Bearer {bad}"})
            assert refused.status_code == 401, f"{why}: {refused.status_code} {refused.text}"
        good = token(stack, Role.CHAT_AGENT, "agent-1", channel="chat")
        opened = await http.post(url, json=INITIALIZE, headers={**accept, "Authorization": f"Bearer {good}"})
        assert opened.status_code == 200, opened.text

        # The session belongs to who opened it: another valid caller cannot use it.
        session = {**accept, "Mcp-Session-Id": opened.headers["mcp-session-id"], "Mcp-Protocol-Version": "2025-06-18"}
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        other = token(stack, Role.STOREFRONT, "web-shop", channel="web")
        hijack = await http.post(url, json=listing, headers={**session, "Authorization": f"Bearer {other}"})
        assert hijack.status_code == 404, hijack.text
        again = token(stack, Role.CHAT_AGENT, "agent-1", channel="chat")  # the same caller, a fresh token
        await http.post(
            url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers={**session, "Authorization": f"Bearer {again}"},
        )
        own = await http.post(url, json=listing, headers={**session, "Authorization": f"Bearer {again}"})
        assert own.status_code == 200 and "reserve_for_pickup" in own.text, own.text

        # Clock skew is tolerated exactly as the services tolerate it (OMNISTOCK_JWT_LEEWAY).
        just_expired = TokenAuthority(stack.settings).mint(Role.CHAT_AGENT, "skewed", ttl=timedelta(seconds=-5))
        skewed = await http.post(url, json=INITIALIZE, headers={**accept, "Authorization": f"Bearer {just_expired}"})
        assert skewed.status_code == 200, skewed.text


async def test_the_tools_act_as_the_caller_whose_token_came_with_the_request(stack: Stack) -> None:
    world = World(stack)
    store = await world.location(unique_id("Mainz-"), (49.99, 8.27), name="Mainz branch")
    model = unique_id("m-").lower()
    lamp = await world.sku("Brass lamp", colour="brass", model=model)
    await world.receive(store, lamp, 3)
    reservations = stack.stub("reservations", role="admin")
    same_intent = {"sku": lamp, "store_id": store, "customer_name": "Grace Hopper", "email": "grace@example.com"}

    async with mcp_http(stack) as url:
        async with agent(url, token(stack, Role.CHAT_AGENT, "chat-bot", channel="chat")) as chat:
            names = {tool.name for tool in (await chat.list_tools()).tools}
            assert {"reserve_for_pickup", "search_skus", "find_stock_nearby"} <= names
            found = await call(chat, "search_skus", attributes={"model": model})
            assert [sku["sku"] for sku in found["skus"]] == [lamp]
            near = await call(chat, "find_stock_nearby", sku=lamp, latitude=50.0, longitude=8.27)
            assert near["stores"][0]["store_id"] == store
            by_chat = await call(chat, "reserve_for_pickup", **same_intent)

        # A web shop's assistant with a storefront token: the same words make its own reservation,
        # in its own channel (no shared request id, no answer meant for the chat agent).
        async with agent(url, token(stack, Role.STOREFRONT, "web-shop", channel="web")) as web:
            by_web = await call(web, "reserve_for_pickup", **same_intent)
            again = await call(web, "reserve_for_pickup", **same_intent)  # a retry of its own: the same one
        assert by_web["reservation_id"] != by_chat["reservation_id"]
        assert again["reservation_id"] == by_web["reservation_id"]
        chat_record = await reservations.GetReservation(
            rpb.GetReservationRequest(reservation_id=by_chat["reservation_id"])
        )
        web_record = await reservations.GetReservation(
            rpb.GetReservationRequest(reservation_id=by_web["reservation_id"])
        )
        assert chat_record.reservation.channel == common_pb2.CHANNEL_CHAT
        assert web_record.reservation.channel == common_pb2.CHANNEL_WEB

        # A warehouse handheld's token may not reserve at all, and a till only at its own store:
        # the services refuse them as they are, and nothing is held.
        before = await world.level(store, lamp)
        async with agent(url, token(stack, Role.WAREHOUSE, "picker", locations=[store])) as picker:
            said = await refusal(picker, "reserve_for_pickup", **same_intent, idempotency_key=unique_id("k-"))
            assert "may not" in said, said
        other_store = await world.location(unique_id("Mainz-"), (49.98, 8.26))
        async with agent(url, token(stack, Role.POS, "till", channel="pos", locations=[other_store])) as till:
            said = await refusal(till, "reserve_for_pickup", **same_intent, idempotency_key=unique_id("k-"))
            assert "may not" in said, said
        after = await world.level(store, lamp)
        assert (after.held, after.on_hand) == (before.held, before.on_hand)


async def test_without_authentication_it_serves_only_on_a_loopback_address(stack: Stack) -> None:
    port = free_port()
    refused = start_mcp(stack, port, "--no-auth", "--host", "0.0.0.0")
    try:
        _, stderr = refused.communicate(timeout=STARTS_WITHIN)
    finally:
        stop(refused)
    assert refused.returncode == 2, stderr
    assert "without authentication" in stderr and "0.0.0.0" in stderr, stderr
    assert not listening(port)

    world = World(stack)
    store = await world.location(unique_id("Trier-"), (49.75, 6.64))
    lamp = await world.sku("Desk lamp")
    await world.receive(store, lamp, 1)
    async with mcp_http(stack, "--no-auth") as url, agent(url, None) as local:
        reserved = await call(local, "reserve_for_pickup", sku=lamp, store_id=store, customer_name="Local Dev")
    record = await stack.stub("reservations", role="admin").GetReservation(
        rpb.GetReservationRequest(reservation_id=reserved["reservation_id"])
    )
    assert record.reservation.channel == common_pb2.CHANNEL_CHAT  # as the configured chat agent


async def test_without_authentication_a_page_elsewhere_cannot_call_it_through_its_own_name(stack: Stack) -> None:
    """A web page the developer opens can point a name it controls at the loopback address (DNS
    rebinding) and have the browser call the tools with the server's token. Without authentication,
    a request that names another host, or comes from another site's page, is refused on any
    loopback address the server may listen on, not only those the MCP SDK guards by itself."""
    for host in ("127.0.0.2", "127.0.0.1"):
        port = free_port()
        process = start_mcp(stack, port, "--no-auth", "--host", host)
        try:
            await wait_for_port(port, process, host)
            url = f"http://{host}:{port}/mcp"
            accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
            async with httpx2.AsyncClient(timeout=30) as http:
                rebound = await http.post(url, json=INITIALIZE, headers={**accept, "Host": f"shop.example:{port}"})
                assert rebound.status_code == 421, f"{host}: {rebound.status_code} {rebound.text}"
                framed = await http.post(url, json=INITIALIZE, headers={**accept, "Origin": "http://shop.example"})
                assert framed.status_code == 403, f"{host}: {framed.status_code} {framed.text}"
                local = await http.post(url, json=INITIALIZE, headers=accept)
                assert local.status_code == 200, f"{host}: {local.status_code} {local.text}"
        finally:
            stop(process)


async def test_unknown_things_are_not_found_in_plain_words(stack: Stack) -> None:
    world = World(stack)
    city = unique_id("Koblenz-")
    store = await world.location(city, (50.36, 7.59), name="Koblenz branch")
    sold_out = await world.sku("Velvet sofa, green")
    await world.receive(store, sold_out, 1)
    unknown_sku, unknown_store = unique_id("SOFA-VELVET-PINK-"), unique_id("STORE-NOWHERE-")
    async with mcp_http(stack) as url, agent(url, token(stack, Role.CHAT_AGENT, "chat-bot", channel="chat")) as chat:
        said = await refusal(chat, "reserve_for_pickup", sku=unknown_sku, store_id=store, customer_name="A Customer")
        assert f"no product with the SKU code {unknown_sku}" in said and "search_skus" in said, said
        assert "left" not in said, said
        said = await refusal(chat, "reserve_for_pickup", sku=sold_out, store_id=unknown_store, customer_name="A C")
        assert f"no store or warehouse {unknown_store}" in said and "find_stock_nearby" in said, said
        said = await refusal(chat, "reserve_for_pickup", sku=unknown_sku, store_id=unknown_store, customer_name="A C")
        assert unknown_sku in said and unknown_store in said, said
        said = await refusal(chat, "find_stock_nearby", sku=unknown_sku, city=city)
        assert f"no product with the SKU code {unknown_sku}" in said, said
        said = await refusal(chat, "find_stock_nearby", sku=sold_out, city=unique_id("Atlantis-"))
        assert "does not know a place called" in said and "latitude and longitude" in said, said
        missing = "6f1c1f0e-1111-4111-8111-111111111111"
        for tool, arguments in (
            ("get_reservation", {"reservation_id": missing}),
            ("extend_reservation", {"reservation_id": missing, "days": 1}),
            ("cancel_reservation", {"reservation_id": missing}),
        ):
            said = await refusal(chat, tool, **arguments)
            assert f"no reservation {missing}" in said, f"{tool}: {said}"
        said = await refusal(chat, "order_status", order_id=missing)
        assert f"no order {missing}" in said, said

        # What does exist but is not there any more is still a shortfall, not "not found".
        first = await call(chat, "reserve_for_pickup", sku=sold_out, store_id=store, customer_name="First Customer")
        assert first["status"] == "active"
        said = await refusal(chat, "reserve_for_pickup", sku=sold_out, store_id=store, customer_name="Late Customer")
        assert f"Only 0 of {sold_out}" in said and "Omnistock has no" not in said, said
