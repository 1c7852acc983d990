"""Times at the desk are on the store's clock: a store in a zone far from UTC (its local day not the
UTC day) reads when a pickup on a transfer arrives, when a pickup expires and when a transfer is
expected in its own time, the zone named, never in UTC or on the device's clock."""

from __future__ import annotations

from datetime import UTC

from omnistock_console.web import clock
from playwright.async_api import expect

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role
from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.console.support import ConsoleUnderTest, sign_in_with_token
from tests.integration.cli.support import World
from tests.integration.fulfilment.support import request_id
from tests.integration.promise_support import far_zone, set_time_zone

AUCKLAND = (-36.8485, 174.7633)
AUCKLAND_WAREHOUSE = (-36.9000, 174.8000)


async def reserve(stack: Stack, store: str, sku: str, name: str) -> rpb.Reservation:
    reply = await stack.stub("reservations", role="chat_agent").CreateReservation(
        rpb.CreateReservationRequest(
            request_id=request_id(),
            channel=common_pb2.CHANNEL_CHAT,
            customer=rpb.Customer(customer_id=unique_id("CUST-"), name=name),
            store_id=store,
            lines=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
            allow_ship_to_store=True,
        )
    )
    reservation: rpb.Reservation = reply.reservation
    return reservation


async def test_the_desk_reads_a_pickups_times_on_the_stores_clock(console: ConsoleUnderTest) -> None:
    stack = console.stack
    world = World(stack)
    city = unique_id("Auckland-")
    store = await world.location(city, AUCKLAND)
    warehouse = await world.location(city, AUCKLAND_WAREHOUSE, kind="warehouse")
    chair, lamp = await world.sku("Oak chair"), await world.sku("Lamp")
    await world.receive(warehouse, chair, 1)
    await world.receive(store, lamp, 1)
    coming = await reserve(stack, store, chair, "Ada Lovelace")
    here = await reserve(stack, store, lamp, "Grace Hopper")
    assert coming.status == rpb.RESERVATION_STATUS_AWAITING_TRANSFER
    assert here.status == rpb.RESERVATION_STATUS_ACTIVE
    arrives = coming.promised_at.ToDatetime(tzinfo=UTC)
    # A zone where the arrival falls on another day than in UTC: the wrong clock shows the wrong day.
    zone = far_zone(arrives)
    await set_time_zone(stack, store, zone)
    local = clock(arrives, zone)
    assert local.endswith(zone) and local != clock(arrives, "")

    context = await console.tablet()
    page = await context.new_page()
    await sign_in_with_token(page, stack.token(Role.POS, locations=[store], channel="pos"))

    # The customer comes before the transfer: staff are told when it arrives, in their store's time.
    await page.goto(f"/at/{store}/handover")
    await page.get_by_label("The customer's pickup code").fill(coming.pickup_code)
    await page.get_by_role("button", name="Find").click()
    problem = page.locator(".problem")
    await expect(problem).to_contain_text(f"on their way here on a transfer (expected {local}):")
    await expect(problem).not_to_contain_text("UTC")

    # An open pickup: when it expires, on the store's clock (the browser keeps it there, and names it).
    await page.get_by_label("The customer's pickup code").fill(here.pickup_code)
    await page.get_by_role("button", name="Find").click()
    expires = page.locator(".confirm time")
    await expect(expires).to_have_attribute("data-zone", zone)
    await expect(expires).to_have_attribute("title", clock(here.expires_at.ToDatetime(tzinfo=UTC), zone))
    await expect(expires).to_contain_text(zone)

    # The transfer bringing the chair: expected on the store's clock too.
    transfer = (
        await stack.stub("inventory", role="admin").GetTransfer(ipb.GetTransferRequest(transfer_id=coming.transfer_id))
    ).transfer
    expected = transfer.expected_arrival_at.ToDatetime(tzinfo=UTC)
    await page.goto(f"/at/{store}/transfers/{coming.transfer_id}")
    shown = page.locator("div", has=page.locator("dt", has_text="Expected")).locator("dd time")
    await expect(shown).to_have_attribute("data-zone", zone)
    await expect(shown).to_have_attribute("title", clock(expected, zone))
    await expect(shown).to_contain_text(zone)
    await context.close()
