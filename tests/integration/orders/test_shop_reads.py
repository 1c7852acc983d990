"""The orders tests' `Shop` reads stock no older than the writes made through it: `level` passes the
consistency token of the last answer that carried one, so whichever inventory process answers, a
read after a write shows it (docs/reads.md)."""

from __future__ import annotations

from typing import Any

from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import Shop


class Asking:
    """The admin's inventory stub, keeping every GetStock request it is asked."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self.asked: list[inv.GetStockRequest] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)

    async def GetStock(self, request: inv.GetStockRequest, **options: Any) -> inv.GetStockResponse:
        self.asked.append(request)
        return await self._stub.GetStock(request, **options)


async def test_a_level_read_passes_the_token_of_the_last_write(stack: Stack) -> None:
    asking = Asking(stack.stub("inventory", role="admin"))
    shop = Shop(stack, asking, stack.stub("orders", role="admin"))
    store, sku = await shop.location(), await shop.sku()
    await shop.receive(store, sku, 5)
    level = await shop.level(store, sku)
    assert level.on_hand == 5
    (first,) = asking.asked
    assert first.min_consistency_token

    # A test's own write through the shop's stub counts too.
    adjusted = await shop.inventory.AdjustStock(
        inv.AdjustStockRequest(
            request_id=unique_id(),
            location_id=store,
            sku=sku,
            reason=inv.ADJUSTMENT_REASON_CORRECTION,
            delta=-2,
        )
    )
    assert (await shop.level(store, sku)).on_hand == 3
    assert asking.asked[-1].min_consistency_token == adjusted.consistency_token
