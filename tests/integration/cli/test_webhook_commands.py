"""`omnistock webhooks ...` against the test stack and a receiver on loopback: subscribe, see the
delivery log, replay dead letters, rotate the secret, and clean up."""

from __future__ import annotations

from typing import Any

from omnistock_platform.testing.stack import Stack
from omnistock_platform.testing.waiting import wait_until
from tests.integration.cli.support import Cli
from tests.integration.reservations.support import World
from tests.integration.webhooks.receiver import Receiver


async def test_subscribe_watch_the_log_replay_and_delete(stack: Stack) -> None:
    cli, world, receiver = Cli(stack), World(stack), Receiver().start()
    created = await cli.json(
        "webhooks", "create", receiver.url, "--event", "inventory.stock.changed", "--max-attempts", "1"
    )
    subscription, receiver.secret = created["subscription_id"], created["secret"]
    assert created["secret"].startswith("whsec_") and created["event_types"] == ["inventory.stock.changed"]
    shown = await cli.run("webhooks", "show", subscription)
    assert receiver.url in shown.stdout and created["secret"] not in shown.stdout
    try:
        receiver.status = 503
        store, sku = await world.store(), await world.sku()
        await world.receive(store, sku, 1)

        async def dead() -> list[dict[str, object]]:
            log = await cli.json("webhooks", "deliveries", subscription, "--state", "dead")
            return [d for d in log["deliveries"] if sku in str(d["ordering_key"])]

        async def one_dead() -> bool:
            return len(await dead()) == 1

        await wait_until(one_dead, what="the delivery dead after its one attempt")
        (letter,) = await dead()
        assert letter["attempts"][0]["status_code"] == 503  # type: ignore[index]
        table = await cli.run("webhooks", "deliveries", subscription, "--state", "dead")
        assert "HTTP 503" in table.stdout and "dead" in table.stdout

        receiver.status = None
        replayed = await cli.run("webhooks", "replay", subscription, str(letter["delivery_id"]))
        assert "1 dead deliveries queued again" in replayed.stdout
        await wait_until(lambda: any(sku in r.body.decode() for r in receiver.accepted()), what="the replay")

        rotated = await cli.json("webhooks", "rotate-secret", subscription, "--keep-previous", "0")
        assert rotated["secret"] != created["secret"] and "previous_secret_expire_time" not in rotated
        paused = await cli.json("webhooks", "update", subscription, "--pause", "--description", "ERP")
        assert paused["paused"] is True and paused["description"] == "ERP"
        listed = await cli.json("webhooks", "list")
        assert subscription in [s["subscription_id"] for s in listed["subscriptions"]]
        catalogue = await cli.json("webhooks", "events")
        assert "inventory.stock.changed" in [t["type"] for t in catalogue["event_types"]]
        refused = await cli.run("webhooks", "create", "http://10.0.0.1/x", "--event", ">", expect=1)
        assert "INVALID_ARGUMENT" in refused.stderr + refused.stdout
    finally:
        receiver.stop()
        await cli.run("webhooks", "delete", subscription)
    gone = await cli.run("webhooks", "show", subscription, expect=1)
    assert "NOT_FOUND" in gone.stderr + gone.stdout


async def test_a_delivery_behind_the_head_of_its_queue_says_so(stack: Stack) -> None:
    cli, world, receiver = Cli(stack), World(stack), Receiver().start()
    created = await cli.json(
        "webhooks", "create", receiver.url, "--event", "inventory.stock.changed", "--max-attempts", "20"
    )
    subscription, receiver.secret = created["subscription_id"], created["secret"]
    try:
        receiver.status = 503  # the first delivery of the key fails and waits for its next attempt
        store, sku = await world.store(), await world.sku()
        await world.receive(store, sku, 1)
        await world.receive(store, sku, 1)

        async def pending() -> list[dict[str, Any]]:
            log = await cli.json("webhooks", "deliveries", subscription, "--state", "pending")
            return [d for d in log["deliveries"] if sku in str(d["ordering_key"])]

        async def head_tried_and_one_behind() -> bool:
            found = await pending()
            return len(found) == 2 and bool(found[-1]["attempts"])

        await wait_until(head_tried_and_one_behind, what="the head of the queue tried, the next behind it")
        behind, head = await pending()  # newest first
        assert behind["waiting_for_earlier"] is True and not behind.get("next_attempt_time")
        assert head["waiting_for_earlier"] is False and head["next_attempt_time"]
        table = await cli.run("webhooks", "deliveries", subscription, "--state", "pending")
        rows = [line.split("│") for line in table.stdout.splitlines()]
        (row,) = [
            "│".join(cells) for cells in rows if len(cells) > 2 and cells[1].strip() == str(behind["delivery_id"])
        ]
        assert "after the earlier delivery of its key" in row
        assert "passed" not in table.stdout and "in 0h 0m" not in table.stdout
    finally:
        receiver.stop()
        await cli.run("webhooks", "delete", subscription)
