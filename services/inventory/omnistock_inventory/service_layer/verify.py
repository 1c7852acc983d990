"""The stock invariants, checked against the database: used by tests and by the benchmark. An
empty list means every invariant holds. The queries live with inventory's reader in
omnistock_inventory.adapters.checks."""

from __future__ import annotations

from omnistock_inventory.adapters import checks
from omnistock_platform.db import Database
from omnistock_platform.facts import Violation


async def check_invariants(db: Database) -> list[Violation]:
    async with db.transaction(isolation="repeatable_read") as conn:
        return await checks.violations(conn)
