"""`omnistock count start / scan / show / list / review / approve / complete / cancel` against the
running services: a store counts its shelf while its till sells."""

from __future__ import annotations

from omnistock_platform.db import Database
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World

BERLIN = (52.52, 13.405)


async def test_a_count_from_the_terminal_is_blind_for_the_clerk_and_posts_the_variance(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Berlin-"), BERLIN)
    lamp, vase = await world.sku("Lamp"), await world.sku("Vase")
    await world.receive(store, lamp, 6)
    await world.receive(store, vase, 2)

    opened = await cli.json("count", "start", "--location", store, "--threshold", "1", "--note", "aisle 3")
    count_id = opened["count_id"]
    assert (opened["status"], opened["summary"]["lines"]) == ("COUNT_STATUS_OPEN", 2)
    await cli.run("sell", f"{lamp}:1", "--store", store)  # the till keeps selling: book 5, shelf 3
    scanned = await cli.json("count", "scan", count_id, lamp, "3")
    assert scanned["line"]["counted"] == 3 and "variance" not in scanned["line"]  # blind
    blind = await cli.run("count", "show", count_id, "--role", "pos", "--works-at", store)
    assert "hidden while the count is open" in blind.stdout

    premature = await cli.run("count", "complete", count_id, expect=1)
    assert "review it first" in premature.stderr
    reviewed = await cli.run("count", "review", count_id)
    assert "Nobody scanned these" in reviewed.stdout and vase in reviewed.stdout
    assert "Beyond the threshold" in reviewed.stdout and lamp in reviewed.stdout
    shown = await cli.json("count", "show", count_id, "--lines")
    assert {line["sku"]: line["variance"] for line in shown["lines"]} == {lamp: -2, vase: -2}

    approved = await cli.json("count", "approve", count_id, "--note", "checked the shelf")
    assert sorted(line["sku"] for line in approved["approved"]) == sorted([lamp, vase])
    done = await cli.run("count", "complete", count_id)
    assert "Adjustments posted" in done.stdout
    assert (await world.level(store, lamp)).on_hand == 3 and (await world.level(store, vase)).on_hand == 0
    # Another store's count is not this store's.
    elsewhere = await world.location(unique_id("Berlin-"), BERLIN)
    other = (await cli.json("count", "start", "--location", elsewhere))["count_id"]
    await cli.run("count", "review", other)
    await cli.run("count", "complete", other)
    listed = await cli.json("count", "list", "--location", store, "--status", "completed")
    assert [c["count_id"] for c in listed["counts"]] == [count_id]
    theirs = await cli.json("count", "list", "--location", elsewhere, "--role", "pos")
    assert [c["count_id"] for c in theirs["counts"]] == [other]
    report = await cli.json("verify", "--inventory-only", expect=None)
    assert not [v for v in report["violations"] if count_id in v["subject"]]


async def test_verify_names_a_count_booked_twice_and_a_variance_off_its_ledger_position(
    stack: Stack, db: Database
) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Berlin-"), BERLIN)
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 4)
    count_id = (await cli.json("count", "start", "--location", store, "--threshold", "5"))["count_id"]
    await cli.run("count", "scan", count_id, lamp, "3")
    await cli.run("count", "review", count_id)
    (posted,) = (await cli.json("count", "complete", count_id))["adjustments"]
    subject = f"{count_id}/{lamp}"

    # Book the same line a second time behind inventory's back, and move its book figure off the ledger.
    twice = await db.fetchval(
        "INSERT INTO inventory.movements (location_id, sku, kind, reason, on_hand_delta, held_delta, on_hand_after,"
        " held_after, safety_stock_after, version, hold_id, actor, request_id, document_ref)"
        " SELECT location_id, sku, kind, reason, on_hand_delta, held_delta, on_hand_after, held_after,"
        " safety_stock_after, version, hold_id, actor, request_id, document_ref FROM inventory.movements"
        " WHERE movement_id = $1 RETURNING movement_id",
        int(posted["movement_id"]),
    )
    await db.execute(
        "UPDATE inventory.count_lines SET book_on_hand = book_on_hand + 1, variance = variance - 1"
        " WHERE count_id = $1 AND sku = $2",
        count_id,
        lamp,
    )
    try:
        broken = await cli.json("verify", "--inventory-only", expect=1)
        found = {v["check"] for v in broken["violations"] if v["subject"] == subject}
        assert found == {
            "count line variance is not counted minus the book at its ledger position",
            "count posted other than once per line with a variance",
        }
    finally:
        await db.execute("DELETE FROM inventory.movements WHERE movement_id = $1", twice)
        await db.execute(
            "UPDATE inventory.count_lines SET book_on_hand = book_on_hand - 1, variance = variance + 1"
            " WHERE count_id = $1 AND sku = $2",
            count_id,
            lamp,
        )
    again = await cli.json("verify", "--inventory-only", expect=None)
    assert not [v for v in again["violations"] if count_id in v["subject"]]


async def test_count_commands_explain_mistakes(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Berlin-"), BERLIN)
    both = await cli.run("count", "start", "--location", store, "--sku", "A", "--attr", "colour=green", expect=1)
    assert "not both" in both.stderr
    bad = await cli.run("count", "start", "--location", store, "--attr", "colour", expect=1)
    assert "is not KEY=VALUE" in bad.stderr
    count_id = (await cli.json("count", "start", "--location", store))["count_id"]
    cancelled = await cli.json("count", "cancel", count_id, "--reason", "wrong aisle")
    assert cancelled["status"] == "COUNT_STATUS_CANCELLED"
    closed = await cli.run("count", "scan", count_id, await world.sku(), "1", expect=1)
    assert "FAILED_PRECONDITION" in closed.stderr and "cancelled" in closed.stderr


async def test_a_refusal_for_another_store_hints_at_the_option_the_command_has(stack: Stack) -> None:
    """`count scan` has --works-at, not --location: its hint names --works-at. `count start` names its
    location itself (its --location is where to count): its hint does not send staff to --works-at."""
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Berlin-"), BERLIN)
    other = await world.location(unique_id("Berlin-"), BERLIN)
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 2)
    count_id = (await cli.json("count", "start", "--location", store))["count_id"]

    denied = await cli.run("count", "scan", count_id, lamp, "1", "--role", "pos", "--works-at", other, expect=1)
    assert "PERMISSION_DENIED" in denied.stderr
    assert "hint: try another --role, or --works-at for store and warehouse staff" in denied.stderr
    assert "--location" not in denied.stderr

    token = stack.token("pos", locations=[other])
    refused = await cli.run("count", "start", "--location", store, "--token", token, expect=1)
    assert "PERMISSION_DENIED" in refused.stderr
    assert "--works-at" not in refused.stderr and "or --location" not in refused.stderr
    assert "--token" in refused.stderr
