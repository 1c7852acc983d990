"""Journey 1, "the last green sofa", with the store's part done in the browser: a chat agent
reserves the one green sofa at the Berlin Mitte branch through gRPC; the branch's console shows
it appear live; staff fetch it, mark it ready and hand it over with the customer's code. The
web shop and another store's till are refused with the shortfall in words; a clerk of another
store never sees the pickup, not even by its address; a double submission acts once."""

from __future__ import annotations

import asyncio
import re
import time

import grpc
import pytest
from playwright.async_api import Page, expect

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.catalogue import DEMO_SKU, DEMO_STORE, demo_catalogue
from omnistock_platform.testing.stack import unique_id
from tests.e2e.console.support import ConsoleUnderTest, form_fields, live, sign_in_demo, sign_in_with_token
from tests.integration.fulfilment.support import request_id

OTHER_STORE = "STORE-BER-KREUZBERG"
BARCODES = {sku.sku: sku.attributes["gtin"] for sku in demo_catalogue().skus}
GREEN_GTIN = BARCODES[DEMO_SKU]
BLUE_GTIN = BARCODES["SOFA-VELVET-BLUE"]
LAMP = "LAMP-TABLE-OPAL"
WAIT = 15_000  # ms: how long the browser waits for something to show (never how fast it must be)


CSP_REPORT = """document.addEventListener("securitypolicyviolation", (e) =>
  console.info(`CSP ${e.violatedDirective} blocked ${e.blockedURI} in ${e.sourceFile}:${e.lineNumber} ${e.sample}`))"""


def watch_for_errors(page: Page) -> list[str]:
    """Script errors, blocked content and assets that failed to load. (Refusals shown in words come
    with a 4xx status on purpose; the browser's note about those is not an error of the page.)"""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 and "/static/" in r.url else None
    )
    page.on(
        "requestfailed",
        # A request cut short by the next page (net::ERR_ABORTED) is not a failure of the asset.
        lambda r: (
            errors.append(f"failed: {r.url} {r.failure}")
            if "/static/" in r.url and "ERR_ABORTED" not in (r.failure or "")
            else None
        ),
    )
    page.on("console", lambda message: errors.append(message.text) if message.text.startswith("CSP ") else None)
    return errors


async def on_hand(console: ConsoleUnderTest, location_id: str, sku: str) -> int:
    inventory = console.stack.stub("inventory", role="admin")
    levels = (await inventory.GetStock(ipb.GetStockRequest(sku=sku, location_id=location_id))).levels
    return levels[0].on_hand if levels else 0


