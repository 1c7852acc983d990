"""The warehouse handheld: a web order to ship appears in the warehouse's task queue live; staff
pick it (one unit short, with the reason), pack it and ship it with the carrier's tracking."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_cli.catalogue import DEMO_WAREHOUSE
from omnistock_platform.testing.stack import unique_id
from tests.e2e.console.support import ConsoleUnderTest, live, sign_in_demo
from tests.integration.fulfilment.support import request_id

BLUE = "SOFA-VELVET-BLUE"
CHAIR = "CHAIR-OAK-NATURAL"
BERLIN = common_pb2.GeoPoint(latitude=52.52, longitude=13.40)
WAIT = 15_000


async def test_pick_short_with_the_reason_pack_and_ship(console: ConsoleUnderTest) -> None:
    stack = console.stack
    context = await console.phone()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_WAREHOUSE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")
    await live(page)

    order = (
        await stack.stub("orders", role="storefront").CreateOrder(
            opb.CreateOrderRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_WEB,
                customer_id=unique_id("CUST-"),
                lines=[opb.OrderLineRequest(sku=BLUE, quantity=2)],
                method=common_pb2.FULFILMENT_METHOD_SHIP,
                ship_to=opb.Address(name="Grace Hopper", city="Berlin", country="DE", point=BERLIN),
            )
        )
    ).order
    assert [allocation.location_id for allocation in order.allocations] == [DEMO_WAREHOUSE]

    card = page.locator(".card", has_text=f"Order {order.order_id}")
    await expect(card).to_be_visible(timeout=WAIT)
    await expect(card).to_contain_text("2 \N{MULTIPLICATION SIGN} Velvet sofa, 3-seater, blue")
    await console.shoot(page, "warehouse-tasks")
    await card.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.order_id}")

    # One of the two is found; confirming without saying why is refused in words, and changes nothing.
    found = page.get_by_label(re.compile("Velvet sofa, 3-seater, blue"))
    await found.fill("1")
    await expect(found).to_have_value("1")
    await page.get_by_role("button", name="Confirm pick").click()
    await expect(page.locator(".problem")).to_contain_text("choose why")
    await expect(page.locator(".task-head .badge")).to_have_text("New")
    await page.get_by_label("If fewer were found: why").select_option("damaged")
    await page.get_by_label("Note (optional)").fill("torn cover")
    await expect(found).to_have_value("1")
    await console.shoot(page, "warehouse-pick")
    await page.get_by_role("button", name="Confirm pick").click()
    await expect(page.locator(".flash")).to_contain_text("Pick confirmed")
    movements = await stack.stub("inventory", role="admin").ListMovements(
        ipb.ListMovementsRequest(location_id=DEMO_WAREHOUSE, sku=BLUE)
    )
    assert any(m.reason.endswith("damaged: torn cover") for m in movements.movements)

    await page.get_by_role("button", name="Packed").click()
    await expect(page.locator(".flash")).to_contain_text("Packed")
    await page.get_by_label("Carrier").fill("DHL")
    await page.get_by_label("Tracking number (scan the label)").fill("JJD0099887766")
    await expect(page.get_by_label("Carrier")).to_have_value("DHL")
    await expect(page.get_by_label("Tracking number (scan the label)")).to_have_value("JJD0099887766")
    await page.get_by_role("button", name="Shipped").click()
    await expect(page.locator(".flash")).to_contain_text("Shipped with DHL (JJD0099887766)")
    await expect(page).to_have_url(re.compile(f"/at/{DEMO_WAREHOUSE}/queue$"))
    await live(page)
    await expect(page.locator(".card", has_text=f"Order {order.order_id}")).to_have_count(0)
    await context.close()


async def test_what_staff_type_as_a_page_arrives_stays_in_the_field_they_chose(console: ConsoleUnderTest) -> None:
    """A page settles a moment after it shows; the scan field must not take the focus (and the next
    keystrokes) from a field the person already chose. The person here chooses the note field the
    instant the task page is swapped in, before it settles."""
    stack = console.stack
    context = await console.phone()
    await context.add_init_script(
        """
        document.addEventListener("htmx:afterSwap", function () {
          var note = document.getElementById("note");
          if (note) { note.focus(); window.noteChosen = true; }
        });
        document.addEventListener("htmx:afterSettle", function () { window.settledAfterChoice = !!window.noteChosen; });
        """
    )
    page = await context.new_page()
    await sign_in_demo(page, DEMO_WAREHOUSE)
    await live(page)
    order = (
        await stack.stub("orders", role="storefront").CreateOrder(
            opb.CreateOrderRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_WEB,
                customer_id=unique_id("CUST-"),
                lines=[opb.OrderLineRequest(sku=BLUE, quantity=1)],
                method=common_pb2.FULFILMENT_METHOD_SHIP,
                ship_to=opb.Address(name="Ada Lovelace", city="Berlin", country="DE", point=BERLIN),
            )
        )
    ).order
    card = page.locator(".card", has_text=f"Order {order.order_id}")
    await expect(card).to_be_visible(timeout=WAIT)
    await card.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.order_id}")
    await page.wait_for_function("window.settledAfterChoice === true", timeout=WAIT)
    await page.keyboard.type("torn cover")
    note = page.get_by_label("Note (optional)")
    await expect(note).to_have_value("torn cover")
    await expect(note).to_be_focused()
    await expect(page.get_by_label("Scan or type an item to check it is on the list")).to_have_value("")
    await context.close()


async def _ship_order(console: ConsoleUnderTest, name: str) -> opb.Order:
    return (
        await console.stack.stub("orders", role="storefront").CreateOrder(
            opb.CreateOrderRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_WEB,
                customer_id=unique_id("CUST-"),
                lines=[opb.OrderLineRequest(sku=BLUE, quantity=2)],
                method=common_pb2.FULFILMENT_METHOD_SHIP,
                ship_to=opb.Address(name=name, city="Berlin", country="DE", point=BERLIN),
            )
        )
    ).order


async def test_a_card_pressed_as_the_list_changes_still_opens(console: ConsoleUnderTest) -> None:
    """The live list re-renders when work arrives; a press on a card that is under way when it does
    must still open that card, not land on a replaced element and vanish."""
    context = await console.tablet()
    await context.add_init_script(
        """
        document.addEventListener("htmx:sseBeforeMessage", function () {
          window.liveMessages = (window.liveMessages || 0) + 1;
        });
        """
    )
    page = await context.new_page()
    await sign_in_demo(page, DEMO_WAREHOUSE)
    await live(page)
    first = await _ship_order(console, "Grace Hopper")
    card = page.locator(".card", has_text=f"Order {first.order_id}")
    await expect(card).to_be_visible(timeout=WAIT)
    seen = await page.evaluate("window.liveMessages || 0")

    box = await card.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await _ship_order(console, "Ada Lovelace")
    await page.wait_for_function("seen => (window.liveMessages || 0) > seen", arg=seen, timeout=WAIT)
    await page.mouse.up()

    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {first.order_id}")
    await context.close()


async def test_a_pick_that_could_not_be_sent_says_so_keeps_what_was_typed_and_lands_on_the_next_try(
    console: ConsoleUnderTest,
) -> None:
    context = await console.phone()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_WAREHOUSE)
    await live(page)
    order = await _ship_order(console, "Katherine Johnson")
    card = page.locator(".card", has_text=f"Order {order.order_id}")
    await expect(card).to_be_visible(timeout=WAIT)
    await card.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.order_id}")

    found = page.get_by_label(re.compile("Velvet sofa, 3-seater, blue"))
    await found.fill("1")
    await page.get_by_label("If fewer were found: why").select_option("not-on-shelf")
    await page.route("**/pick", lambda route: route.abort("internetdisconnected"))
    await page.get_by_role("button", name="Confirm pick").click()
    await expect(page.locator(".problem")).to_contain_text("Not sent: the console could not be reached")
    await expect(found).to_have_value("1")
    await expect(page.get_by_role("button", name="Confirm pick")).to_be_enabled()

    await page.unroute("**/pick")
    await page.get_by_role("button", name="Confirm pick").click()
    await expect(page.locator(".flash")).to_contain_text("Pick confirmed")
    await expect(page.locator(".problem")).to_have_count(0)
    movements = await console.stack.stub("inventory", role="admin").ListMovements(
        ipb.ListMovementsRequest(location_id=DEMO_WAREHOUSE, sku=BLUE)
    )
    assert any(m.reason.endswith("not on the shelf") for m in movements.movements)
    await context.close()


async def test_a_pick_list_changed_while_its_page_was_open_is_not_confirmed_from_the_old_list(
    console: ConsoleUnderTest,
) -> None:
    """The customer adds two chairs while the picker has the order's list open: confirming the list
    on the screen must not confirm the chairs nobody fetched (a line left out of a pick counts as
    found in full). Nothing is confirmed, the page shows the new list, and that one confirms."""
    stack = console.stack
    context = await console.phone()
    page = await context.new_page()
    await sign_in_demo(page, DEMO_WAREHOUSE)
    await live(page)
    order = await _ship_order(console, "Margaret Hamilton")
    card = page.locator(".card", has_text=f"Order {order.order_id}")
    await expect(card).to_be_visible(timeout=WAIT)
    await card.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {order.order_id}")
    task_id = page.url.rsplit("/", 1)[-1]

    edited = (
        await stack.stub("orders", role="chat_agent").EditOrder(
            opb.EditOrderRequest(
                request_id=request_id(),
                order_id=order.order_id,
                lines=[opb.OrderLineEdit(sku=CHAIR, quantity=2)],
                reason="customer called",
            )
        )
    ).order
    assert [(a.location_id, sorted((line.sku, line.quantity) for line in a.lines)) for a in edited.allocations] == [
        (DEMO_WAREHOUSE, [(CHAIR, 2), (BLUE, 2)])
    ]
    staff = stack.stub("fulfilment", role="warehouse", locations=[DEMO_WAREHOUSE])
    for _ in range(int(WAIT / 50)):  # fulfilment hears of the edit from the order's event
        task = (await staff.GetTask(fpb.GetTaskRequest(task_id=task_id))).task
        if CHAIR in {line.sku for line in task.lines}:
            break
        await asyncio.sleep(0.05)
    assert {line.sku: line.quantity for line in task.lines} == {BLUE: 2, CHAIR: 2}

    # The page still shows the sofas only; its pick is about that list.
    await expect(page.get_by_label(re.compile("Oak dining chair"))).to_have_count(0)
    await page.get_by_role("button", name="Confirm pick").click()
    await expect(page.locator(".problem")).to_contain_text("The pick list changed while this page was open")
    task = (await staff.GetTask(fpb.GetTaskRequest(task_id=task_id))).task
    assert task.status == fpb.TASK_STATUS_OPEN
    assert [line.picked for line in task.lines] == [0, 0]

    chairs = page.get_by_label(re.compile("Oak dining chair"))
    await expect(chairs).to_have_value("2")
    await chairs.fill("1")
    await page.get_by_label("If fewer were found: why").select_option("not-on-shelf")
    await page.get_by_role("button", name="Confirm pick").click()
    await expect(page.locator(".flash")).to_contain_text("Pick confirmed")
    task = (await staff.GetTask(fpb.GetTaskRequest(task_id=task_id))).task
    assert {line.sku: line.picked for line in task.lines} == {BLUE: 2, CHAIR: 1}
    await context.close()
