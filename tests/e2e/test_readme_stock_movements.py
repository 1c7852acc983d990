"""The README's "Store operations" that move stock between locations: a transfer that refills a
store (`<!-- transferring -->`), then a return at another store of a till sale of what the transfer
brought (`<!-- returning -->`), run as written on the demo catalogue (`tests/e2e/readme_support.py`)."""

from __future__ import annotations

from pathlib import Path

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.testing.stack import Stack
from tests.e2e.readme_support import block, run_as_written
from tests.integration.cli.support import Cli


async def test_the_transfer_and_the_return_run_as_written(fresh_stack: Stack, tmp_path: Path) -> None:
    cli = Cli(fresh_stack)
    await cli.run("seed")
    inventory = fresh_stack.stub("inventory", role="admin")
    before = (await inventory.GetStock(ipb.GetStockRequest(sku="SOFA-VELVET-BLUE", location_id="WH-BER"))).levels
    moved = await run_as_written(cli, block("transferring"), tmp_path)
    transfer = (await inventory.GetTransfer(ipb.GetTransferRequest(transfer_id=moved["T"]))).transfer
    assert transfer.status == ipb.TRANSFER_STATUS_RECEIVED
    assert [(line.received, line.damaged, line.short) for line in transfer.lines] == [(2, 1, 0)]
    (after,) = (await inventory.GetStock(ipb.GetStockRequest(sku="SOFA-VELVET-BLUE", location_id="WH-BER"))).levels
    assert after.on_hand == before[0].on_hand - 3

    # The store sells one of the sofas the transfer brought; it comes back at another store.
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
