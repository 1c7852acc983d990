"""`omnistock edit-order`: a new quantity, a line removed and one added, all or nothing; a bad line
and an edit nothing can hold are refused with the reason and change nothing."""

from __future__ import annotations

from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World

KASSEL = (51.3127, 9.4797)
HOME = "51.32,9.50"


async def test_edit_order_changes_lines_in_place_and_refuses_what_cannot_be_held(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    table, chair, lamp = await world.sku("Table"), await world.sku("Chair"), await world.sku("Lamp")
    await world.receive(warehouse, table, 3)
    await world.receive(warehouse, chair, 4)
    await world.receive(warehouse, lamp, 1)
    order = await cli.json("order", f"{table}:1", f"{chair}:2", "--ship-to", HOME, "--customer", "Edit Customer")
    (allocation,) = order["allocations"]

    edited = await cli.json(
        "edit-order", order["order_id"], f"{table}:2", f"{chair}:0", f"{lamp}:1", "--reason", "call"
    )
    assert sorted((line["sku"], int(line["quantity"])) for line in edited["lines"]) == sorted([(table, 2), (lamp, 1)])
    assert {a["hold_id"] for a in edited["allocations"]} == {allocation["hold_id"]}
    shown = await cli.run("edit-order", order["order_id"], f"{table}:3")
    assert "Edited order" in shown.stdout

    refused = await cli.run("edit-order", order["order_id"], f"{table}:9", expect=1)
    assert "not enough stock" in refused.stderr and table in refused.stderr
    again = await cli.json("show-order", order["order_id"])
    assert sorted((line["sku"], int(line["quantity"])) for line in again["lines"]) == sorted([(table, 3), (lamp, 1)])

    bad = await cli.run("edit-order", order["order_id"], f"{table}:many", expect=None)
    assert bad.exit_code != 0 and "SKU:QTY" in bad.stderr
    nothing = await cli.run("edit-order", order["order_id"], expect=None)
    assert nothing.exit_code != 0 and "nothing to change" in nothing.stderr
