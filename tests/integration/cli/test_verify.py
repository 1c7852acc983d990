"""`omnistock verify`: the invariants, read from inventory's tables and across services: every
active hold of a reservation or an order belongs to one that exists and holds it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
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


async def test_every_active_hold_belongs_to_a_reservation_or_order_that_holds_it(fresh_stack: Stack) -> None:
    """On a database of its own (verify reads everything): a healthy system verifies clean; a
    hold whose owning order or reservation does not exist, or exists and holds something else,
    is named, whichever kind of owner it has; once released, all is clean again. And an order
    whose held allocation's hold was released behind its back is named too."""
    stack = fresh_stack
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Bonn-"), (50.73, 7.10))
    warehouse = await world.location(unique_id("Bonn-"), (50.74, 7.09), kind="warehouse")
    sofa = await world.sku()
    await world.receive(store, sofa, 10)
    await world.receive(warehouse, sofa, 10)
    await cli.run("reserve", sofa, "--store", store, "--customer", "Verify Customer")
    order = await cli.json("order", f"{sofa}:1", "--ship-to", "50.74,7.09", "--customer", "Verify Customer")
    assert order["status"] == "ORDER_STATUS_ALLOCATED"

    healthy = await cli.json("verify")
    assert healthy == {"ok": True, "violations": []}
    assert await cli.json("verify", "--snapshot") == {"ok": True, "violations": []}

    inventory = stack.stub("inventory", role="service")

    async def hold(owner: str) -> str:
        reply = await inventory.Hold(
            ipb.HoldRequest(
                request_id=unique_id("orphan-"),
                owner=owner,
                channel=common_pb2.CHANNEL_WEB,
                lines=[ipb.HoldLineRequest(location_id=store, sku=sofa, quantity=1)],
            )
        )
        return str(reply.hold.hold_id)

    orphans = {
        await hold(f"order:{unique_id('no-such-order-')}"): "no such order",
        await hold(f"reservation:{unique_id('no-such-reservation-')}"): "no such reservation",
        await hold(f"order:{order['order_id']}"): "none of its held allocations is under this hold",
    }
    broken = await cli.json("verify", expect=1)
    assert broken["ok"] is False
    named = {v["subject"]: v for v in broken["violations"] if v["check"] == "active hold without a live owner"}
    assert set(named) == set(orphans), broken
    # The hold under the real order is also one its allocations do not account for.
    others = [(v["check"], v["subject"]) for v in broken["violations"] if v["subject"] not in orphans]
    assert others == [("allocations disagree with their hold", order["order_id"])], broken
    for hold_id, problem in orphans.items():
        assert named[hold_id]["check"] == "active hold without a live owner"
        assert problem in named[hold_id]["detail"] and f"open {store}/{sofa}\u00d71" in named[hold_id]["detail"]
        assert named[hold_id]["area"] == "inventory"
    shown = await cli.run("verify", expect=1)
    assert all(hold_id in shown.stdout for hold_id in orphans), shown.stdout
    # The same from one snapshot of every schema (the chaos suite's checker).
    whole = await cli.json("verify", "--snapshot", expect=1)
    assert {v["subject"] for v in whole["violations"] if v["check"] == "active hold without a live owner"} == set(
        orphans
    ), whole

    for hold_id in orphans:
        await inventory.ReleaseHold(ipb.ReleaseHoldRequest(request_id=unique_id("rel-"), hold_id=hold_id))
    assert await cli.json("verify") == {"ok": True, "violations": []}
    assert await cli.json("verify", "--snapshot") == {"ok": True, "violations": []}

    # The other way round: an order whose held allocation counts on a hold released behind its back.
    order_hold = next(a["hold_id"] for a in order["allocations"] if a["status"] == "ALLOCATION_STATUS_HELD")
    await inventory.ReleaseHold(ipb.ReleaseHoldRequest(request_id=unique_id("rel-"), hold_id=order_hold))
    broken = await cli.json("verify", expect=1)
    assert [(v["area"], v["check"], v["subject"]) for v in broken["violations"]] == [
        ("orders", "allocations disagree with their hold", order["order_id"])
    ], broken
    assert f"hold {order_hold} is released" in broken["violations"][0]["detail"]


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """Not under pytest's temp folder: every pytest start on the machine makes that owner-only, which
    locks out the embedded PostgreSQL (it runs as its own user when started by root)."""
    base = Path(tempfile.mkdtemp(prefix="omnistock-verify-"))
    yield base / "data"
    shutil.rmtree(base, ignore_errors=True)


def test_verify_on_embedded_postgres_prints_its_report_and_nothing_else(embedded_data_dir: Path) -> None:
    """Without DATABASE_URL, verify starts the embedded PostgreSQL of `omnistock up`: what that
    logs stays off stdout, which is the report (JSON here) alone."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "NATS_URL")}
    env["OMNISTOCK_CONFIG"] = os.devnull
    data_dir = str(embedded_data_dir)

    def omnistock(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "omnistock_cli", *args, "--data-dir", data_dir]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)

    migrated = omnistock("migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    verified = omnistock("verify", "--inventory-only", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout) == {"ok": True, "violations": []}, verified.stdout
    assert "postgres_started" not in verified.stdout + verified.stderr
