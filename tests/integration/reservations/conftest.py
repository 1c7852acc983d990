from __future__ import annotations

import pytest_asyncio

from omnistock_platform.testing.stack import Stack
from tests.integration.reservations.support import World


@pytest_asyncio.fixture
async def world(stack: Stack) -> World:
    return World(stack)
