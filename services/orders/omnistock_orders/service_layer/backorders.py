"""Backordered units are filled when stock comes, oldest order first.

Two things ask: inventory's stock events (stock rose at a location for a SKU some order waits
for: prompt), and a sweep over every backordered order (the catch-all for an event missed, handled
out of order, or stock freed in a way no event names). Each order is filled on its own
(`OrderReactions.fill_backorder`, under its row lock, holds checked by inventory), so any number of
askers, events redelivered and copies of the service never fill a unit twice or beyond the stock.
"""

from __future__ import annotations

from omnistock_orders.adapters import repository
from omnistock_orders.adapters.repository import Cursor
from omnistock_orders.domain.routing import Method
from omnistock_orders.service_layer.reactions import BACKORDER_FILL, OrderReactions
from omnistock_platform.db import Database
from omnistock_platform.logging import get_logger

log = get_logger(__name__)


class BackorderFilling:
    def __init__(self, db: Database, reactions: OrderReactions, batch: int) -> None:
        self.db = db
        self.reactions = reactions
        self.batch = max(1, batch)
        # Where the sweep goes on: past the orders its last round tried, so that a batch of orders
        # nothing can fill never keeps the younger ones waiting. Only this process's pace.
        self._after: Cursor | None = None

    async def stock_rose(self, location_id: str, sku: str) -> int:
        """Units of `sku` may be had at `location_id`: the oldest orders waiting for it that the
        location may serve (any shipment; a pickup at this store only) are filled. Returns how many
        orders got units."""
        waiting = await repository.backordered(self.db.pool, sku=sku, limit=self.batch)
        filled = 0
        for (_, order_id), method, store_id in waiting:
            if Method(method) is not Method.SHIP and store_id != location_id:
                continue
            filled += await self.reactions.fill_backorder(order_id)
        return filled

    async def sweep(self) -> int:
        """One round: up to a batch of backordered orders, oldest first, each filled as far as stock
        allows; the next round takes the next batch (after the last, the oldest again). Returns how
        many orders got units.

        First, fills cut short (once inventory may have taken their hold) of orders that wait for
        nothing any more: no stock event and no round over the backordered would ask for them
        again, and the hold would keep its units from every other order until it expired. Asked
        again, each gives its hold back (`OrderReactions.fill_backorder`)."""
        for order_id in await repository.fills_left_behind(self.db.pool, BACKORDER_FILL, self.batch):
            await self.reactions.fill_backorder(order_id)
        waiting = await repository.backordered(self.db.pool, after=self._after, limit=self.batch)
        filled = 0
        for cursor, _, _ in waiting:
            filled += await self.reactions.fill_backorder(cursor[1])
            self._after = cursor
        if len(waiting) < self.batch:
            self._after = None
        if filled:
            log.info("orders.backorders_filled", count=filled)
        return filled
