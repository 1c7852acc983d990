"""`omnistock transfer create / ship / receive / cancel / show / list` against the running services: a
warehouse refills a store, the store books what arrived damaged."""

from __future__ import annotations

from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World

BERLIN = (52.52, 13.405)


async def test_a_transfer_from_the_terminal_ships_in_transit_and_is_received_with_a_damaged_unit(
    stack: Stack,
) -> None:
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Spandau-"), BERLIN, kind="warehouse")
    store = await world.location(unique_id("Mitte-"), BERLIN)
    lamp, vase = await world.sku("Lamp"), await world.sku("Vase")
    await world.receive(warehouse, lamp, 10)
    await world.receive(warehouse, vase, 3)

    draft = await cli.json(
        "transfer", "create", "--from", warehouse, "--to", store, "--sku", f"{lamp}=4", "--sku", f"{vase}=2",
        "--note", "weekly refill",
    )  # fmt: skip
    transfer_id = draft["transfer_id"]
    assert draft["status"] == "TRANSFER_STATUS_DRAFT"
    shipped = await cli.json("transfer", "ship", transfer_id)
    assert shipped["transfer"]["units_in_transit"] == 6 and len(shipped["movements"]) == 4
    level = await world.level(store, lamp)
    assert (level.on_hand, level.in_transit) == (0, 4)
    assert (await world.level(warehouse, lamp)).on_hand == 6

    late = await cli.run("transfer", "cancel", transfer_id, expect=1)
    assert "shipped" in late.stderr
    received = await cli.json("transfer", "receive", transfer_id, "--got", f"{lamp}=3", "--damaged", f"{lamp}=1")
    lines = {line["sku"]: line for line in received["transfer"]["lines"]}
    assert (lines[lamp]["received"], lines[lamp]["damaged"]) == (3, 1)
    assert lines[vase]["short"] == 2  # nobody named the vases: they arrived short
    assert (await world.level(store, lamp)).on_hand == 3 and (await world.level(store, lamp)).in_transit == 0

    shown = await cli.run("transfer", "show", transfer_id)
    assert "received" in shown.stdout and lamp in shown.stdout
    listed = await cli.json("transfer", "list", "--location", store, "--role", "pos")
    assert [t["transfer_id"] for t in listed["transfers"]] == [transfer_id]
    other = await cli.json("transfer", "create", "--from", warehouse, "--to", store, "--sku", f"{lamp}=1")
    cancelled = await cli.json("transfer", "cancel", other["transfer_id"], "--reason", "not needed")
    assert cancelled["status"] == "TRANSFER_STATUS_CANCELLED"
    report = await cli.json("verify", "--inventory-only", expect=None)
    assert not [v for v in report["violations"] if transfer_id in v["subject"] or store in v["subject"]]


async def test_an_arrival_in_the_past_and_more_damaged_than_shipped_are_refused_naming_the_field(
    stack: Stack,
) -> None:
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Spandau-"), BERLIN, kind="warehouse")
    store = await world.location(unique_id("Mitte-"), BERLIN)
    lamp = await world.sku("Lamp")
    await world.receive(warehouse, lamp, 3)

    past = await cli.run(
        "transfer", "create", "--from", warehouse, "--to", store, "--sku", f"{lamp}=3",
        "--arrives", "2020-01-01T00:00:00Z", expect=1,
    )  # fmt: skip
    assert "INVALID_ARGUMENT" in past.stderr and "field expected_arrival_at: must not be in the past" in past.stderr
    draft = await cli.json("transfer", "create", "--from", warehouse, "--to", store, "--sku", f"{lamp}=3")
    await cli.run("transfer", "ship", draft["transfer_id"])
    too_many = await cli.run(
        "transfer", "receive", draft["transfer_id"], "--got", f"{lamp}=2", "--damaged", f"{lamp}=5", expect=1
    )
    assert "INVALID_ARGUMENT" in too_many.stderr and "field lines[0].damaged: at most 3" in too_many.stderr
    assert (await world.level(store, lamp)).in_transit == 3  # nothing was booked
