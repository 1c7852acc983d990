from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from omnistock_platform.db import Database
from tests.integration.platform.support import create_platform_schema, new_schema_name


@pytest_asyncio.fixture
async def schema(db: Database) -> AsyncIterator[str]:
    """A fresh schema with the outbox, inbox and idempotency tables (and `effects`)."""
    name = new_schema_name()
    async with db.connection() as conn:
        await create_platform_schema(conn, name)
    yield name
    await db.execute(f'DROP SCHEMA "{name}" CASCADE')
