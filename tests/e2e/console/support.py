"""The staff console in a real browser: the console served in-process next to the stack, and
Debian's headless Chromium driven by Playwright (its own browser download is never used)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from omnistock_platform.testing.stack import Stack

TABLET = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
# Where the screenshots of the main screens go; docs/console holds a committed set.
SCREENSHOTS_ENV = "OMNISTOCK_CONSOLE_SCREENSHOTS"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("the console tests need Chromium: `make browser` installs Debian's package")
    return found


@dataclass
class ConsoleUnderTest:
    stack: Stack
    url: str
    browser: Browser
    screenshots: Path

    async def tablet(self) -> BrowserContext:
        return await self.browser.new_context(viewport=TABLET, base_url=self.url)

    async def phone(self) -> BrowserContext:
        return await self.browser.new_context(viewport=PHONE, base_url=self.url, has_touch=True, is_mobile=True)

    async def shoot(self, page: Page, name: str) -> None:
        """The screen at tablet and at phone size, whole pages."""
        before = page.viewport_size
        for size, viewport in (("tablet", TABLET), ("phone", PHONE)):
            await page.set_viewport_size(viewport)
            # Let the new layout paint (below the fold too) before the capture.
            await page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            await page.screenshot(path=str(self.screenshots / f"{name}-{size}.png"), full_page=True)
        if before is not None:
            await page.set_viewport_size(before)


async def sign_in_demo(page: Page, location_id: str) -> None:
    await page.goto("/sign-in")
    await page.get_by_role("button", name=re.compile(re.escape(location_id))).click()
    await page.wait_for_url(f"**/at/{location_id}/queue")


async def sign_in_with_token(page: Page, token: str) -> None:
    await page.goto("/sign-in")
    await page.get_by_label("The token your company's sign-in gave you").fill(token)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url("**/queue")


async def live(page: Page) -> None:
    """The queue is connected to the live feed (its snapshot arrived over server-sent events)."""
    await page.locator('.live-state[data-live="on"]').wait_for(timeout=15_000)


async def form_fields(page: Page, selector: str) -> dict[str, str]:
    """The fields of a rendered form, as the browser would post them."""
    fields: dict[str, str] = await page.eval_on_selector(
        selector, "form => Object.fromEntries(new FormData(form).entries())"
    )
    return fields
