"""Fixtures of the orders tests: a shop (inventory catalogue + orders stubs) on the running stack."""

from __future__ import annotations

import pytest_asyncio

from omnistock_platform.testing.stack import Stack
from tests.integration.orders.support import Shop


@pytest_asyncio.fixture
async def shop(stack: Stack) -> Shop:
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
