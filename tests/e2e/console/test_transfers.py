"""Transfers in the console: a customer reserves at the store an item only the warehouse has (ship to
store); the warehouse's staff ship it from their screen; the store's staff see it on its way, receive
it with one unit damaged, and what arrived is set aside for the customer at once — the reservation is
ready for pickup with what arrived, and nobody else could buy it in between."""

from __future__ import annotations

import re

from playwright.async_api import expect

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.catalogue import DEMO_STORE, DEMO_WAREHOUSE
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.e2e.console.support import ConsoleUnderTest, sign_in_demo
from tests.integration.fulfilment.support import request_id


async def _level(stack: Stack, location_id: str, sku: str) -> tuple[int, int, int]:
    reply = await stack.stub("inventory", role="admin").GetStock(ipb.GetStockRequest(sku=sku, location_id=location_id))
    level = reply.levels[0]
    return level.on_hand, level.held, level.in_transit


async def test_store_staff_receive_a_transfer_for_a_customer_with_one_damaged(console: ConsoleUnderTest) -> None:
    stack = console.stack
    sku, title = unique_id("CHAIR-"), f"Oak chair {unique_id()[:4]}"
    admin = stack.stub("inventory", role="admin")
    await admin.UpsertSku(ipb.UpsertSkuRequest(request_id=request_id(), sku=ipb.Sku(sku=sku, title=title)))
    await admin.ReceiveStock(
        ipb.ReceiveStockRequest(request_id=request_id(), location_id=DEMO_WAREHOUSE, sku=sku, quantity=5)
    )
    chat = stack.stub("reservations", role="chat_agent")
    reservation = (
        await chat.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Grace Hopper"),
                store_id=DEMO_STORE,
                lines=[common_pb2.SkuQuantity(sku=sku, quantity=2)],
                allow_ship_to_store=True,
            )
        )
    ).reservation
    assert reservation.status == rpb.RESERVATION_STATUS_AWAITING_TRANSFER

    # The warehouse ships it from its screen.
    context = await console.tablet()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_WAREHOUSE)
    await page.get_by_role("link", name="Transfers").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Transfers")
    outgoing = page.locator(".card", has_text=sku)
    await expect(outgoing).to_contain_text(f"To {DEMO_STORE}")
    await expect(outgoing).to_contain_text("for a customer's reservation")
    await outgoing.get_by_role("link").click()
    await page.get_by_role("button", name="Ship").click()
    await expect(page.locator(".flash")).to_contain_text("Shipped")
    await expect(page.locator(".task-head .badge")).to_have_text("On the way")
    assert await _level(stack, DEMO_STORE, sku) == (0, 0, 2)
    await context.close()

    # The store sees it coming and receives it: one good, one damaged.
    context = await console.tablet()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_STORE)
    await page.get_by_role("link", name="Transfers").click()
    incoming = page.locator(".card", has_text=sku)
    await expect(incoming).to_contain_text(f"From {DEMO_WAREHOUSE}")
    await expect(incoming).to_contain_text("On the way")
    await incoming.get_by_role("link").click()
    await page.get_by_label(f"{sku} in good order").fill("1")
    await page.get_by_label(f"{sku} damaged").fill("1")
    await console.shoot(page, "store-transfer")
    await page.get_by_role("button", name="Receive").click()
    await expect(page.locator(".flash")).to_contain_text("Received: 1 in good order, 1 damaged, 0 missing.")
    await expect(page.locator(".flash")).to_contain_text("set aside for them")
    await expect(page.locator(".task-head .badge")).to_have_text("Received")
    row = page.get_by_role("row", name=re.compile(sku))
    await expect(row.locator("td")).to_have_text([re.compile(title), "2", "1", "1", "0"])
    assert await _level(stack, DEMO_STORE, sku) == (1, 1, 0)  # the good one is held for her at once
    await context.close()

    admin_reservations = stack.stub("reservations", role="admin")

    async def ready() -> bool:
        reply = await admin_reservations.GetReservation(
            rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
        )
        return reply.reservation.status == rpb.RESERVATION_STATUS_READY_FOR_PICKUP

    await wait_until(ready, what="the reservation ready with what arrived")
    reply = await admin_reservations.GetReservation(
        rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert [(line.sku, line.quantity) for line in reply.reservation.lines] == [(sku, 1)]


async def test_more_arriving_than_was_sent_is_said_and_shown(console: ConsoleUnderTest) -> None:
    """Units beyond what was sent go on hand all the same; staff are told so, and the transfer shows
    them, so that a figure typed wrong (20 for 2) is seen rather than silently made stock."""
    stack = console.stack
    sku = unique_id("LAMP-")
    admin = stack.stub("inventory", role="admin")
    await admin.UpsertSku(ipb.UpsertSkuRequest(request_id=request_id(), sku=ipb.Sku(sku=sku, title="Opal lamp")))
    await admin.ReceiveStock(
        ipb.ReceiveStockRequest(request_id=request_id(), location_id=DEMO_WAREHOUSE, sku=sku, quantity=5)
    )
    transfer = (
        await admin.CreateTransfer(
            ipb.CreateTransferRequest(
                request_id=request_id(),
                origin_location_id=DEMO_WAREHOUSE,
                destination_location_id=DEMO_STORE,
                lines=[ipb.TransferLineRequest(sku=sku, quantity=2)],
            )
        )
    ).transfer
    await admin.ShipTransfer(ipb.ShipTransferRequest(request_id=request_id(), transfer_id=transfer.transfer_id))

    context = await console.tablet()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_STORE)
    await page.goto(f"/at/{DEMO_STORE}/transfers/{transfer.transfer_id}")
    await page.get_by_label(f"{sku} in good order").fill("20")
    await page.get_by_role("button", name="Receive").click()
    await expect(page.locator(".flash")).to_contain_text(
        "Received: 20 in good order, 0 damaged, 0 missing. 18 more than were sent arrived and are now in stock here."
    )
    row = page.get_by_role("row", name=re.compile(sku))
    await expect(row.locator("td")).to_have_text([re.compile("Opal lamp"), "2", "20", "0", "0", "18"])
    assert await _level(stack, DEMO_STORE, sku) == (20, 0, 0)
    await context.close()


