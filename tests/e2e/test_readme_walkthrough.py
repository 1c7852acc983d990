"""The README's "First ten minutes" walkthrough, run as written: every command between
`<!-- walkthrough -->` and `<!-- /walkthrough -->` is run literally by bash against the test
stack (with the demo catalogue loaded, as `make run` does). `NAME=$(...)` lines keep their value
for the lines after them, as a shell would; a line marked `# refused` must fail with exit 1.

Against a deployed stack (OMNISTOCK_E2E_ADDRESSES, as `make compose-test` runs the suite against
the containers) the commands reach those services, their database and their stream. The store
operations run the same way, in test_readme_store_operations.py and test_readme_stock_movements.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli.catalogue import DEMO_SKU, DEMO_STORE
from omnistock_platform.testing.stack import Stack, addresses_from_env
from tests.e2e.readme_support import ASSIGNMENT, README
from tests.integration.cli.support import Cli


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
