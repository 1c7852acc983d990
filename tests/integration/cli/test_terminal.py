"""The CLI in an 80-column terminal, as a newcomer meets it: every id on the screen is whole and
can be copied into the next command, a unique prefix of an id is enough, an ambiguous one says
which ids it could be; the old spellings still work (and say what replaced them)."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli import ids
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.cli.support import Cli, World

OSNABRUECK = (52.2799, 8.0472)
WAREHOUSE = (52.2500, 8.1000)
HOME = "52.27,8.05"
NARROW = {"COLUMNS": "80"}


def whole(identifier: str, output: str) -> bool:
    return any(identifier in line for line in output.splitlines())


def fits(output: str, width: int = 80) -> bool:
    return all(len(line.rstrip()) <= width for line in output.splitlines())


async def test_every_id_a_command_prints_is_whole_at_80_columns(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    city = unique_id("Osnabrueck-")
    model = unique_id("m-").lower()
    store = await world.location(city, OSNABRUECK, name=f"Omnistock {city} Innenstadt am Nikolaiort")
    warehouse = await world.location(city, WAREHOUSE, kind="warehouse", name=f"Omnistock Lager {city}-Hafen")
    sofa = await world.sku("Velvet sofa, three seats, deep green", colour="green", model=model)
    lamp = await world.sku("Brass reading lamp with a long arm", colour="brass", model=model)
    await world.receive(store, sofa, 2)
    await world.receive(warehouse, lamp, 3)

    made = await cli.json("reserve", sofa, "--store", store, "--customer", "Ada Lovelace King, Countess of Lovelace")
    reservation_id = made["reservation_id"]
    order = await cli.json("order", f"{lamp}:2", "--ship-to", HOME, "--customer", "Ada Lovelace")
    order_id = order["order_id"]
    hold_id = order["allocations"][0]["hold_id"]
    staff = stack.stub("fulfilment", role="admin")

    async def pickup_task() -> fpb.Task | None:
        reply = await staff.ListTasks(fpb.ListTasksRequest(location_id=store))
        return next((task for task in reply.tasks if task.reservation_id == reservation_id), None)

    task_id = (await eventually(pickup_task)).task_id

    shown: dict[tuple[str, ...], set[str]] = {
        ("stock", sofa): {sofa, store},
        ("stock", lamp, "--near", city): {lamp, warehouse},
        ("skus", "--attr", f"model={model}"): {sofa, lamp},
        ("reservations", "--store", store): {reservation_id, store, sofa},
        ("show-reservation", reservation_id): {reservation_id, store, sofa},
        ("orders", "--customer", "Ada Lovelace", "--location", warehouse): {order_id, lamp, warehouse},
        ("show-order", order_id): {order_id, lamp, warehouse, hold_id},
        ("tasks", "--location", store): {task_id, reservation_id, sofa},
        ("show-task", task_id): {task_id, reservation_id, store, sofa},
        ("movements", "--location", warehouse, "--sku", lamp): {warehouse, lamp},
        ("watch", sofa, "--timeout", "1s"): {sofa, store},
        ("quote", f"{lamp}:1", "--ship-to", HOME): {warehouse, lamp},
    }
    for args, expected in shown.items():
        output = (await cli.run(*args, env=NARROW)).stdout
        said = f"$ omnistock {' '.join(args)}\n{output}"
        assert fits(output), said
        assert "…" not in output, said
        for identifier in expected:
            assert whole(identifier, output), f"{identifier} is not whole:\n{said}"
    # --wide: the same rows, one line each, whatever the terminal.
    wide = (await cli.run("tasks", "--location", store, "--wide", env=NARROW)).stdout
    assert any(task_id in line and reservation_id in line and sofa in line for line in wide.splitlines()), wide


async def test_a_unique_prefix_of_an_id_is_enough(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Bremen-"), (53.0793, 8.8017))
    sofa = await world.sku("Sofa")
    await world.receive(store, sofa, 1)
    made = await cli.json("reserve", sofa, "--store", store, "--customer", "Grace Hopper")
    reservation_id = made["reservation_id"]

    shown = await cli.json("show-reservation", reservation_id[:8])
    assert shown["reservation_id"] == reservation_id
    staff = stack.stub("fulfilment", role="admin")

    async def task() -> fpb.Task | None:
        reply = await staff.ListTasks(fpb.ListTasksRequest(location_id=store))
        return next((item for item in reply.tasks if item.reservation_id == reservation_id), None)

    task_id = (await eventually(task)).task_id
    listed = await cli.json("tasks", "--location", store, "--reservation", reservation_id[:9])
    assert [item["task_id"] for item in listed["tasks"]] == [task_id]
    picked = await cli.run("pick", task_id[:8], "--json")
    assert task_id in picked.stdout and f"task {task_id[:8]} is {task_id}" in picked.stderr
    ready = await cli.json("ready", task_id[:10].upper())  # ids are compared without case
    assert ready["task_id"] == task_id and ready["status"] == "TASK_STATUS_READY_FOR_PICKUP"
    longer = await cli.json("extend-reservation", reservation_id[:8], "--by", "1d")
    assert longer["reservation_id"] == reservation_id

    # Whole ids are used as they are; what is not a prefix of one goes to the service as typed.
    unknown = await cli.run("show-reservation", "ffffffff-ffff-4fff-8fff-ffffffffffff", expect=1)
    assert "NOT_FOUND" in unknown.stderr
    short = await cli.run("show-reservation", "abc", expect=1)
    assert "too short" in short.stderr and "Traceback" not in short.stderr
    nothing = await cli.run("cancel-reservation", "fffffff0fe", expect=1)
    assert "no reservation id starts with fffffff0fe" in nothing.stderr
    # A channel may list only one customer's reservations: it is told to give the whole id.
    chat = await cli.run("show-reservation", reservation_id[:8], "--role", "chat_agent", expect=1)
    assert "whole reservation id" in chat.stderr and "Traceback" not in chat.stderr


async def test_an_ambiguous_prefix_lists_the_ids_it_could_be_and_changes_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four hex digits are needed in real use; one makes sharing a prefix certain among 17 ids.
    monkeypatch.setattr(ids, "MIN_PREFIX", 1)
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Emden-"), (53.367, 7.206))
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 17)
    reservations = stack.stub("reservations", role="admin")
    made = []
    for number in range(17):
        reply = await reservations.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id("r-"),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name=f"Customer {number}"),
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=lamp, quantity=1)],
            )
        )
        made.append(reply.reservation.reservation_id)
    by_first: dict[str, list[str]] = defaultdict(list)
    for reservation_id in made:
        by_first[reservation_id[0]].append(reservation_id)
    prefix, sharing = max(by_first.items(), key=lambda item: len(item[1]))
    assert len(sharing) >= 2  # 17 ids, 16 hex digits

    # As the store's clerk, the candidates are the store's reservations.
    refused = await cli.run("cancel-reservation", prefix, "--role", "pos", "--works-at", store, expect=1)
    assert f"{len(sharing)} reservations have an id starting with {prefix}" in refused.stderr, refused.stderr
    for reservation_id in sharing:
        assert reservation_id in refused.stderr
    listed = set(re.findall(r"[0-9a-f]{8}-[0-9a-f-]{27}", refused.stderr))
    assert listed == set(sharing)
    for reservation_id in made:
        current = await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=reservation_id))
        assert current.reservation.status == rpb.RESERVATION_STATUS_ACTIVE


async def test_old_spellings_still_work_and_say_what_replaced_them(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Celle-"), (52.62, 10.08))
    other = await world.location(unique_id("Peine-"), (52.32, 10.23))
    lamp = await world.sku("Lamp")
    await world.receive(store, lamp, 2)
    made = await cli.json("reserve", lamp, "--store", store, "--customer", "Grace Hopper")

    shown = await cli.run("reservation", made["reservation_id"])
    assert made["pickup_code"] in shown.stdout
    assert "`omnistock reservation` is now `omnistock show-reservation`" in " ".join(shown.stderr.split())
    # --location meant "where I work" here: it still does, for now.
    refused = await cli.run(
        "extend", made["reservation_id"], "--by", "1d", "--role", "pos", "--location", other, expect=1
    )
    assert "PERMISSION_DENIED" in refused.stderr and "--works-at" in refused.stderr
    cancelled = await cli.json("cancel", made["reservation_id"])
    assert cancelled["status"] == "RESERVATION_STATUS_CANCELLED"
    order = await cli.json("order", f"{lamp}:1", "--store", store)
    status = await cli.json("order-status", order["order_id"])
    assert status["order_id"] == order["order_id"] and status["status"] == opb.OrderStatus.Name(
        opb.ORDER_STATUS_ALLOCATED
    )


async def test_help_groups_every_command_by_area_and_version_says_which(stack: Stack) -> None:
    cli = Cli(stack)
    listed = (await cli.run("--help", env={"COLUMNS": "100"})).stdout
    for panel in ("Run the system", "Stock", "Reservations", "Orders", "Fulfilment", "Till", "Access"):
        assert f"─ {panel}" in listed, listed
    assert "─ Other" not in listed and "─ Commands" not in listed
    for hidden in ("order-status", " cancel ", " run "):
        assert hidden not in listed
    version = (await cli.run("--version")).stdout.strip()
    assert re.fullmatch(r"omnistock \d+\.\d+\.\d+.*", version), version
