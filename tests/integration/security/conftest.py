"""Fixtures of the security tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from omnistock_platform.logging import configure_logging
from omnistock_platform.testing.stack import addresses_from_env
from tests.integration.security.support import QuietStack, quiet_stack


@pytest_asyncio.fixture(scope="module")
async def quiet(omnistock_servers: tuple[str, str]) -> AsyncIterator[QuietStack]:
    """The services in-process on a fresh database and stream that nothing else touches."""
    if addresses_from_env():
        pytest.skip("needs the services in-process, on a database of their own")
    configure_logging(os.environ.get("OMNISTOCK_LOG_LEVEL", "WARNING"), json=True)
    async with quiet_stack(*omnistock_servers) as stack:
        yield stack
