"""Fixtures of the fulfilment tests; the helpers they use live in `support`."""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from omnistock_platform.events.bus import EventBus
from omnistock_platform.testing.stack import Stack

from .support import Events, Shelf


@pytest_asyncio.fixture
async def events(bus: EventBus) -> Events:
    return Events(bus)


@pytest_asyncio.fixture
async def fulfilment(stack: Stack) -> Any:
    """An admin's stub of the fulfilment service."""
    return stack.stub("fulfilment", role="admin")


@pytest_asyncio.fixture
async def shelf(stack: Stack) -> Shelf:
    return Shelf(stack.stub("inventory", role="admin"))
