"""Fixtures of the console tests: one stack with the demo catalogue, the console and a browser,
shared by every test of the package."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from omnistock_client import OmnistockClient
from omnistock_console.server import EmbeddedConsole
from playwright.async_api import async_playwright, expect

from omnistock_cli.seed import seed_catalogue
from omnistock_platform.auth import Role
from omnistock_platform.registry import installed_services
from omnistock_platform.testing.plugin import isolated_run
from omnistock_platform.testing.stack import Stack
from tests.e2e.console.support import CHROMIUM_ARGS, SCREENSHOTS_ENV, ConsoleUnderTest, chromium

# How long the browser waits for a page to show something: generous, for a machine under load. A
# wait, never a measure of speed (the live queue's latency is measured, not asserted).
expect.set_options(timeout=15_000)


@pytest_asyncio.fixture(scope="package")
async def console(
    omnistock_servers: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsoleUnderTest]:
    """The demo catalogue (what `make run` loads) on a database of its own, the console with demo
    sign-in as in `omnistock up`, and a browser."""
    async with isolated_run(*omnistock_servers, label="console") as settings:
        stack = Stack(settings)
        await stack.start(*installed_services())
        try:
            wired = stack.wired_settings(console_demo_sign_in=True)
            async with OmnistockClient.connect(wired, stack.token(Role.ADMIN)) as client:
                await seed_catalogue(client, force=True)
            served = EmbeddedConsole(wired, port=0)
            url = await served.start()
            shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path_factory.mktemp("console-screenshots"))
            await asyncio.to_thread(shots.mkdir, parents=True, exist_ok=True)
            try:
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
                    try:
                        yield ConsoleUnderTest(stack, url, browser, shots)
                    finally:
                        await browser.close()
            finally:
                await served.stop()
        finally:
            await stack.close()
