"""The README's "Store operations", its first two: a cycle count while the till keeps selling
(`<!-- counting -->`) and an order that waits for its payment (`<!-- holding -->`), run as written
on the demo catalogue (`tests/e2e/readme_support.py`). Transfers and returns are in
test_readme_stock_movements.py, so that the README's modules spread over the test workers."""

from __future__ import annotations

from pathlib import Path

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.testing.stack import Stack
from tests.e2e.readme_support import block, run_as_written
from tests.integration.cli.support import Cli


def test_the_blocks_are_found_and_use_only_omnistock_commands() -> None:
    for name in ("counting", "holding", "transferring", "returning"):
        lines = block(name)
        assert len(lines) >= 3 and all(
            line.startswith(("omnistock ", "COUNT=$(", "ORDER=$(", "T=$(", "SALE=$(", "R=$(")) for line in lines
        )


async def test_the_count_and_the_held_order_run_as_written(fresh_stack: Stack, tmp_path: Path) -> None:
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
