"""What the chat agent says a customer's times are, on the store's clock with its zone named: a
shopper reads "collect before 18:00" as their own time, and at a store in a zone far from UTC the
UTC time (and day) is the wrong one. The ISO fields stay in UTC for machines. A reservation's
"today" (the day a repeated call counts as the same intent) is the store's day too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from omnistock_mcp.tools import ChannelTools

from omnistock.common.v1 import common_pb2
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role
from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.mcp_support import call, stdio_server
from tests.integration.cli.support import World
from tests.integration.fulfilment.support import request_id
from tests.integration.promise_support import at_utc_hour, far_zone, set_time_zone

AUCKLAND = (-36.8485, 174.7633)
AUCKLAND_WAREHOUSE = (-36.9000, 174.8000)
ZONE = "Pacific/Auckland"


def said(iso: str, zone: str) -> str:
    """The moment of an ISO field (UTC, for machines) as the agent should say it at the store; checked
    to fall on another day there than in UTC."""
    moment = datetime.fromisoformat(iso)
    assert moment.utcoffset() == timedelta(0), iso
    local = moment.astimezone(ZoneInfo(zone))
    assert local.date() != moment.date(), f"{iso} is on the same day in {zone}"
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M} {zone} time"


def days_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds() / 86400


async def test_the_agent_says_until_when_to_collect_on_the_stores_clock(stack: Stack) -> None:
    world = World(stack)
    city = unique_id("Auckland-")
    store = await world.location(city, AUCKLAND, name="Britomart")
    await set_time_zone(stack, store, ZONE)
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 2)
    # Kept until about 13:00 UTC: 01:00 or 02:00 of the next day in Auckland.
    until = at_utc_hour(13, after=timedelta(days=1))
    email = f"{unique_id('ada').lower()}@example.com"

    async with stdio_server(stack) as agent:
        reserved = await call(
            agent,
            "reserve_for_pickup",
            sku=lamp,
            store_id=store,
            customer_name="Ada Lovelace",
            email=email,
            hold_days=days_until(until),
        )
        words = said(reserved["expires_at"], ZONE)
        assert reserved["collect_before_local"] == words
        assert f"collect before {words}." in reserved["summary"], reserved["summary"]
        assert "UTC" not in reserved["summary"]

        listed = await call(agent, "list_reservations", email=email)
        [mine] = listed["reservations"]
        assert mine["collect_before_local"] == words and words in listed["summary"]

        # A pickup order on hold: when it is cancelled unless released, on the store's clock too.
        order = await call(
            agent,
            "place_order",
            items=[{"sku": lamp, "quantity": 1}],
            method="pickup",
            store_id=store,
            customer_name="Grace Hopper",
            email=f"{unique_id('grace').lower()}@example.com",
            customer_consent=True,
        )
        held = await call(
            agent, "hold_order", order_id=order["order_id"], reason="payment_pending", days=days_until(until)
        )
        [hold] = held["holds"]
        words = said(hold["expires_at"], ZONE)
        assert hold["expires_local"] == words
        assert f"unless released by {words} it is cancelled." in held["summary"], held["summary"]


async def test_the_agent_says_when_a_pickup_on_a_transfer_is_expected_on_the_stores_clock(stack: Stack) -> None:
    world = World(stack)
    city = unique_id("Auckland-")
    store = await world.location(city, AUCKLAND, name="Britomart")
    warehouse = await world.location(city, AUCKLAND_WAREHOUSE, kind="warehouse", name="the Auckland warehouse")
    chair = await world.sku("Oak chair")
    await world.receive(warehouse, chair, 1)
    made = (
        await stack.stub("reservations", role="chat_agent").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada Lovelace"),
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=chair, quantity=1)],
                allow_ship_to_store=True,
            )
        )
    ).reservation
    arrives = made.promised_at.ToDatetime(tzinfo=UTC)
    zone = far_zone(arrives)
    await set_time_zone(stack, store, zone)

    async with stdio_server(stack) as agent:
        found = await call(agent, "get_reservation", reservation_id=made.reservation_id)
    assert found["status"] == "awaiting_transfer"
    words = said(found["promised_at"], zone)
    assert found["expected_local"] == words
    assert f"(expected {words})" in found["summary"], found["summary"]
    assert "UTC" not in found["summary"]


async def test_a_reservations_day_is_the_stores_day(stack: Stack) -> None:
    world = World(stack)
    store = await world.location(unique_id("Auckland-"), AUCKLAND)
    await set_time_zone(stack, store, ZONE)
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 1)
    asked: list[str] = []

    def today(zone: str) -> str:
        asked.append(zone)
        return "2026-12-08"

    token = stack.token(Role.CHAT_AGENT, channel="chat", subject=unique_id("agent-"))
    tools = ChannelTools(stack.wired_settings(), lambda: token, addresses=dict(stack.addresses), today=today)
    try:
        reserved = await tools.reserve_for_pickup(
            lamp, store, "Ada Lovelace", f"{unique_id('ada').lower()}@example.com"
        )
        await tools.extend_reservation(reserved.reservation_id, 1)
    finally:
        await tools.close()
    assert asked == [ZONE, ZONE]