async def test_a_pickup_whose_items_are_still_on_their_way_is_said_so_at_the_desk(console: ConsoleUnderTest) -> None:
    """The customer comes with the right code before the transfer arrived: staff are told the items
    are on their way, not to check a code that is right."""
    stack = console.stack
    sku = unique_id("CHAIR-")
    admin = stack.stub("inventory", role="admin")
    await admin.UpsertSku(ipb.UpsertSkuRequest(request_id=request_id(), sku=ipb.Sku(sku=sku, title="Oak chair")))
    await admin.ReceiveStock(
        ipb.ReceiveStockRequest(request_id=request_id(), location_id=DEMO_WAREHOUSE, sku=sku, quantity=2)
    )
    reservation = (
        await stack.stub("reservations", role="chat_agent").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada Lovelace"),
                store_id=DEMO_STORE,
                lines=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
                allow_ship_to_store=True,
            )
        )
    ).reservation
    assert reservation.status == rpb.RESERVATION_STATUS_AWAITING_TRANSFER

    context = await console.tablet()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_STORE)
    await page.goto(f"/at/{DEMO_STORE}/handover")
    await page.get_by_label("The customer's pickup code").fill(reservation.pickup_code)
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator(".problem")).to_contain_text(
        f"The items of pickup {reservation.pickup_code} are still on their way here on a transfer (expected "
    )
    await expect(page.locator(".problem")).not_to_contain_text("Check the code")
    await expect(page.get_by_role("button", name="Hand over and complete the sale")).to_have_count(0)
    await context.close()
