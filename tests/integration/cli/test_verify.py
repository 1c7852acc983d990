"""`omnistock verify`: the invariants, read from inventory's tables and across services."""

from __future__ import annotations

from omnistock_platform.db import Database
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World


async def test_verify_passes_on_consistent_stock_and_names_a_broken_row(stack: Stack, db: Database) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Bonn-"), (50.73, 7.10))
    sofa = await world.sku()
    await world.receive(store, sofa, 2)
    await cli.run("reserve", sofa, "--store", store, "--customer", "Verify Customer")
    subject = f"{store}/{sofa}"

    report = await cli.json("verify", expect=None)
    assert report["ok"] == (report["violations"] == [])
    assert not [v for v in report["violations"] if sofa in v["subject"] or sofa in v["detail"]]

    # Break the row behind inventory's back: one more held than the holds and the ledger say.
    await db.fetch("UPDATE inventory.stock SET held = held + 1 WHERE location_id = $1 AND sku = $2", store, sofa)
    try:
        broken = await cli.json("verify", "--inventory-only", expect=1)
        found = {(v["check"], v["subject"]) for v in broken["violations"]}
        assert ("held differs from the open units of active holds", subject) in found
        assert ("ledger does not replay to the counters", subject) in found
        shown = await cli.run("verify", "--inventory-only", expect=1)
        assert subject in shown.stdout and "violation" in shown.stdout
    finally:
        await db.fetch("UPDATE inventory.stock SET held = held - 1 WHERE location_id = $1 AND sku = $2", store, sofa)
    again = await cli.json("verify", expect=None)
    assert not [v for v in again["violations"] if sofa in v["subject"]]