async def test_the_last_green_sofa_at_the_branch_console(console: ConsoleUnderTest) -> None:
    stack = console.stack
    branch_context = await console.tablet()
    branch = await branch_context.new_page()
    await branch_context.add_init_script(CSP_REPORT)
    errors = watch_for_errors(branch)

    # The branch's staff sign in (development sign-in, as after `make run`) and watch their queue.
    await branch.goto("/sign-in")
    await console.shoot(branch, "sign-in")
    await sign_in_demo(branch, DEMO_STORE)
    await live(branch)
    await branch.evaluate("window.sameDocument = true")  # gone if the page were ever reloaded

    # A channel watches the sofa's stock from now on.
    chat_inventory = stack.stub("inventory", role="chat_agent")
    stock_watch = chat_inventory.WatchStock(ipb.WatchStockRequest(skus=[DEMO_SKU], channel=common_pb2.CHANNEL_CHAT))

    # The chat agent reserves the one green sofa for Ada at the branch.
    customer = f"Ada Lovelace {unique_id()[:4]}"
    chat = stack.stub("reservations", role="chat_agent")
    reserved_at = time.monotonic()
    reservation = (
        await chat.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name=customer, email="ada@example.com"),
                store_id=DEMO_STORE,
                lines=[common_pb2.SkuQuantity(sku=DEMO_SKU, quantity=1)],
            )
        )
    ).reservation
    assert reservation.status == rpb.RESERVATION_STATUS_ACTIVE

    # It appears on the branch's screen by itself, with the customer's name, promise and expiry.
    card = branch.locator(".card", has_text=customer)
    await expect(card).to_be_visible(timeout=WAIT)
    print(f"\nthe reservation appeared on the console {time.monotonic() - reserved_at:.3f} s after it was made")
    assert await branch.evaluate("window.sameDocument") is True
    await expect(card).to_contain_text("1 \N{MULTIPLICATION SIGN} Velvet sofa, 3-seater, green")
    await expect(card).to_contain_text("promised")
    await expect(card).to_contain_text("expires")
    await expect(card.locator("time")).to_have_count(2)
    await console.shoot(branch, "queue")

    # The pick list: the sofa, its barcode; a scan checks what staff hold against the list.
    await card.click()
    await expect(branch.get_by_role("heading", level=1)).to_have_text(customer)
    task_url = branch.url
    task_id = task_url.rsplit("/", 1)[1]
    scan = branch.get_by_label("Scan or type an item to check it is on the list")
    await scan.fill(GREEN_GTIN)
    await scan.press("Enter")
    await expect(branch.locator(".scanned")).to_contain_text("✓ Velvet sofa, 3-seater, green")
    await console.shoot(branch, "pick-list")
    await scan.fill(BLUE_GTIN)
    await scan.press("Enter")
    await expect(branch.locator(".scanned")).to_contain_text("✗ Not on this task: Velvet sofa, 3-seater, blue")
    await scan.fill(GREEN_GTIN[:-1] + "9")  # a misread digit
    await scan.press("Enter")
    await expect(branch.locator(".scanned")).to_contain_text("did not read correctly")

    await branch.get_by_role("button", name="Start fetching").click()
    await expect(branch.locator(".flash")).to_contain_text("Started")
    await branch.get_by_role("button", name="Mark ready for pickup").click()
    await expect(branch.locator(".flash")).to_contain_text("Ready")
    await expect(branch.locator(".task-head .badge")).to_have_text("Ready at the desk")
    reservations_admin = stack.stub("reservations", role="admin")
    fetched = await reservations_admin.GetReservation(
        rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert fetched.reservation.status == rpb.RESERVATION_STATUS_READY_FOR_PICKUP

    # Meanwhile the web shop is refused the unit (through gRPC) ...
    with pytest.raises(grpc.aio.AioRpcError) as web_refused:
        await stack.stub("reservations", role="storefront").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_WEB,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Bob Blue"),
                store_id=DEMO_STORE,
                lines=[common_pb2.SkuQuantity(sku=DEMO_SKU, quantity=1)],
            )
        )
    assert web_refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # ... and so is another store's till, in its console, in words.
    other_context = await console.phone()
    await other_context.add_init_script(CSP_REPORT)
    other = await other_context.new_page()
    other_errors = watch_for_errors(other)
    await sign_in_with_token(other, stack.token("pos", locations=[OTHER_STORE], subject="clerk-kreuzberg"))
    await other.goto(f"/at/{OTHER_STORE}/till")
    code_field = other.get_by_label("Scan an item, or type its SKU or name")
    await code_field.fill(GREEN_GTIN)
    await code_field.press("Enter")
    await expect(other.locator(".basket")).to_contain_text("Velvet sofa, 3-seater, green")
    await other.get_by_role("button", name=re.compile("Complete sale")).click()
    problem = other.locator(".problem")
    await expect(problem).to_contain_text(f"Only 0 of {DEMO_SKU} are left at Omnistock Berlin Kreuzberg")
    assert "Traceback" not in await other.content()
    await console.shoot(other, "till-refused")

    # That clerk never sees Ada's pickup: not in the live queue, not by its address, not by a POST.
    await other.goto(f"/at/{OTHER_STORE}/queue")
    await live(other)
    await expect(other.locator(".cards, .empty")).to_be_visible()
    assert customer not in await other.content()
    refused_page = await other.goto(f"/at/{OTHER_STORE}/tasks/{task_id}")
    assert refused_page is not None and refused_page.status == 403
    await expect(other.locator(".problem")).to_contain_text("may not")
    assert customer not in await other.content()
    foreign_location = await other.goto(f"/at/{DEMO_STORE}/queue")
    assert foreign_location is not None and foreign_location.status == 403
    await expect(other.locator(".problem")).to_contain_text(f"{DEMO_STORE} is not one of your locations")
    await other.goto(f"/at/{OTHER_STORE}/handover")
    tokens = await form_fields(other, "form.scan")
    posted = await other.request.post(
        f"/at/{OTHER_STORE}/tasks/{task_id}/start", form={**tokens, "request_id": request_id()}
    )
    assert posted.status == 403 and customer not in await posted.text()
    handed_elsewhere = await other.request.post(
        f"/at/{OTHER_STORE}/handover/find", form={**tokens, "code": reservation.pickup_code}
    )
    assert handed_elsewhere.status == 404 and "No open pickup at this store" in await handed_elsewhere.text()
    clerk = stack.stub("fulfilment", role="admin")
    untouched = (await clerk.GetTask(fpb.GetTaskRequest(task_id=task_id))).task
    assert untouched.status == fpb.TASK_STATUS_READY_FOR_PICKUP

    # Days later Ada shows her code at the branch's desk (typed as people do: lower case, a dash).
    await branch.get_by_role("link", name="Hand over", exact=True).click()
    code = reservation.pickup_code
    code_input = branch.get_by_label("The customer's pickup code")
    await code_input.fill(f"{code[:3].lower()}-{code[3:].lower()}")
    await code_input.press("Enter")
    confirm = branch.locator(".confirm")
    await expect(confirm).to_contain_text(customer)
    await expect(confirm).to_contain_text("Velvet sofa, 3-seater, green")
    await console.shoot(branch, "handover")
    await branch.get_by_role("button", name="Hand over and complete the sale").click()
    await expect(branch.locator(".flash")).to_contain_text("The sale is complete")
    collected = await reservations_admin.GetReservation(
        rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert collected.reservation.status == rpb.RESERVATION_STATUS_COLLECTED
    admin_inventory = stack.stub("inventory", role="admin")
    levels = (await admin_inventory.GetStock(ipb.GetStockRequest(sku=DEMO_SKU))).levels
    assert [(level.on_hand, level.held) for level in levels if level.location_id == DEMO_STORE] == [(0, 0)]
    assert all(level.on_hand == 0 for level in levels)

    # The watching channel sees the branch's stock reach zero, live.
    async def sold_out() -> None:
        while True:
            message = await stock_watch.read()
            if any(level.location_id == DEMO_STORE and level.on_hand == 0 for level in message.levels):
                return

    await asyncio.wait_for(sold_out(), WAIT / 1000)
    stock_watch.cancel()

    # The queue drops the handed-over pickup by itself.
    await branch.get_by_role("link", name="Pickups & tasks").click()
    await live(branch)
    await expect(branch.locator(".card", has_text=customer)).to_have_count(0)
    assert errors == [] and other_errors == [], "\n".join(errors + other_errors)
    await other_context.close()
    await branch_context.close()


async def sell_lamp_page(page: Page) -> dict[str, str]:
    await page.goto(f"/at/{DEMO_STORE}/till")
    field = page.get_by_label("Scan an item, or type its SKU or name")
    await field.fill(LAMP)
    await field.press("Enter")
    await expect(page.locator(".basket")).to_contain_text(LAMP)
    return await form_fields(page, f"form[action='/at/{DEMO_STORE}/till/sell']")


async def test_a_double_submitted_sale_sells_once(console: ConsoleUnderTest) -> None:
    context = await console.tablet()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_STORE)
    before = await on_hand(console, DEMO_STORE, LAMP)

    # Two posts of one rendered form (a double click past the browser, a resubmission): one sale.
    fields = await sell_lamp_page(page)
    first, second = await asyncio.gather(
        page.request.post(f"/at/{DEMO_STORE}/till/sell", form=fields),
        page.request.post(f"/at/{DEMO_STORE}/till/sell", form=fields),
    )
    assert (first.status, second.status) == (200, 200)
    assert await on_hand(console, DEMO_STORE, LAMP) == before - 1

    # A double click on the button itself: one sale.
    await sell_lamp_page(page)
    await console.shoot(page, "till")
    await page.get_by_role("button", name=re.compile("Complete sale")).dblclick()
    await expect(page.locator(".flash")).to_contain_text("Sold: 1 x")
    assert await on_hand(console, DEMO_STORE, LAMP) == before - 2

    # A form without the session's CSRF token acts not at all.
    fields = await sell_lamp_page(page)
    forged = await page.request.post(f"/at/{DEMO_STORE}/till/sell", form={**fields, "csrf_token": "forged"})
    assert forged.status == 403 and "out of date" in await forged.text()
    assert await on_hand(console, DEMO_STORE, LAMP) == before - 2
    await context.close()


