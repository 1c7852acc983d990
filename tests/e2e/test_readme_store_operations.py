"""The README's store operations, run as written: the commands between `<!-- counting -->` and
`<!-- holding -->` markers are run literally by bash against a stack with the demo catalogue loaded,
`NAME=$(...)` lines keeping their value for the lines after them, as a shell would."""

from __future__ import annotations

import re
from pathlib import Path

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.testing.stack import Stack
from tests.integration.cli.support import Cli

README = Path(__file__).resolve().parents[2] / "README.md"
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=\$\(.*\)$")


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
    for name in ("counting", "holding"):
        lines = block(name)
        assert len(lines) >= 4 and all(line.startswith(("omnistock ", "COUNT=$(", "ORDER=$(")) for line in lines)


async def test_the_store_operations_run_as_written(fresh_stack: Stack, tmp_path: Path) -> None:
    cli = Cli(fresh_stack)
    await cli.run("seed", "--force")
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
