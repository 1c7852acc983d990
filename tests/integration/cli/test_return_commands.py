"""`omnistock returns create / receive / list / show / cancel` and the till's `return`: an order's units
authorised to come back at another store, received with one restocked and one damaged, stock exact."""

from __future__ import annotations

from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World

KASSEL = (51.3127, 9.4797)
GOETTINGEN = (51.5413, 9.9158)


async def test_a_return_is_authorised_received_and_listed(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Kassel-"), KASSEL)
    other = await world.location(unique_id("Goettingen-"), GOETTINGEN)
    cushion = await world.sku("Cushion")
    await world.receive(store, cushion, 3)
    sold = await cli.json("sell", f"{cushion}:3", "--store", store)

    too_many = await cli.run("returns", "create", sold["order_id"], f"{cushion}=4", "--at", other, expect=1)
    assert "FAILED_PRECONDITION" in too_many.stderr
    created = await cli.json("returns", "create", sold["order_id"], f"{cushion}=2", "--at", other, "--reason", "spare")
    assert created["status"] == "RETURN_STATUS_AUTHORISED"
    return_id = created["return_id"]

    # The receiving store's till (found from the return) inspects the units.
    received = await cli.json("returns", "receive", return_id, "--restock", f"{cushion}=1", "--damaged", f"{cushion}=1")
    assert received["status"] == "RETURN_STATUS_RECEIVED"
    assert [(line["restocked"], line["damaged"]) for line in received["lines"]] == [(1, 1)]
    assert (await world.level(other, cushion)).on_hand == 1
    foreign = await cli.run(
        "returns", "receive", return_id, "--restock", f"{cushion}=2", "--role", "pos", "--works-at", store, expect=1
    )
    assert "PERMISSION_DENIED" in foreign.stderr

    listed = await cli.json("returns", "list", "--order", sold["order_id"])
    assert [r["return_id"] for r in listed["returns"]] == [return_id]
    shown = await cli.run("returns", "show", return_id)
    assert return_id in shown.stdout and "received" in shown.stdout

    another = await cli.json("returns", "create", sold["order_id"], f"{cushion}=1", "--at", store)
    cancelled = await cli.json("returns", "cancel", another["return_id"], "--reason", "kept it")
    assert cancelled["status"] == "RETURN_STATUS_CANCELLED"

    # The till takes the last unit back in one step, against the order.
    till = await cli.json("return", cushion, "1", "--store", store, "--order", sold["order_id"])
    assert till["status"] == "RETURN_STATUS_RECEIVED" and till["order_id"] == sold["order_id"]
    assert (await world.level(store, cushion)).on_hand == 1


async def test_the_till_takes_a_whole_set_back_by_its_sku(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Kassel-"), KASSEL)
    sofa, cushion = await world.sku("Sofa"), await world.sku("Cushion")
    sofa_set = unique_id("SET-")
    await cli.json("bundle", sofa_set, "--title", "Sofa with two cushions", "-c", f"{sofa}=1", "-c", f"{cushion}=2")
    await world.receive(store, sofa, 1)
    await world.receive(store, cushion, 2)
    sold = await cli.json("sell", f"{sofa_set}:1", "--store", store)

    back = await cli.json("return", sofa_set, "1", "--store", store, "--order", sold["order_id"])
    assert back["status"] == "RETURN_STATUS_RECEIVED"
    assert [(s["sku"], s["quantity"], s["restocked"]) for s in back["sets"]] == [(sofa_set, 1, 1)]
    assert {line["sku"]: line["restocked"] for line in back["lines"]} == {sofa: 1, cushion: 2}
    assert (await world.level(store, sofa)).on_hand == 1 and (await world.level(store, cushion)).on_hand == 2
    shown = await cli.run("returns", "show", back["return_id"])
    assert "Whole sets" in shown.stdout and sofa_set in shown.stdout


async def test_the_order_of_a_return_may_be_given_by_the_start_of_its_id(stack: Stack) -> None:
    """As everywhere an order id is taken (README: the first characters are enough): `returns create`,
    `returns list --order` and the till's `return --order` answered NOT_FOUND for the order's prefix."""
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Kassel-"), KASSEL)
    cushion = await world.sku("Cushion")
    await world.receive(store, cushion, 2)
    sold = await cli.json("sell", f"{cushion}:2", "--store", store)
    order_id = sold["order_id"]

    created = await cli.json("returns", "create", order_id[:8], f"{cushion}=1", "--at", store)
    assert created["order_id"] == order_id
    listed = await cli.json("returns", "list", "--order", order_id[:8])
    assert [r["return_id"] for r in listed["returns"]] == [created["return_id"]]
    till = await cli.json("return", cushion, "1", "--store", store, "--order", order_id[:8])
    assert till["order_id"] == order_id
