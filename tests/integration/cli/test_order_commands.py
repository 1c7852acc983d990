"""`omnistock quote / order / orders / order-status / cancel-order`, the warehouse's side
(`tasks`, `pick` with a short pick, `pack`, `ship`) and the till (`sell`, `return`)."""

from __future__ import annotations

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.cli.support import Cli, World

KASSEL = (51.3127, 9.4797)
GOETTINGEN = (51.5413, 9.9158)
HOME = "51.32,9.50"


async def pick_tasks(stack: Stack, location: str, order_id: str) -> list[fpb.Task]:
    staff = stack.stub("fulfilment", role="warehouse", locations=[location])

    async def probe() -> list[fpb.Task]:
        reply = await staff.ListTasks(fpb.ListTasksRequest(location_id=location))
        return [task for task in reply.tasks if task.order_id == order_id]

    return list(await eventually(probe))


async def test_quote_explains_the_plan_and_every_location_passed_over(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    near = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    far = await world.location(unique_id("Goettingen-"), GOETTINGEN, kind="warehouse")
    empty = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse", rank=50)
    table, chair = await world.sku("Table"), await world.sku("Chair")
    await world.receive(near, table, 2)
    await world.receive(far, table, 2)
    await world.receive(far, chair, 4)
    await world.receive(empty, chair, 0 + 1)

    plan = await cli.json("quote", f"{table}:1", f"{chair}:2", "--ship-to", HOME)
    assert plan["complete"] is True
    assert [(a["location_id"], sorted(line["sku"] for line in a["lines"])) for a in plan["allocations"]] == [
        (far, sorted([table, chair]))
    ]
    passed = {item["location_id"]: item["reason"] for item in plan["passed_over"]}
    assert near in passed and empty in passed
    shown = await cli.run("quote", f"{table}:1", f"{chair}:2", "--ship-to", HOME)
    assert "passed over" in shown.stdout and far in shown.stdout and near in shown.stdout

    nowhere = await cli.run("quote", f"{table}:100", "--ship-to", HOME, expect=None)
    assert nowhere.exit_code == 1
    missing = await cli.run("quote", f"{table}:1", expect=1)
    assert "--ship-to LAT,LON or --store STORE" in missing.stderr
    bad_item = await cli.run("quote", f"{table}:none", "--ship-to", HOME, expect=None)
    assert bad_item.exit_code != 0


async def test_an_order_is_shipped_from_the_warehouse_after_a_short_pick(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    first = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    second = await world.location(unique_id("Goettingen-"), GOETTINGEN, kind="warehouse")
    lamp = await world.sku("Lamp")
    await world.receive(first, lamp, 2)
    await world.receive(second, lamp, 2)

    order = await cli.json("order", f"{lamp}:2", "--ship-to", HOME, "--customer", "Ada Lovelace")
    assert order["status"] == "ORDER_STATUS_ALLOCATED" and order["method"] == "FULFILMENT_METHOD_SHIP"
    assert [a["location_id"] for a in order["allocations"]] == [first]
    order_id = order["order_id"]

    # The warehouse finds only one of the two: a short pick; the missing one is routed elsewhere.
    (task,) = await pick_tasks(stack, first, order_id)
    tasks = await cli.json("tasks", "--location", first, "--order", order_id)
    assert [t["task_id"] for t in tasks["tasks"]] == [task.task_id]
    picked = await cli.json("pick", task.task_id, "--found", f"{lamp}:1")
    assert picked["short"] == [{"sku": lamp, "quantity": 1}]
    await cli.json("pack", task.task_id)
    shipped = await cli.json("ship", task.task_id, "--carrier", "DHL", "--tracking", "JD0001")
    assert shipped["status"] == "TASK_STATUS_SHIPPED" and shipped["tracking_number"] == "JD0001"

    (rerouted,) = await pick_tasks(stack, second, order_id)
    await cli.json("pick", rerouted.task_id)
    await cli.json("pack", rerouted.task_id)
    await cli.json("ship", rerouted.task_id, "--carrier", "DHL", "--tracking", "JD0002")

    async def completed() -> bool:
        status = await cli.json("show-order", order_id)
        return bool(status["status"] == "ORDER_STATUS_COMPLETED")

    await eventually(completed)
    shown = await cli.run("show-order", order_id)
    assert "completed" in shown.stdout and first in shown.stdout and second in shown.stdout
    listed = await cli.json("orders", "--customer", "Ada Lovelace", "--status", "completed")
    assert order_id in [item["order_id"] for item in listed["orders"]]
    # An order keeps only its customer's id: an empty answer says which id a name gave.
    stranger = f"Ada {unique_id('Nobody')}"
    none = await cli.run("orders", "--customer", stranger)
    assert "No orders of CUST-" in none.stdout and f"the id '{stranger}' gives" in " ".join(none.stdout.split())


async def test_a_pick_that_found_none_of_a_sku_is_a_short_pick_with_its_reason(stack: Stack) -> None:
    """The commonest short pick is an empty bin: `--found SKU:0` says so (it was refused as not a
    positive quantity, so staff could not report it), `--reason` goes to the ledger's write-off, and
    `SKU=QTY`, as returns and transfers write it, is read as SKU:QTY (it was sent as a SKU named
    'SKU=QTY' and refused for picked[0].sku)."""
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    lamp, chair, table = await world.sku("Lamp"), await world.sku("Chair"), await world.sku("Table")
    for sku in (lamp, chair, table):
        await world.receive(warehouse, sku, 2)

    order = await cli.json("order", f"{lamp}:2", f"{chair}:2", f"{table}:2", "--ship-to", HOME)
    (task,) = await pick_tasks(stack, warehouse, order["order_id"])
    picked = await cli.json(
        "pick", task.task_id, "--found", f"{lamp}:0", "--found", f"{chair}=1", "--reason", "bin empty"
    )
    assert sorted((s["sku"], s["quantity"]) for s in picked["short"]) == sorted([(lamp, 2), (chair, 1)])
    assert picked["task"]["status"] == "TASK_STATUS_PICKED"
    assert (await world.level(warehouse, lamp)).on_hand == 0
    assert (await world.level(warehouse, chair)).on_hand == 1
    movements = await stack.stub("inventory").ListMovements(ipb.ListMovementsRequest(location_id=warehouse, sku=lamp))
    assert any("bin empty" in movement.reason for movement in movements.movements)

    negative = await cli.run("pick", task.task_id, "--found", f"{table}:-1", expect=1)
    assert "is not SKU:QTY with a quantity of at least 0" in negative.stderr


async def test_a_shortfall_and_a_cancelled_order(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    chair = await world.sku("Chair")
    await world.receive(warehouse, chair, 1)

    refused = await cli.run("order", f"{chair}:3", "--ship-to", HOME, expect=1)
    assert "FAILED_PRECONDITION" in refused.stderr and f"short: {chair}" in refused.stderr
    assert "Traceback" not in refused.stderr

    order = await cli.json("order", f"{chair}:1", "--ship-to", HOME)
    assert (await world.level(warehouse, chair)).held == 1
    shown = await cli.run("show-order", order["order_id"])
    assert "delivered " in shown.stdout
    cancelled = await cli.json("cancel-order", order["order_id"], "--reason", "duplicate")
    assert cancelled["status"] == "ORDER_STATUS_CANCELLED"
    assert (await world.level(warehouse, chair)).held == 0
    # Staff reading it are not told a delivery day for an order that will never come.
    shown = await cli.run("show-order", order["order_id"])
    assert "cancelled" in shown.stdout and "delivered " not in shown.stdout, shown.stdout


async def test_sell_at_the_till_and_take_a_return(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Kassel-"), KASSEL)
    other = await world.location(unique_id("Goettingen-"), GOETTINGEN)
    tee = await world.sku("T-shirt", size="M")
    await world.receive(store, tee, 3, safety_stock=2)

    # The till may sell into safety stock: the shirt is in front of the customer.
    sold = await cli.json("sell", f"{tee}:3", "--store", store)
    assert sold["method"] == "FULFILMENT_METHOD_CARRY_OUT" and sold["channel"] == "CHANNEL_POS"
    assert sold["status"] == "ORDER_STATUS_COMPLETED"
    assert (await world.level(store, tee)).on_hand == 0
    empty = await cli.run("sell", f"{tee}:1", "--store", store, expect=1)
    assert f"short: {tee} at {store}" in empty.stderr
    elsewhere = await cli.run("sell", f"{tee}:1", "--store", store, "--role", "pos", "--works-at", other, expect=1)
    assert "PERMISSION_DENIED" in elsewhere.stderr

    await cli.run("return", tee, "1", "--store", store, "--ref", sold["order_id"])
    assert (await world.level(store, tee)).on_hand == 1
    # A till of another store cannot book a return here.
    foreign = await cli.run("return", tee, "1", "--store", store, "--role", "pos", "--works-at", other, expect=1)
    assert "PERMISSION_DENIED" in foreign.stderr
