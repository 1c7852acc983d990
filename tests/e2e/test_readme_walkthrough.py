"""The README's "First ten minutes" walkthrough, run as written: every command between
`<!-- walkthrough -->` and `<!-- /walkthrough -->` is run literally by bash against the test
stack (with the demo catalogue loaded, as `make run` does). `NAME=$(...)` lines keep their value
for the lines after them, as a shell would; a line marked `# refused` must fail with exit 1.

Against a deployed stack (OMNISTOCK_E2E_ADDRESSES, as `make compose-test` runs the suite against
the containers) the commands reach those services, their database and their stream. The store
operations (`<!-- counting -->`, `<!-- holding -->`) run the same way, after it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.catalogue import DEMO_SKU, DEMO_STORE
from omnistock_platform.testing.stack import Stack, addresses_from_env
from tests.integration.cli.support import Cli

README = Path(__file__).resolve().parents[2] / "README.md"
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=\$\(.*\)$")


@dataclass
class Step:
    line: str
    refused: bool
    variable: str | None


def walkthrough(text: str) -> list[Step]:
    start = text.index("<!-- walkthrough -->")
    end = text.index("<!-- /walkthrough -->", start)
    block = text[start:end]
    body = block[block.index("```sh") + len("```sh") : block.rindex("```")]
    steps = []
    for raw in body.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = ASSIGNMENT.match(line)
        steps.append(Step(line, refused="# refused" in line, variable=match.group(1) if match else None))
    return steps


def test_the_walkthrough_is_found_and_uses_only_omnistock_commands() -> None:
    steps = walkthrough(README.read_text(encoding="utf-8"))
    assert len(steps) >= 12
    assert all("omnistock " in step.line for step in steps)
    assert {step.variable for step in steps if step.variable} == {"RESERVATION", "CODE", "TASK"}
    assert sum(step.refused for step in steps) == 2


@pytest.fixture
def walkthrough_stack(request: pytest.FixtureRequest) -> Stack:
    """The deployed stack when there is one. Otherwise a database of its own: the walk-through
    ends with `omnistock verify` over the whole database, which must not see the deliberate
    leftovers of crash and recovery tests (a deployed stack has none)."""
    return request.getfixturevalue("stack" if addresses_from_env() else "fresh_stack")  # type: ignore[no-any-return]


async def test_the_first_ten_minutes_run_as_written(walkthrough_stack: Stack, tmp_path: Path) -> None:
    stack = walkthrough_stack
    cli = Cli(stack)
    await cli.run("seed", "--force")  # what `make run` loads; tops the green sofa up to one
    variables: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for step in walkthrough(README.read_text(encoding="utf-8")):
        exports = "".join(f"export {name}={value!r}\n" for name, value in variables.items())
        script = exports + step.line
        if step.variable:
            script += f'\nprintf "%s" "${step.variable}"'
        done = await cli.shell(script, cwd=tmp_path, timeout=90)
        said = f"$ {step.line}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        if step.refused:
            assert done.returncode == 1, said
            assert "FAILED_PRECONDITION" in done.stderr and "short: SOFA-VELVET-GREEN" in done.stderr, said
            assert "Traceback" not in done.stderr, said
        else:
            assert done.returncode == 0, said
        if step.variable:
            value = done.stdout.strip()
            assert value, said
            variables[step.variable] = value
        outputs[step.line] = done.stdout

    said = "\n".join(outputs)
    near = next(out for line, out in outputs.items() if "--near Berlin" in line)
    assert DEMO_STORE in near, said
    sold_out = next(out for line, out in outputs.items() if "--until-sold-out" in line)
    assert "sold out" in sold_out

    # What the walkthrough did, as the services saw it.
    reservations = stack.stub("reservations", role="admin")
    reservation = (
        await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=variables["RESERVATION"]))
    ).reservation
    assert reservation.status == rpb.RESERVATION_STATUS_COLLECTED
    assert reservation.pickup_code == variables["CODE"] and reservation.channel == 3  # chat
    task = (await stack.stub("fulfilment", role="admin").GetTask(fpb.GetTaskRequest(task_id=variables["TASK"]))).task
    assert (task.reservation_id, task.kind) == (variables["RESERVATION"], fpb.TASK_KIND_PICKUP_PREPARATION)
    levels = (await stack.stub("inventory", role="admin").GetStock(ipb.GetStockRequest(sku=DEMO_SKU))).levels
    assert [(level.location_id, level.on_hand, level.held) for level in levels] == [(DEMO_STORE, 0, 0)]


def block(name: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"<!-- {name} -->")
    end = text.index(f"<!-- /{name} -->", start)
    body = text[start:end]
    body = body[body.index("```sh") + len("```sh") : body.rindex("```")]
    return [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]


async def run_as_written(cli: Cli, lines: list[str], cwd: Path) -> dict[str, str]:
    variables: dict[str, str] = {}
    for line in lines:
        exports = "".join(f"export {name}={value!r}\n" for name, value in variables.items())
        assigned = ASSIGNMENT.match(line)
        script = exports + line + (f'\nprintf "%s" "${assigned.group(1)}"' if assigned else "")
        done = await cli.shell(script, cwd=cwd, timeout=90)
        assert done.returncode == 0, f"$ {line}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        if assigned:
            variables[assigned.group(1)] = done.stdout.strip()
    return variables


def test_the_blocks_are_found_and_use_only_omnistock_commands() -> None:
    for name in ("counting", "holding", "transferring", "returning"):
        lines = block(name)
        assert len(lines) >= 3 and all(
            line.startswith(("omnistock ", "COUNT=$(", "ORDER=$(", "T=$(", "SALE=$(", "R=$(")) for line in lines
        )


async def test_the_store_operations_run_as_written(fresh_stack: Stack, tmp_path: Path) -> None:
    # The walkthrough's stack, already seeded when it ran first (its database is this module's).
    cli = Cli(fresh_stack)
    await cli.run("seed")
    counted = await run_as_written(cli, block("counting"), tmp_path)
    inventory = fresh_stack.stub("inventory", role="admin")
    count = (await inventory.GetCount(ipb.GetCountRequest(count_id=counted["COUNT"]))).count
    assert count.status == ipb.COUNT_STATUS_COMPLETED
    for sku, on_hand in (("LAMP-TABLE-OPAL", 4), ("LAMP-FLOOR-BRASS", 4)):
        (level,) = (await inventory.GetStock(ipb.GetStockRequest(sku=sku, location_id="STORE-BER-MITTE"))).levels
        assert level.on_hand == on_hand, sku

    held = await run_as_written(cli, block("holding"), tmp_path)
    order = (await fresh_stack.stub("orders", role="admin").GetOrder(opb.GetOrderRequest(order_id=held["ORDER"]))).order
    assert order.status == opb.ORDER_STATUS_ALLOCATED and not order.on_hold
    assert [hold.status for hold in order.holds] == [opb.FULFILMENT_HOLD_STATUS_RELEASED]

    before = (await inventory.GetStock(ipb.GetStockRequest(sku="SOFA-VELVET-BLUE", location_id="WH-BER"))).levels
    moved = await run_as_written(cli, block("transferring"), tmp_path)
    transfer = (await inventory.GetTransfer(ipb.GetTransferRequest(transfer_id=moved["T"]))).transfer
    assert transfer.status == ipb.TRANSFER_STATUS_RECEIVED
    assert [(line.received, line.damaged, line.short) for line in transfer.lines] == [(2, 1, 0)]
    (after,) = (await inventory.GetStock(ipb.GetStockRequest(sku="SOFA-VELVET-BLUE", location_id="WH-BER"))).levels
    assert after.on_hand == before[0].on_hand - 3

    kreuzberg = (
        await inventory.GetStock(ipb.GetStockRequest(sku="SOFA-VELVET-BLUE", location_id="STORE-BER-KREUZBERG"))
    ).levels
    returned = await run_as_written(cli, block("returning"), tmp_path)
    found = (
        await fresh_stack.stub("orders", role="admin").GetReturn(opb.GetReturnRequest(return_id=returned["R"]))
    ).order_return
    assert found.status == opb.RETURN_STATUS_RECEIVED and found.order_id == returned["SALE"]
    (back,) = (
        await inventory.GetStock(ipb.GetStockRequest(sku="SOFA-VELVET-BLUE", location_id="STORE-BER-KREUZBERG"))
    ).levels
    assert back.on_hand == (kreuzberg[0].on_hand if kreuzberg else 0) + 1
