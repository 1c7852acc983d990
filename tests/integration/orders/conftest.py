"""Fixtures of the orders tests: a shop (inventory catalogue + orders stubs) on the running stack, and
a second orders process to crash on purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from omnistock_orders.entrypoints.main import OrdersService, wire
from omnistock_platform.testing.stack import Stack
from tests.integration.orders.support import Shop


@pytest_asyncio.fixture
async def shop(stack: Stack) -> Shop:
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))


@pytest_asyncio.fixture
async def orders_process(stack: Stack) -> AsyncIterator[OrdersService]:
    """A second orders process on the same database, driven directly, to crash it on purpose."""
    parts = wire(stack.wired_settings())
    await parts.db.connect()
    yield parts
    await parts.db.close()
    for channel in parts.channels:
        await channel.close()
