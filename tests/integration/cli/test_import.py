"""`omnistock import`: a retailer's own CSV files, checked row by row, loaded all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World


def write(folder: Path, name: str, *lines: str) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def missing(call: object, request: object) -> bool:
    try:
        await call(request)  # type: ignore[operator]
    except grpc.aio.AioRpcError as error:
        return error.code() == grpc.StatusCode.NOT_FOUND
    return False


async def test_good_files_load_and_loading_again_changes_nothing(stack: Stack, tmp_path: Path) -> None:
    world, cli = World(stack), Cli(stack)
    inventory = stack.stub("inventory", role="admin")
    city = unique_id("Aachen-")
    store, warehouse = unique_id("STORE-AC-"), unique_id("WH-AC-")
    sofa, chair = unique_id("SOFA-"), unique_id("CHAIR-")
    existing = await world.sku("Lamp")  # already in inventory, not in the file
    locations = write(
        tmp_path,
        "locations.csv",
        "location_id,name,kind,city,latitude,longitude,routing_rank,ships,pickup,till_sales",
        f"{store},Aachen Dom,store,{city},50.7753,6.0839,10,false,true,true",
        f"{warehouse},Aachen Lager,warehouse,{city},50.80,6.10,5,true,false,false",
    )
    skus = write(
        tmp_path,
        "skus.csv",
        "sku,title,category,colour,size,material,price_minor,currency,model",
        f'{sofa},"Velvet sofa, green",sofa,green,3-seater,velvet,129900,EUR,aurora',
        f"{chair},Oak chair,chair,natural,dining,oak,14900,EUR,",
    )
    stock = write(
        tmp_path,
        "stock.csv",
        "location_id,sku,on_hand,safety_stock",
        f"{store},{sofa},1,0",
        f"{warehouse},{chair},12,2",
        f"{store},{existing},4,1",
    )
    args = ["import", "--locations", str(locations), "--skus", str(skus), "--stock", str(stock)]

    loaded = await cli.json(*args)
    assert loaded == {
        "loaded": True,
        "skipped": False,
        "locations": 2,
        "skus": 2,
        "stock_rows": 3,
        "units_received": 17,
        "rows_above_file": 0,
    }
    place = (await inventory.GetLocation(ipb.GetLocationRequest(location_id=warehouse))).location
    assert (place.kind, place.city, place.ships, place.pickup) == (ipb.LOCATION_KIND_WAREHOUSE, city, True, False)
    item = (await inventory.GetSku(ipb.GetSkuRequest(sku=sofa))).sku
    assert dict(item.attributes) == {
        "category": "sofa",
        "colour": "green",
        "size": "3-seater",
        "material": "velvet",
        "model": "aurora",
    }
    assert (item.title, item.price_minor) == ("Velvet sofa, green", 129900)
    level = await world.level(warehouse, chair)
    assert (level.on_hand, level.safety_stock) == (12, 2)
    assert (await world.level(store, existing)).on_hand == 4

    again = await cli.json(*args)
    assert again["loaded"] and again["units_received"] == 0
    assert (await world.level(warehouse, chair)).on_hand == 12

    # Another admin loads the same files (as `omnistock seed --force` does after `make run` seeded as
    # its own caller): request ids are bound to their caller, so each derives its own.
    other = stack.token("admin", subject=unique_id("back-office-"))
    by_another = await cli.json(*args, env={"OMNISTOCK_TOKEN": other})
    assert by_another["loaded"] and by_another["units_received"] == 0
    assert (await world.level(warehouse, chair)).on_hand == 12

    shown = await cli.run(*args)
    assert "Imported 2 locations, 2 SKUs and 3 stock rows (0 units received)" in shown.stdout


async def test_one_bad_row_loads_nothing_and_is_named_by_file_line_and_field(stack: Stack, tmp_path: Path) -> None:
    cli = Cli(stack)
    inventory = stack.stub("inventory", role="admin")
    good_store, bad_store = unique_id("STORE-"), unique_id("STORE-")
    sofa = unique_id("SOFA-")
    locations = write(
        tmp_path,
        "locations.csv",
        "location_id,name,kind,city,latitude,longitude",
        f"{good_store},Good store,store,Trier,49.75,6.64",
        f"{bad_store},Bad store,store,Trier,95.0,6.64",
    )
    skus = write(tmp_path, "skus.csv", "sku,title,price_minor", f"{sofa},Velvet sofa,129900")
    stock = write(tmp_path, "stock.csv", "location_id,sku,on_hand", f"{good_store},{sofa},3")
    args = ["import", "--locations", str(locations), "--skus", str(skus), "--stock", str(stock)]

    refused = await cli.run(*args, expect=1)
    assert "1 problem(s): nothing was loaded" in refused.stdout
    assert str(locations) in refused.stdout and "latitude" in refused.stdout
    assert "must be between -90 and 90, not 95.0" in refused.stdout
    as_json = json.loads((await cli.run(*args, "--json", expect=1)).stdout)
    assert as_json == {
        "loaded": False,
        "problems": [
            {"file": str(locations), "line": 3, "field": "latitude", "message": "must be between -90 and 90, not 95.0"}
        ],
    }
    assert await missing(inventory.GetLocation, ipb.GetLocationRequest(location_id=good_store))
    assert await missing(inventory.GetSku, ipb.GetSkuRequest(sku=sofa))


@pytest.mark.parametrize(
    ("header", "row", "line", "field", "message"),
    [
        ("location_id,sku,on_hand", "{store},{unknown},1", 2, "sku", "is in neither the sku file nor inventory"),
        ("location_id,sku,on_hand", "{store},{sofa},-1", 2, "on_hand", "must be between 0 and 1000000, not -1"),
        ("location_id,sku,on_hand", "{store},{sofa},two", 2, "on_hand", "'two' is not a whole number"),
        ("location_id,sku", "{store},{sofa}", 1, "on_hand", "required column missing from the header"),
    ],
)
async def test_every_bad_stock_row_is_reported(
    stack: Stack, tmp_path: Path, header: str, row: str, line: int, field: str, message: str
) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Trier-"), (49.75, 6.64))
    sofa = await world.sku()
    good_row = f"{store},{sofa},5"
    text = row.format(store=store, sofa=sofa, unknown=unique_id("NOPE-"))
    stock = write(tmp_path, "stock.csv", header, good_row if line == 2 else "", text)
    if line == 2:  # the bad row is the second data row: line 3
        line = 3
    refused = json.loads((await cli.run("import", "--stock", str(stock), "--json", expect=1)).stdout)
    assert [
        (problem["file"], problem["line"], problem["field"])
        for problem in refused["problems"]
        if message in problem["message"]
    ] == [(str(stock), line, field)]
    assert (await world.level(store, sofa)).on_hand == 0  # the good row was not loaded either

    checked = await cli.run("import", "--stock", str(stock), "--check", expect=1)
    assert message in checked.stdout


async def test_a_set_named_in_the_files_is_a_problem_and_nothing_is_loaded(stack: Stack, tmp_path: Path) -> None:
    """A set (bundle) has no stock of its own, and the sku file cannot say its components: a stock row
    of a set, or a sku row that would load a set as a plain SKU, is named, the check says so, and
    nothing is loaded (not the good rows before it, nor the set turned into a plain SKU)."""
    world, cli = World(stack), Cli(stack)
    inventory = stack.stub("inventory", role="admin")
    store = await world.location(unique_id("Trier-"), (49.75, 6.64))
    sofa, cushion = await world.sku(), await world.sku()
    bundle = await define_set(inventory, {sofa: 1, cushion: 2})
    skus = write(tmp_path, "skus.csv", "sku,title,price_minor", f"{bundle},Sofa set,139900")
    stock = write(tmp_path, "stock.csv", "location_id,sku,on_hand", f"{store},{sofa},5", f"{store},{bundle},3")

    for args in (["--stock", str(stock)], ["--skus", str(skus)]):
        checked = json.loads((await cli.run("import", *args, "--check", "--json", expect=1)).stdout)
        refused = json.loads((await cli.run("import", *args, "--json", expect=1)).stdout)
        for found in (checked, refused):
            assert [(p["file"], p["line"], p["field"]) for p in found["problems"]] == [
                (args[1], 2 + args[1].endswith("stock.csv"), "sku")
            ]
            assert "set" in found["problems"][0]["message"]
    assert (await world.level(store, sofa)).on_hand == 0
    kept = (await inventory.GetSku(ipb.GetSkuRequest(sku=bundle))).sku
    assert {c.sku: c.quantity for c in kept.components} == {sofa: 1, cushion: 2}