async def test_stock_for_a_customer_here_and_nearby(console: ConsoleUnderTest) -> None:
    context = await console.tablet()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_STORE)
    await page.get_by_role("link", name="Stock").click()
    field = page.get_by_label("Scan an item, or type its SKU or name")
    await field.fill("0" + BARCODES["CHAIR-VELVET-GREEN"])  # the same barcode as a GTIN-14
    await field.press("Enter")
    await expect(page.get_by_role("heading", level=2)).to_contain_text("Velvet armchair, green")
    await expect(page.locator(".here")).to_contain_text("1 available")
    nearby = page.locator("table.nearby")
    await expect(nearby).to_contain_text("Omnistock Berlin Kreuzberg")
    await expect(nearby).to_contain_text("Omnistock Berlin Charlottenburg")
    await expect(nearby).not_to_contain_text("Omnistock Berlin Mitte")
    await expect(page.locator(".delivery")).to_contain_text("can be delivered")
    await console.shoot(page, "stock")
    await field.fill("velvet")
    await field.press("Enter")
    await expect(page.get_by_role("heading", name="Which one?")).to_be_visible()
    await page.get_by_role("link", name=re.compile("SOFA-VELVET-GREY")).click()
    await expect(page.get_by_role("heading", level=2)).to_contain_text("grey")
    await context.close()
