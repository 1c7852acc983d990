"""A chat agent asks for "the green sofa with two cushions": the set has a SKU of its own, the
agent sees how many whole sets each store can hand over (and what each part has), and reserving
the set holds the sofa and both cushions at that store, together."""

from __future__ import annotations

from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import Stack, unique_id
from tests.e2e.mcp_support import call, refusal, stdio_server
from tests.integration.cli.support import World
from tests.integration.orders.support import ship_request

MITTE = (52.5200, 13.4050)
KREUZBERG = (52.4990, 13.4030)


async def test_the_agent_reserves_a_sofa_with_two_cushions_as_one_set(stack: Stack) -> None:
    world = World(stack)
    city = unique_id("Berlin-")
    model = unique_id("velvet-").lower()
    mitte = await world.location(city, MITTE, name="Mitte")
    kreuzberg = await world.location(city, KREUZBERG, name="Kreuzberg", rank=20)
    sofa = await world.sku("Velvet sofa, green", colour="green", category="sofa", model=model)
    cushion = await world.sku("Velvet cushion, green", colour="green", category="cushion", model=model)
    sofa_set = unique_id("SET-")
    await define_set(
        world.inventory,
        {sofa: 1, cushion: 2},
        sku=sofa_set,
        title="Velvet sofa, green, with two cushions",
        price_minor=139900,
        currency="EUR",
        attributes={"colour": "green", "category": "sofa", "model": model},
    )
    await world.receive(mitte, sofa, 1)
    await world.receive(mitte, cushion, 1)  # a sofa, but one cushion only: no set at Mitte
    await world.receive(kreuzberg, sofa, 1)
    await world.receive(kreuzberg, cushion, 2)

    async with stdio_server(stack) as agent:
        # The agent looks for green sofas and recognises the set by what it is made of.
        found = await call(agent, "search_skus", text="velvet sofa", colour="green", attributes={"model": model})
        sets = {sku["sku"]: sku["bundle_of"] for sku in found["skus"] if sku["bundle_of"]}
        assert sorted(sku["sku"] for sku in found["skus"]) == sorted([sofa, sofa_set])
        assert {(part["sku"], part["quantity"]) for part in sets[sofa_set]} == {(sofa, 1), (cushion, 2)}

        nearby = await call(agent, "find_stock_nearby", sku=sofa_set, city=city, radius_km=30)
        assert [(store["store_id"], store["available"]) for store in nearby["stores"]] == [(kreuzberg, 1)]
        parts = {part["sku"]: (part["per_set"], part["available"]) for part in nearby["stores"][0]["parts"]}
        assert parts == {sofa: (1, 1), cushion: (2, 2)}
        assert "Kreuzberg" in nearby["summary"] and "set" in nearby["summary"]

        asked = {"sku": sofa_set, "store_id": mitte, "customer_name": "Ada Lovelace", "email": "ada@example.com"}
        sorry = await refusal(agent, "reserve_for_pickup", **asked)
        assert sofa_set in sorry and "Mitte" in sorry
        reserved = await call(agent, "reserve_for_pickup", **{**asked, "store_id": kreuzberg})
        assert reserved["status"] == "active"

    assert [(await world.level(kreuzberg, sku)).held for sku in (sofa, cushion)] == [1, 2]
    assert [(await world.level(mitte, sku)).held for sku in (sofa, cushion)] == [0, 0]


async def test_the_agent_sees_a_split_set_once_with_the_parts_it_is_taken_as(stack: Stack) -> None:
    world = World(stack)
    city = unique_id("Berlin-")
    warehouse = await world.location(city, MITTE, name="Warehouse", kind="warehouse")
    other = await world.location(city, KREUZBERG, name="Second warehouse", kind="warehouse")
    sofa, cushion = await world.sku("Velvet sofa, green"), await world.sku("Velvet cushion, green")
    sofa_set = await define_set(
        world.inventory, {sofa: 1, cushion: 2}, price_minor=139900, currency="EUR", allow_split=True
    )
    await world.receive(warehouse, sofa, 1)
    await world.receive(other, cushion, 2)  # the sofa at one warehouse, the cushions at the other
    order = (await stack.stub("orders", role="storefront").CreateOrder(ship_request([(sofa_set, 1)]))).order

    async with stdio_server(stack) as agent:
        status = await call(agent, "order_status", order_id=order.order_id)
    assert {(line["sku"], line["quantity"], line["part_of"]) for line in status["lines"]} == {
        (sofa, 1, sofa_set),
        (cushion, 2, sofa_set),
    }
    assert f"1 x {sofa_set} (" in status["summary"] and f"2 x {cushion}" in status["summary"]
    assert status["total"] == "1399.00 EUR"
