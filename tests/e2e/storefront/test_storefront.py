"""The storefront demo page in headless Chromium: its script calls inventory and reservations from
the browser over Connect (CORS from the page's origin), shows the stock per nearby store, follows
it live (WatchStock over Connect), and reserves for pickup until the last unit is gone."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.embedded import free_port
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_storefront.app import Shop
from omnistock_storefront.server import EmbeddedStorefront
from tests.e2e.console.support import CHROMIUM_ARGS, chromium

# A wait for the page, never a measure of speed.
TIMEOUT = 15_000


@pytest_asyncio.fixture(scope="module")
async def shop(omnistock_settings: Settings) -> AsyncIterator[tuple[Stack, str, Browser]]:
    """Inventory and reservations with Connect, the page served on a free port and its origin allowed."""
    port = free_port()
    origin = f"http://{omnistock_settings.host}:{port}"
    stack = Stack(omnistock_settings.model_copy(update={"connect_allowed_origins": (origin,)}))
    await stack.start("inventory", "reservations")
    served: EmbeddedStorefront | None = None
    try:
        served = EmbeddedStorefront(stack.settings, port=port, shop=Shop(urls=dict(stack.connect_urls)))
        url = await served.start()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                yield stack, url, browser
            finally:
                await browser.close()
    finally:
        if served is not None:
            await served.stop()
        await stack.close()


async def store(stack: Stack, sku: str, name: str, lat: float, lon: float, units: int) -> str:
    admin = stack.stub("inventory")
    location_id = unique_id("LOC-")
    await admin.UpsertLocation(
        ipb.UpsertLocationRequest(
            request_id=unique_id(),
            location=ipb.Location(
                location_id=location_id,
                name=name,
                kind=ipb.LOCATION_KIND_STORE,
                city="Berlin",
                point=common_pb2.GeoPoint(latitude=lat, longitude=lon),
                pickup=True,
                ships=True,
                till_sales=True,
                active=True,
            ),
        )
    )
    await admin.ReceiveStock(
        ipb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=units)
    )
    return location_id


async def test_the_page_shows_stock_live_and_the_last_unit_sells_out(shop: tuple[Stack, str, Browser]) -> None:
    stack, url, browser = shop
    sku = unique_id("SKU-")
    await stack.stub("inventory").UpsertSku(
        ipb.UpsertSkuRequest(request_id=unique_id(), sku=ipb.Sku(sku=sku, title="Green velvet sofa", currency="EUR"))
    )
    mitte = await store(stack, sku, "Mitte", 52.5215, 13.4110, units=2)
    await store(stack, sku, "Kreuzberg", 52.4990, 13.4030, units=1)

    page = await browser.new_page()
    await page.goto(f"{url}?sku={sku}")
    await expect(page.locator("#title")).to_have_text("Green velvet sofa", timeout=TIMEOUT)
    row = page.locator(f'tr[data-location="{mitte}"]')
    await expect(row.locator("td.available")).to_have_text("2", timeout=TIMEOUT)
    await expect(page.locator("body")).to_have_attribute("data-live", "true", timeout=TIMEOUT)

    # A chat agent reserves one elsewhere: the page follows without a reload.
    await stack.stub("reservations", role="chat_agent").CreateReservation(
        rpb.CreateReservationRequest(
            request_id=unique_id(),
            channel=common_pb2.CHANNEL_CHAT,
            customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada"),
            store_id=mitte,
            lines=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
        )
    )
    await expect(row.locator("td.available")).to_have_text("1", timeout=TIMEOUT)

    # The customer reserves the last one at Mitte from the page.
    button = row.get_by_role("button")
    await expect(button).to_have_text("Reserve for pickup")
    await button.click()
    await expect(page.locator("#status")).to_have_text(
        re.compile(r"Reserved at Mitte: pickup code \S+"), timeout=TIMEOUT
    )
    await expect(row.locator("td.available")).to_have_text("0", timeout=TIMEOUT)
    await expect(button).to_have_text("Sold out")
    await expect(button).to_be_disabled()
    levels = await stack.stub("inventory").GetStock(ipb.GetStockRequest(sku=sku, location_id=mitte))
    assert [(level.on_hand, level.held) for level in levels.levels] == [(2, 2)]
    await page.close()


async def test_a_sku_in_the_address_that_looks_like_html_stays_text(shop: tuple[Stack, str, Browser]) -> None:
    """The page's address names the SKU, and anyone can send a link: whatever it holds, the page's
    script runs and shows it as text. "<!--<script>" in the config block kept that block open past
    its end, so the page's own script never ran."""
    _, url, browser = shop
    for sku in ("<!--<script>", "</script><script>document.title='x'</script>", "a&b<i>c</i>"):
        page = await browser.new_page()
        await page.goto(f"{url}?sku={quote(sku)}")
        await expect(page.locator("#sku")).to_have_text(sku, timeout=TIMEOUT)
        await expect(page.locator("#status")).to_have_text(re.compile("The shop could not load"), timeout=TIMEOUT)
        assert await page.locator("#sku i").count() == 0
        assert await page.title() == "Omnistock storefront"
        await page.close()
