"""Inventory's reader for the system's checks (omnistock_inventory.adapters.checks): the registry
finds it, a snapshot reads the holds through it, and a row broken behind inventory's back shows
as a stock violation of the snapshot."""

from __future__ import annotations

from omnistock_inventory.adapters import checks
from omnistock_platform.db import Database
from omnistock_platform.invariants import stock_invariants, take_snapshot
from omnistock_platform.registry import checks_reader_of
from tests.integration.inventory.conftest import Catalogue


async def test_the_snapshot_reads_inventory_through_its_own_reader_and_names_a_broken_row(
    catalogue: Catalogue, db: Database
) -> None:
    assert checks_reader_of("inventory") is checks.read
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 2)
    subject = f"{store}/{sku}"

    async with db.transaction(isolation="repeatable_read") as conn:
        clean = await take_snapshot(conn)
    assert clean.inventory is not None
    assert not [v for v in stock_invariants(clean) if v.subject == subject]

    # One more held than the holds and the ledger say.
    await db.fetch("UPDATE inventory.stock SET held = held + 1 WHERE location_id = $1 AND sku = $2", store, sku)
    try:
        async with db.transaction(isolation="repeatable_read") as conn:
            broken = await take_snapshot(conn)
        found = {v.check for v in stock_invariants(broken) if v.subject == subject}
        assert found == {"held differs from the open units of active holds", "ledger does not replay to the counters"}
    finally:
        await db.fetch("UPDATE inventory.stock SET held = held - 1 WHERE location_id = $1 AND sku = $2", store, sku)
