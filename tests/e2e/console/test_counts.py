"""Store staff count a shelf in the console while the till keeps selling: the count is blind (no
book figure on the screen while it is open), each scan is taken against the stock of its moment,
and the posted count leaves the book exact."""

from __future__ import annotations

import re

from playwright.async_api import expect
from stdnum import ean

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_cli.catalogue import DEMO_SKU, DEMO_STORE
from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.console.support import ConsoleUnderTest, sign_in_demo
from tests.integration.fulfilment.support import request_id


async def _lamp(stack: Stack, on_hand: int) -> tuple[str, str, str]:
    """A SKU of this test's own with a barcode, `on_hand` on the store's shelf: (sku, title, gtin)."""
    sku, title = unique_id("LAMP-"), f"Reading lamp {unique_id()[:4]}"
    digits = str(int(unique_id()[:8], 16) % 10**12).zfill(12)
    gtin = digits + ean.calc_check_digit(digits)
    inventory = stack.stub("inventory", role="admin")
    await inventory.UpsertSku(
        ipb.UpsertSkuRequest(request_id=request_id(), sku=ipb.Sku(sku=sku, title=title, attributes={"gtin": gtin}))
    )
    await inventory.ReceiveStock(
        ipb.ReceiveStockRequest(request_id=request_id(), location_id=DEMO_STORE, sku=sku, quantity=on_hand)
    )
    return sku, title, gtin


async def _till_sale(stack: Stack, sku: str) -> None:
    till = stack.stub("orders", role="pos", locations=[DEMO_STORE])
    await till.CreateOrder(
        opb.CreateOrderRequest(
            request_id=request_id(),
            channel=common_pb2.CHANNEL_POS,
            customer_id="walk-in",
            lines=[opb.OrderLineRequest(sku=sku, quantity=1)],
            method=common_pb2.FULFILMENT_METHOD_CARRY_OUT,
            store_id=DEMO_STORE,
        )
    )


async def _on_hand(stack: Stack, sku: str) -> int:
    reply = await stack.stub("inventory", role="admin").GetStock(ipb.GetStockRequest(sku=sku, location_id=DEMO_STORE))
    return reply.levels[0].on_hand


async def test_a_store_counts_its_shelf_while_the_till_sells(console: ConsoleUnderTest) -> None:
    stack = console.stack
    sku, title, gtin = await _lamp(stack, on_hand=5)
    context = await console.tablet()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_STORE)
    await page.get_by_role("link", name="Counts").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Counts")

    # A listed count needs its items; asking without any is refused in words and opens nothing.
    await page.get_by_role("button", name="Open the count").click()
    await expect(page.locator(".problem")).to_contain_text("Scan or type the items to count")
    await page.get_by_label("Items to count").fill(gtin)
    await page.get_by_label("Note (optional: the shelf or aisle)").fill("lamps, aisle 3")
    await page.get_by_role("button", name="Open the count").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Count "))
    await expect(page.locator(".flash")).to_contain_text("Count opened")
    count_id = (await page.get_by_role("heading", level=1).inner_text()).removeprefix("Count ").strip()
    # Blind: while the count is open the screen never shows the book.
    await expect(page.locator("table.picklist caption")).to_contain_text("stock figures stay hidden")
    await expect(page.get_by_role("columnheader", name="Book")).to_have_count(0)

    await _till_sale(stack, sku)  # the book is 4 now; the shelf has 3 (one went missing)
    # An item outside the count is refused in the service's words; nothing is recorded.
    await page.get_by_label("Scan an item, or type its SKU code").fill(DEMO_SKU)
    await page.get_by_label("How many are on the shelf").fill("2")
    await page.get_by_role("button", name="Record").click()
    await expect(page.locator(".problem")).to_contain_text(DEMO_SKU)
    await page.get_by_label("Scan an item, or type its SKU code").fill(gtin)
    await page.get_by_label("How many are on the shelf").fill("3")
    await page.get_by_role("button", name="Record").click()
    await expect(page.locator(".flash")).to_have_text(f"Counted {title} ({sku}): 3.")
    await expect(page.get_by_role("row", name=re.compile(sku))).to_contain_text("Counted")
    await console.shoot(page, "store-count")

    await _till_sale(stack, sku)  # after the scan: the count must neither lose nor repeat it
    await page.get_by_role("button", name="End counting").click()
    await expect(page.locator(".flash")).to_contain_text("Counting ended.")
    await page.get_by_role("button", name="Post the count").click()
    await expect(page.locator(".flash")).to_have_text("Count posted: 1 item(s) corrected in the stock.")
    await expect(page.locator(".task-head .badge")).to_have_text("Posted")
    # Posted, the figures show: counted 3 against a book of 4 at that moment.
    row = page.get_by_role("row", name=re.compile(sku))
    await expect(row.locator("td")).to_have_text([re.compile(title), re.compile("Counted"), "3", "4", "-1"])
    assert await _on_hand(stack, sku) == 2  # 5 received, 2 sold, 1 missing
    movements = await stack.stub("inventory", role="admin").ListMovements(
        ipb.ListMovementsRequest(location_id=DEMO_STORE, sku=sku)
    )
    adjustments = [m for m in movements.movements if m.document_ref == f"count:{count_id}"]
    assert [m.on_hand_delta for m in adjustments] == [-1]
    await context.close()
