"""Signing in to the console: only store and warehouse staff tokens open it; the token stays in
an HttpOnly, SameSite=Strict cookie and never reaches the page or a URL."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import expect

from omnistock_cli.catalogue import DEMO_STORE
from tests.e2e.console.support import ConsoleUnderTest, sign_in_with_token

TOKEN_FIELD = "The token your company's sign-in gave you"


async def test_a_staff_token_signs_in_and_stays_out_of_the_page(console: ConsoleUnderTest) -> None:
    context = await console.tablet()
    page = await context.new_page()
    await page.goto(f"/at/{DEMO_STORE}/queue")
    await expect(page).to_have_url(f"{console.url}sign-in")  # signed out: the sign-in page

    token = console.stack.token("pos", locations=[DEMO_STORE], subject="clerk-mitte")
    await sign_in_with_token(page, token)
    assert token not in await page.content() and token not in page.url
    (cookie,) = [c for c in await context.cookies() if c["name"] == "omnistock_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie") == ""  # out of the page's scripts' reach

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{console.url}sign-in")
    await page.goto(f"/at/{DEMO_STORE}/queue")
    await expect(page).to_have_url(f"{console.url}sign-in")
    await context.close()


async def test_tokens_that_do_not_open_the_console_are_refused_in_words(console: ConsoleUnderTest) -> None:
    context = await console.tablet()
    page = await context.new_page()
    stack = console.stack
    cases = {
        stack.token(
            "chat_agent"
        ): "This console is for store and warehouse staff; the token is for the role chat_agent.",
        stack.token("pos", locations=[]): "The token names no store or warehouse to work at.",
        stack.token("pos", locations=[DEMO_STORE], ttl=timedelta(minutes=-5)): "token has expired",
        "not-a-token": "The token was not accepted",
    }
    for token, words in cases.items():
        await page.goto("/sign-in")
        await page.get_by_label(TOKEN_FIELD).fill(token)
        async with page.expect_response(lambda r: r.request.method == "POST") as posted:
            await page.get_by_role("button", name="Sign in", exact=True).click()
        assert (await posted.value).status == 401
        await expect(page.locator(".problem")).to_contain_text(words)
    await page.goto(f"/at/{DEMO_STORE}/queue")  # none of them left a session behind
    await expect(page).to_have_url(f"{console.url}sign-in")
    await context.close()


async def test_an_authenticating_proxy_hands_the_token_over(console: ConsoleUnderTest) -> None:
    context = await console.tablet()
    token = console.stack.token("warehouse", locations=["WH-BER"], subject="picker-ber")
    handed = await context.request.get("/sign-in/hand-off", headers={"authorization": f"Bearer {token}"})
    assert handed.ok and handed.url.endswith("/at/WH-BER/queue")
    page = await context.new_page()
    await page.goto("/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Tasks")
    refused = await context.request.get("/sign-in/hand-off")
    assert refused.status == 401 and "No token was handed over" in await refused.text()
    await context.close()
