"""`omnistock reserve / reservations / reservation / extend / cancel / collect`, and the branch's
side of a pickup (`tasks`, `pick`, `ready`, `handover`), against the running services."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.cli.support import Cli, World
from tests.integration.promise_support import midday_zone

ERFURT = (50.9787, 11.0328)
WEIMAR = (50.9795, 11.3235)


def expiry(reservation: dict[str, str]) -> datetime:
    return datetime.fromisoformat(reservation["expires_at"].replace("Z", "+00:00")).astimezone(UTC)


async def pickup_task(stack: Stack, store: str, reservation_id: str) -> fpb.Task:
    staff = stack.stub("fulfilment", role="pos", locations=[store])

    async def probe() -> fpb.Task | None:
        reply = await staff.ListTasks(fpb.ListTasksRequest(location_id=store))
        return next((task for task in reply.tasks if task.reservation_id == reservation_id), None)

    return await eventually(probe)


async def test_reserve_then_collect_at_the_till(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Erfurt-"), ERFURT)
    sofa = await world.sku(colour="green")
    await world.receive(store, sofa, 1)
    email = f"{unique_id('ada').lower()}@example.com"

    made = await cli.json("reserve", sofa, "--store", store, "--customer", "Ada Lovelace", "--email", email)
    assert made["status"] == "RESERVATION_STATUS_ACTIVE" and made["channel"] == "CHANNEL_CHAT"
    assert made["store_id"] == store and made["lines"] == [{"sku": sofa, "quantity": 1}]
    assert len(made["pickup_code"]) >= 4 and made["customer"]["customer_id"].startswith("CUST-")
    reservation_id = made["reservation_id"]

    shown = await cli.run("show-reservation", reservation_id)
    assert made["pickup_code"] in shown.stdout and "active" in shown.stdout and "Ada Lovelace" in shown.stdout

    # The branch's staff see it, the chat agent finds it by the customer's e-mail.
    listed = await cli.json("reservations", "--store", store)
    assert [item["reservation_id"] for item in listed["reservations"]] == [reservation_id]
    mine = await cli.json("reservations", "--customer", email, "--status", "active")
    assert [item["reservation_id"] for item in mine["reservations"]] == [reservation_id]

    longer = await cli.json("extend-reservation", reservation_id, "--by", "1d")
    assert (expiry(longer) - expiry(made)).total_seconds() == 86400

    # The branch prepares it: the pickup task, picked and put at the desk.
    task = await pickup_task(stack, store, reservation_id)
    tasks = await cli.json("tasks", "--location", store, "--reservation", reservation_id)
    assert [(t["task_id"], t["kind"]) for t in tasks["tasks"]] == [(task.task_id, "TASK_KIND_PICKUP_PREPARATION")]
    live = await cli.run("tasks", "--location", store, "--watch", "--timeout", "2s", "--json")
    snapshot = json.loads(live.stdout.splitlines()[0])
    assert snapshot["snapshot"] and task.task_id in [t["task_id"] for t in snapshot["tasks"]]
    started = await cli.json("pick", task.task_id)
    assert started["task"]["status"] == "TASK_STATUS_PICKING"
    ready = await cli.json("ready", task.task_id)
    assert ready["status"] == "TASK_STATUS_READY_FOR_PICKUP"
    assert (await cli.json("show-reservation", reservation_id))["status"] == "RESERVATION_STATUS_READY_FOR_PICKUP"

    # Another store's clerk may not collect it; the branch's till does.
    other = await world.location(unique_id("Weimar-"), WEIMAR)
    wrong = await cli.run(
        "collect", made["pickup_code"], "--store", store, "--role", "pos", "--works-at", other, expect=1
    )
    assert "PERMISSION_DENIED" in wrong.stderr
    collected = await cli.json("collect", made["pickup_code"].lower(), "--store", store)
    assert collected["status"] == "RESERVATION_STATUS_COLLECTED"
    level = await world.level(store, sofa)
    assert (level.on_hand, level.held) == (0, 0)


async def test_a_shortfall_names_the_store_what_is_left_and_where_else(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    city = unique_id("Erfurt-")
    store = await world.location(city, ERFURT, name="Erfurt branch")
    other = await world.location(unique_id("Weimar-"), WEIMAR, name="Weimar branch")
    sofa = await world.sku(colour="green")
    await world.receive(store, sofa, 1)
    await world.receive(other, sofa, 2)
    await cli.run("reserve", sofa, "--store", store, "--customer", "First Customer")

    refused = await cli.run("reserve", sofa, "--store", store, "--customer", "Second Customer", expect=1)
    said = refused.stderr
    assert "FAILED_PRECONDITION" in said and "Traceback" not in said
    assert f"short: {sofa} at {store}: requested 1, available 0" in said
    assert "alternative: Weimar branch" in said and f"{sofa} x2" in said

    as_json = await cli.run("reserve", sofa, "--store", store, "--customer", "Second Customer", "--json", expect=1)
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == "FAILED_PRECONDITION"
    assert error["shortfall"]["lines"] == [{"location_id": store, "sku": sofa, "requested": 1, "available": 0}]
    assert error["shortfall"]["alternatives"][0]["location_id"] == other


async def test_cancel_gives_the_units_back_and_handover_completes_a_pickup(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Gotha-"), (50.95, 10.70))
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 2)

    first = await cli.json(
        "reserve", lamp, "--store", store, "--customer", "Grace Hopper", "--qty", "2", "--hold-for", "3d"
    )
    assert (await world.level(store, lamp)).held == 2
    cancelled = await cli.json("cancel-reservation", first["reservation_id"], "--reason", "changed her mind")
    assert cancelled["status"] == "RESERVATION_STATUS_CANCELLED" and cancelled["cancel_reason"] == "changed her mind"
    assert (await world.level(store, lamp)).held == 0
    # Cancelled, it no longer runs out: the card says when it closed, not that it expires in 3 days.
    shown = (await cli.run("show-reservation", first["reservation_id"])).stdout
    assert "closed" in shown and "expires" not in shown and "(in " not in shown
    gone = await cli.run("cancel-reservation", unique_id("missing-"), expect=1)
    assert "NOT_FOUND" in gone.stderr

    second = await cli.json(
        "reserve", lamp, "--store", store, "--customer", "Grace Hopper", "--phone", "+49 361 123456"
    )
    await pickup_task(stack, store, second["reservation_id"])
    handed = await cli.json("handover", second["pickup_code"], "--store", store)
    assert handed["status"] == "TASK_STATUS_HANDED_OVER"
    reservation = stack.stub("reservations", role="admin")
    current = await reservation.GetReservation(rpb.GetReservationRequest(reservation_id=second["reservation_id"]))
    assert current.reservation.status == rpb.RESERVATION_STATUS_COLLECTED
    assert (await world.level(store, lamp)).on_hand == 1


async def test_a_closed_reservation_shows_no_pickup_time(stack: Stack) -> None:
    """Staff reading a cancelled reservation are not told when the customer may collect it."""
    world, cli = World(stack), Cli(stack)
    city = unique_id("Gotha-")
    store = await world.location(city, (50.95, 10.70))
    await cli.run(
        "locations", "promise", store, "--time-zone", midday_zone(), "--hours", "mon-sun=08:00-20:00",
        "--preparation", "60", "--cutoff", "00:00",
    )  # fmt: skip
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 1)
    made = await cli.json("reserve", lamp, "--store", store, "--customer", "Grace Hopper")
    words = f"ready for pickup at {city} {store} tomorrow from 09:00"
    assert made["promise"]["wording"] == words
    assert words in (await cli.run("show-reservation", made["reservation_id"])).stdout

    await cli.json("cancel-reservation", made["reservation_id"], "--reason", "changed her mind")

    shown = (await cli.run("show-reservation", made["reservation_id"])).stdout
    assert "cancelled" in shown and "ready for pickup" not in shown and "when" not in shown, shown
    # --json still gives the reservation as stored.
    assert (await cli.json("show-reservation", made["reservation_id"]))["promise"]["wording"] == words


async def test_an_order_from_a_reservation_is_the_reservations_customers_without_naming_them(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Weimar-"), (50.98, 11.33))
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 1)
    made = await cli.json("reserve", lamp, "--store", store, "--customer", "Ada Lovelace")

    placed = await cli.json("order", "--reservation", made["reservation_id"], "--store", store)
    assert placed["reservation_id"] == made["reservation_id"]
    assert placed["customer_id"] == made["customer"]["customer_id"]
    converted = await stack.stub("reservations", role="admin").GetReservation(
        rpb.GetReservationRequest(reservation_id=made["reservation_id"])
    )
    assert converted.reservation.status == rpb.RESERVATION_STATUS_CONVERTED


async def test_a_customer_is_found_by_any_contact_the_reservation_was_made_with(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Erfurt-"), ERFURT)
    sofa = await world.sku(colour="green")
    await world.receive(store, sofa, 1)
    name = f"Ada {unique_id('Lovelace')}"
    email = f"{unique_id('ada').lower()}@example.com"
    phone = f"+49 361 {int(unique_id('')[-6:], 16) % 1_000_000:06d}"
    made = await cli.json("reserve", sofa, "--store", store, "--customer", name, "--email", email, "--phone", phone)
    reservation_id = made["reservation_id"]

    # Its identity comes from the e-mail; the help promises an id, e-mail, phone or name.
    for given in (name, f"  {name.upper()} ", email.upper(), phone.replace(" ", ""), made["customer"]["customer_id"]):
        found = await cli.json("reservations", "--customer", given)
        assert [item["reservation_id"] for item in found["reservations"]] == [reservation_id], given
    at_store = await cli.json("reservations", "--store", store, "--customer", name)
    assert [item["reservation_id"] for item in at_store["reservations"]] == [reservation_id]
    assert (await cli.json("reservations", "--customer", "Ada Somebody Else"))["reservations"] == []


async def test_a_customer_name_that_looks_like_markup_is_shown_as_typed(stack: Stack) -> None:
    """A name comes from whoever reserved (a web shop's form, a chat): the branch's terminal shows it
    as typed; read as rich markup, "[/]" ended every command showing it with an error."""
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Erfurt-"), ERFURT)
    sofa = await world.sku(colour="green")
    await world.receive(store, sofa, 1)
    name = "Ada [/] [link=https://evil.example]Lovelace[/link] [bold]"
    made = await cli.json("reserve", sofa, "--store", store, "--customer", name)
    assert made["customer"]["name"] == name

    shown = await cli.run("show-reservation", made["reservation_id"])
    assert name in shown.stdout
    listed = await cli.run("reservations", "--store", store, "--wide")
    assert name in listed.stdout
