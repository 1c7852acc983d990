"""`omnistock order --hold`, `hold-order` and `release-order`, and how a held order and its waiting
task read in `order-status` and `tasks`."""

from __future__ import annotations

from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.cli.support import Cli, World
from tests.integration.cli.test_order_commands import KASSEL, pick_tasks

HOME = "51.32,9.50"


async def test_an_order_waits_for_its_payment_and_is_released_from_the_terminal(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    lamp = await world.sku("Lamp")
    await world.receive(warehouse, lamp, 2)

    placed = await cli.json("order", f"{lamp}:1", "--ship-to", HOME, "--hold", "payment-pending", "--hold-ttl", "2d")
    order_id = placed["order_id"]
    assert placed["on_hold"] is True and placed["holds"][0]["reason"] == "FULFILMENT_HOLD_REASON_PAYMENT_PENDING"
    shown = await cli.run("order-status", order_id)
    assert "payment pending, active: the whole order" in shown.stdout

    (task,) = await pick_tasks(stack, warehouse, order_id)
    listed = await cli.run("tasks", "--location", warehouse)
    assert "on hold: payment pending" in listed.stdout
    refused = await cli.run("pick", task.task_id, expect=1)
    assert "is on hold (payment pending)" in refused.stderr

    fraud = await cli.json("hold-order", order_id, "--reason", "fraud-review", "--role", "service")
    assert len(fraud["order"]["holds"]) == 2
    kept = await cli.run("release-order", order_id, "--note", "paid", expect=1)  # the fraud review is the office's
    assert "back office" in kept.stderr
    released = await cli.json("release-order", order_id, "--role", "admin", "--note", "paid and checked")
    assert released["on_hold"] is False

    async def unblocked() -> bool:
        return not (await pick_tasks(stack, warehouse, order_id))[0].hold_reason

    await eventually(unblocked)
    await cli.run("pick", task.task_id)
    bad = await cli.run("hold-order", order_id, "--reason", "because", expect=1)
    assert "unknown hold reason" in bad.stderr


async def test_hold_and_release_take_the_start_of_an_order_id(stack: Stack) -> None:
    """As show-order, cancel-order and edit-order do (README: the first characters are enough):
    hold-order and release-order sent the prefix as the id and answered NOT_FOUND."""
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Kassel-"), KASSEL, kind="warehouse")
    lamp = await world.sku("Lamp")
    await world.receive(warehouse, lamp, 1)
    order_id = (await cli.json("order", f"{lamp}:1", "--ship-to", HOME))["order_id"]

    held = await cli.json("hold-order", order_id[:8], "--reason", "payment-pending")
    assert held["order"]["order_id"] == order_id and held["order"]["on_hold"] is True
    released = await cli.json("release-order", order_id[:8], "--note", "paid")
    assert released["order_id"] == order_id and released["on_hold"] is False
