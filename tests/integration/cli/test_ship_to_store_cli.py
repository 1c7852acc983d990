"""`omnistock reserve --ship-to-store`: a store without the item reserves it all the same, the answer
says where it comes from and when it is expected; `omnistock verify` finds the reservation's units
held once while the transfer is a draft and once it is on the road, and names it when nothing keeps
them."""

from __future__ import annotations

from typing import Any

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World


def _about(report: dict[str, Any], *subjects: str) -> list[dict[str, Any]]:
    return [v for v in report["violations"] if any(s in v["subject"] or s in v["detail"] for s in subjects)]


async def test_reserve_ship_to_store_and_verify_the_units_are_held_once(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Bonn-"), (50.73, 7.10))
    warehouse = await world.location(unique_id("Bonn-"), (50.74, 7.09), kind="warehouse")
    sofa = await world.sku()
    await world.receive(warehouse, sofa, 3)

    shown = await cli.run("reserve", sofa, "--store", store, "--customer", "Ship Customer", "--ship-to-store")
    words = " ".join(shown.stdout.split())  # the title wraps with the terminal
    assert f"coming from {warehouse}, expected" in words
    reservation = await cli.json(
        "reserve", sofa, "--store", store, "--customer", "Ship Customer 2", "--ship-to-store", "--json"
    )
    assert reservation["status"] == "RESERVATION_STATUS_AWAITING_TRANSFER"
    assert reservation["transfer_origin_id"] == warehouse and reservation["promised_at"]
    ids = (reservation["reservation_id"], reservation["hold_id"], reservation["transfer_id"])
    card = await cli.run("transfer", "show", reservation["transfer_id"], "--role", "admin")
    assert f"reservation:{reservation['reservation_id']}" in " ".join(card.stdout.split())
    assert _about(await cli.json("verify", expect=None), *ids) == []

    inventory = stack.stub("inventory", role="admin")
    await inventory.ShipTransfer(
        ipb.ShipTransferRequest(request_id=unique_id(), transfer_id=reservation["transfer_id"])
    )
    assert _about(await cli.json("verify", expect=None), *ids) == []

    # Behind its back, the origin hold of the other one is released: nothing keeps its units now.
    listed = await cli.json(
        "reservations", "--store", store, "--status", "awaiting-transfer", "--json", "--role", "admin"
    )
    other = next(r for r in listed["reservations"] if r["reservation_id"] != reservation["reservation_id"])
    await inventory.ReleaseHold(ipb.ReleaseHoldRequest(request_id=unique_id(), hold_id=other["hold_id"]))
    broken = await cli.json("verify", expect=None)
    named = _about(broken, other["reservation_id"])
    assert [v["check"] for v in named] == ["reservation awaiting a transfer not held once"], broken


async def test_transfer_show_says_the_units_are_no_longer_held_for_a_cancelled_reservation(stack: Stack) -> None:
    """The transfer keeps the owner it was made for; once that reservation is cancelled, the card says
    the hold is over instead of "held for reservation:..."."""
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Bonn-"), (50.73, 7.10))
    warehouse = await world.location(unique_id("Bonn-"), (50.74, 7.09), kind="warehouse")
    sofa = await world.sku()
    await world.receive(warehouse, sofa, 1)
    reservation = await cli.json("reserve", sofa, "--store", store, "--customer", "Ship Customer", "--ship-to-store")
    owner = f"reservation:{reservation['reservation_id']}"
    await stack.stub("inventory", role="admin").ShipTransfer(
        ipb.ShipTransferRequest(request_id=unique_id(), transfer_id=reservation["transfer_id"])
    )
    card = " ".join((await cli.run("transfer", "show", reservation["transfer_id"], "--role", "admin")).stdout.split())
    assert f"held for {owner} (hold " in card, card

    await cli.json("cancel-reservation", reservation["reservation_id"], "--reason", "changed her mind")

    shown = await cli.run("transfer", "show", reservation["transfer_id"], "--role", "admin")
    card = " ".join(shown.stdout.split())
    assert f"held for {owner}" not in card, card
    assert f"held for no one: {owner} is cancelled; the units are no longer held for it" in card, card
