"""The stock invariants, checked against the database: used by tests and by
`omnistock verify`. An empty list means every invariant holds. The queries live with inventory's
reader in omnistock_inventory.adapters.checks."""

from __future__ import annotations

from omnistock_inventory.adapters.checks import CHECKS
from omnistock_platform.db import Database
from omnistock_platform.facts import Violation


async def check_invariants(db: Database) -> list[Violation]:
    violations = []
    for check, query in CHECKS.items():
        for row in await db.fetch(query):
            violations.append(Violation(check, row[0], row[1]))
    return violations
