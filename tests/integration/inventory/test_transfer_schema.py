"""The transfer tables as migrated: the database itself refuses a transfer to its own origin and a
closed line that does not account for every shipped unit exactly once."""

from __future__ import annotations

import asyncpg
import pytest

from omnistock_inventory.adapters.checks import CHECKS
from omnistock_inventory.adapters.transfer_checks import TRANSFER_CHECKS
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.stack import unique_id


async def _draft(db, catalogue) -> tuple[str, str]:
    origin, destination = await catalogue.location(), await catalogue.location()
    sku = await catalogue.sku()
    transfer_id = unique_id("TR-")
    await db.fetchval(
        "INSERT INTO inventory.transfers (transfer_id, origin_location_id, destination_location_id, status)"
        " VALUES ($1, $2, $3, 'draft') RETURNING transfer_id",
        transfer_id,
        origin,
        destination,
    )
    await db.fetchval(
        "INSERT INTO inventory.transfer_lines (transfer_id, sku, quantity) VALUES ($1, $2, 10) RETURNING sku",
        transfer_id,
        sku,
    )
    return transfer_id, sku


async def _close(db, transfer_id: str, sku: str, received: int, damaged: int, short: int, over: int) -> None:
    await db.fetchval(
        "UPDATE inventory.transfer_lines SET received = $3, damaged = $4, short = $5, over = $6, closed = true"
        " WHERE transfer_id = $1 AND sku = $2 RETURNING sku",
        transfer_id,
        sku,
        received,
        damaged,
        short,
        over,
    )


async def test_a_closed_line_accounts_for_every_shipped_unit_once(db, catalogue) -> None:
    transfer_id, sku = await _draft(db, catalogue)
    # Received first, so the shared database never holds a closed line of an open transfer.
    await db.fetchval(
        "UPDATE inventory.transfers SET status = 'received' WHERE transfer_id = $1 RETURNING status", transfer_id
    )
    with pytest.raises(asyncpg.CheckViolationError, match="transfer_lines_counted_once"):
        await _close(db, transfer_id, sku, received=9, damaged=0, short=0, over=0)
    with pytest.raises(asyncpg.CheckViolationError, match="transfer_lines_outcome_in_range"):
        await _close(db, transfer_id, sku, received=10, damaged=0, short=1, over=1)
    await _close(db, transfer_id, sku, received=9, damaged=1, short=0, over=0)
    row = await db.fetchrow("SELECT * FROM inventory.transfer_lines WHERE transfer_id = $1", transfer_id)
    assert (row["received"], row["damaged"], row["short"], row["over"], row["closed"]) == (9, 1, 0, 0, True)
    # The line balances; written by hand it has no ledger entries, so it leaves the shared database again.
    assert [v for v in await check_invariants(db) if v.check.startswith("transfer line")] == []
    await db.execute("DELETE FROM inventory.transfer_lines WHERE transfer_id = $1", transfer_id)
    await db.execute("DELETE FROM inventory.transfers WHERE transfer_id = $1", transfer_id)


async def test_a_transfer_needs_two_different_ends_and_a_known_status(db, catalogue) -> None:
    location = await catalogue.location()
    with pytest.raises(asyncpg.CheckViolationError, match="transfers_two_ends"):
        await db.fetchval(
            "INSERT INTO inventory.transfers (transfer_id, origin_location_id, destination_location_id, status)"
            " VALUES ($1, $2, $2, 'draft') RETURNING transfer_id",
            unique_id("TR-"),
            location,
        )
    transfer_id, _ = await _draft(db, catalogue)
    with pytest.raises(asyncpg.CheckViolationError, match="transfers_status_known"):
        await db.fetchval(
            "UPDATE inventory.transfers SET status = 'lost' WHERE transfer_id = $1 RETURNING status", transfer_id
        )


class _RolledBack(Exception):
    """Raised to roll back a transaction whose rows must never outlive the test."""


async def test_verify_finds_a_line_closed_before_its_transfer_was_received(db, catalogue) -> None:
    transfer_id, sku = await _draft(db, catalogue)
    assert await check_invariants(db) == []
    found: list[tuple[str, str, str]] = []
    with pytest.raises(_RolledBack):
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE inventory.transfer_lines SET received = 10, closed = true WHERE transfer_id = $1", transfer_id
            )
            await conn.execute("UPDATE inventory.transfers SET status = 'shipped' WHERE transfer_id = $1", transfer_id)
            for check, query in TRANSFER_CHECKS.items():
                found += [(check, row[0], row[1]) for row in await conn.fetch(query)]
            raise _RolledBack
    # A transfer marked shipped by hand also lacks its ledger entries and in-transit units; this check is
    # about the line.
    assert [row for row in found if row[0].startswith("transfer line closed")] == [
        (
            "transfer line closed other than when its transfer is received",
            f"{transfer_id}/{sku}",
            "transfer shipped, line closed",
        )
    ]
    assert "transfer line closed other than when its transfer is received" in CHECKS
