"""`omnistock bundle` and bundles in `omnistock skus` / `omnistock stock`."""

from __future__ import annotations

from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World

BERLIN = (52.52, 13.405)


async def test_a_bundle_is_defined_listed_and_shows_its_sets_in_stock(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    city = unique_id("Berlin-")
    store = await world.location(city, BERLIN, name="Mitte")
    model = unique_id("model-").lower()
    sofa, cushion = await world.sku("Green sofa", model=model), await world.sku("Green cushion", model=model)
    await world.receive(store, sofa, 3)
    await world.receive(store, cushion, 5)
    sku = unique_id("SET-")

    made = await cli.json(
        "bundle", sku, "--title", "Green sofa with two cushions", "-c", f"{sofa}=1", "-c", f"{cushion}=2"
    )
    assert {(c["sku"], c["quantity"]) for c in made["sku"]["components"]} == {(sofa, 1), (cushion, 2)}
    assert made["sku"].get("allow_split", False) is False

    shown = await cli.run("skus", "Green sofa with two cushions")
    assert sku in shown.stdout and f"2 x {cushion}" in shown.stdout

    stock = await cli.json("stock", sku)
    assert [(level["location_id"], level["available"], level["bundle"]) for level in stock["levels"]] == [
        (store, 2, True)
    ]

    # Redefined with splitting allowed: the title stays.
    again = await cli.json("bundle", sku, "-c", f"{sofa}=1", "-c", f"{cushion}=1", "--allow-split")
    assert again["sku"]["title"] == "Green sofa with two cushions" and again["sku"]["allow_split"] is True

    wrong = await cli.run("bundle", sku, "-c", f"{sofa}=zero", expect=1)
    assert "is not SKU=QTY" in wrong.stderr
    nested = await cli.run("bundle", unique_id("SET-"), "--title", "Nested", "-c", f"{sku}=1", expect=None)
    assert nested.exit_code != 0 and "bundles do not nest" in nested.stderr
