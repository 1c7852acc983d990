"""`omnistock stock / skus / receive / adjust / movements / watch` against the running services."""

from __future__ import annotations

import asyncio
import json

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World

LEIPZIG = (51.3397, 12.3731)
LEIPZIG_EAST = (51.3450, 12.4300)
DRESDEN = (51.0504, 13.7373)


async def test_stock_near_a_city_lists_the_stores_that_have_it_nearest_first(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    city = unique_id("Leipzig-")
    centre = await world.location(city, LEIPZIG, name="Leipzig Zentrum")
    east = await world.location(city, LEIPZIG_EAST, name="Leipzig Ost", rank=20)
    far = await world.location(unique_id("Dresden-"), DRESDEN)
    sofa = await world.sku(colour="green")
    await world.receive(centre, sofa, 1)
    await world.receive(east, sofa, 3, safety_stock=1)
    await world.receive(far, sofa, 5)

    nearby = await cli.json("stock", sofa, "--near", city, "--radius", "50")
    assert [(entry["location_id"], entry["levels"][0]["available"]) for entry in nearby["locations"]] == [
        (centre, 1),
        (east, 2),  # safety stock is not for remote channels (the chat agent's view by default)
    ]
    # The city is the mean point of its locations: both are as far from it; rank decides.
    assert nearby["near"]["query"] == city
    assert nearby["near"]["latitude"] == (LEIPZIG[0] + LEIPZIG_EAST[0]) / 2

    # A point works too, and without a radius every location with stock is listed.
    anywhere = await cli.json("stock", sofa, "--near", f"{LEIPZIG[0]},{LEIPZIG[1]}")
    assert {entry["location_id"] for entry in anywhere["locations"]} == {centre, east, far}

    # The till's own view may sell its safety stock.
    till = await cli.json("stock", sofa, "--channel", "pos", "--role", "pos", "--works-at", east)
    assert {level["location_id"]: level["available"] for level in till["levels"]}[east] == 3

    shown = await cli.run("stock", sofa, "--near", city, "--radius", "50")
    assert "Leipzig Zentrum" in shown.stdout and "Leipzig Ost" in shown.stdout and far not in shown.stdout

    unknown = await cli.run("stock", sofa, "--near", unique_id("Atlantis-"), expect=1)
    assert "no location is in a city called" in unknown.stderr


async def test_skus_are_found_by_text_and_attributes(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    model = unique_id("model-").lower()
    green = await world.sku("Velvet sofa", colour="green", model=model)
    blue = await world.sku("Velvet sofa", colour="blue", model=model)
    found = await cli.json("skus", "velvet", "--attr", f"model={model}", "--attr", "colour=green")
    assert [sku["sku"] for sku in found["skus"]] == [green]
    both = await cli.json("skus", "--attr", f"model={model}")
    assert {sku["sku"] for sku in both["skus"]} == {green, blue}
    shown = await cli.run("skus", "--attr", f"model={model}")
    assert green in shown.stdout and "colour=blue" in shown.stdout
    bad = await cli.run("skus", "--attr", "colour", expect=1)
    assert "is not KEY=VALUE" in bad.stderr


async def test_receive_adjust_and_the_ledger(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Halle-"), (51.48, 11.97), kind="warehouse")
    chair = await world.sku("Oak chair")

    received = await cli.json("receive", warehouse, chair, "7", "--ref", "PO-1")
    assert received["level"]["on_hand"] == 7
    counted = await cli.json("adjust", warehouse, chair, "--set", "5", "--reason", "count", "--expect", "7")
    assert counted["level"]["on_hand"] == 5
    damaged = await cli.json("adjust", warehouse, chair, "--delta", "-1", "--reason", "damage", "--note", "scratched")
    assert damaged["level"]["on_hand"] == 4

    # A count that raced another change is refused, with the reason.
    stale = await cli.run("adjust", warehouse, chair, "--set", "3", "--reason", "count", "--expect", "7", expect=1)
    assert "FAILED_PRECONDITION" in stale.stderr and "on hand is 4, not the expected 7" in stale.stderr
    both = await cli.run("adjust", warehouse, chair, "--set", "3", "--delta", "1", "--reason", "count", expect=1)
    assert "exactly one of --delta N and --set N" in both.stderr

    # A role that may not book stock is refused with a clear message.
    refused = await cli.run("receive", warehouse, chair, "1", "--role", "chat_agent", expect=1)
    assert "PERMISSION_DENIED" in refused.stderr and "Traceback" not in refused.stderr

    ledger = await cli.json("movements", "--location", warehouse, "--sku", chair)
    assert [(m["kind"], m["on_hand_delta"]) for m in ledger["movements"]] == [
        ("MOVEMENT_KIND_RECEIPT", 7),
        ("MOVEMENT_KIND_ADJUSTMENT", -2),
        ("MOVEMENT_KIND_ADJUSTMENT", -1),
    ]
    assert ledger["movements"][0]["document_ref"] == "PO-1"
    shown = await cli.run("movements", "--location", warehouse, "--sku", chair)
    assert "receipt" in shown.stdout and "damage: scratched" in shown.stdout


async def test_watch_follows_a_sku_until_it_is_sold_out(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Jena-"), (50.93, 11.59))
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 1)

    watching = asyncio.create_task(cli.run("watch", lamp, "--until-sold-out", "--timeout", "30s", "--json"))
    await asyncio.sleep(1.5)  # the watch has its snapshot
    till = stack.stub("inventory", role="pos", locations=[store])
    await till.Hold(
        ipb.HoldRequest(
            request_id=unique_id(),
            owner=f"till:{store}",
            channel=common_pb2.CHANNEL_POS,
            selling_location_id=store,
            lines=[ipb.HoldLineRequest(location_id=store, sku=lamp, quantity=1)],
            commit_now=True,
        )
    )
    result = await asyncio.wait_for(watching, 30)
    updates = [json.loads(line) for line in result.stdout.splitlines()]
    assert updates[0]["snapshot"] and updates[0]["levels"][0]["on_hand"] == 1
    assert updates[-1]["levels"][-1]["on_hand"] == 0

    # Already sold out: the table is shown once and the watch ends by itself.
    table = await cli.run("watch", lamp, "--until-sold-out", "--timeout", "20s")
    assert lamp in table.stdout and "sold out" in table.stdout


async def test_stock_near_with_via_transfer_adds_the_stores_a_transfer_could_bring_it_to(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    city = unique_id("Leipzig-")
    centre = await world.location(city, LEIPZIG, name="Leipzig Zentrum")
    warehouse = await world.location(city, LEIPZIG_EAST, kind="warehouse", name="Leipzig Lager")
    sofa = await world.sku(colour="green")
    await world.receive(warehouse, sofa, 2)

    plain = await cli.json("stock", sofa, "--near", city, "--radius", "10")
    assert [entry["location_id"] for entry in plain["locations"]] == [warehouse]

    offered = await cli.json("stock", sofa, "--near", city, "--radius", "10", "--via-transfer")
    by_id = {entry["location_id"]: entry for entry in offered["locations"]}
    assert by_id[centre]["complete"] is False
    [promise] = by_id[centre]["promises"]
    assert promise["kind"] == "PROMISE_KIND_PICKUP_VIA_TRANSFER"
    assert promise["wording"].endswith("via transfer from Leipzig Lager")
    shown = await cli.run("stock", sofa, "--near", city, "--radius", "10", "--via-transfer", "--wide")
    assert "via transfer from Leipzig Lager" in shown.stdout


async def test_movements_of_a_sku_or_location_that_does_not_exist_say_so(stack: Stack) -> None:
    """Not "No movements.", which a SKU that exists and never moved answers."""
    world, cli = World(stack), Cli(stack)
    idle = await world.sku("Lamp")
    nope, nowhere = unique_id("NOPE-"), unique_id("NOWHERE-")
    unknown = await cli.run("movements", "--sku", nope, expect=1)
    assert "NOT_FOUND" in unknown.stderr and nope in unknown.stderr
    missing = await cli.run("movements", "--location", nowhere, expect=1)
    assert "NOT_FOUND" in missing.stderr and nowhere in missing.stderr
    assert "No movements." in (await cli.run("movements", "--sku", idle)).stdout
