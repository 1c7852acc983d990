"""What orders does when fulfilment or inventory report on its allocations.

Each reaction runs in the event consumer's transaction (once per event id, with its inbox row) and
locks the order's row first, so it never interleaves with a cancellation or another reaction.

A re-route asks inventory for a new hold. Its request is recorded (in a transaction of its own)
before it is sent, keyed by the event that caused it: when the reaction's transaction fails after
the hold was taken, the redelivered event sends exactly that request again and gets the same hold,
instead of taking a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import asyncpg

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import order_changed
from omnistock_orders.adapters.repository import OrderRecord, OrderRepository
from omnistock_orders.domain.order import (
    Allocation,
    OrderStatus,
    lost_with_hold,
    record_shipment,
    replace_missing,
    shortage,
)
from omnistock_orders.service_layer import holding
from omnistock_orders.service_layer.fulfilment_holds import inventory_ttl
from omnistock_orders.service_layer.placing import query_of
from omnistock_orders.service_layer.planning import Planner, RouteQuery
from omnistock_platform.db import Database
from omnistock_platform.errors import Shortfall
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.logging import get_logger
from omnistock_platform.settings import Settings

log = get_logger(__name__)

_TIMES = "\u00d7"
STATUS_EVENTS = {
    OrderStatus.PARTIALLY_SHIPPED: "order.partially_shipped",
    OrderStatus.COMPLETED: "order.completed",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.BACKORDERED: "order.backordered",
}


def _units(quantities: Mapping[str, int]) -> str:
    return ", ".join(f"{sku}{_TIMES}{quantity}" for sku, quantity in sorted(quantities.items()))


class OrderReactions:
    def __init__(
        self,
        db: Database,
        repository: OrderRepository,
        outbox: Outbox,
        planner: Planner,
        inventory: InventoryClient,
        settings: Settings,
    ) -> None:
        self.db = db
        self.repository = repository
        self.outbox = outbox
        self.planner = planner
        self.inventory = inventory
        self.settings = settings

    async def shipped(
        self,
        conn: asyncpg.Connection,
        cause: str,
        order_id: str,
        allocation_id: str,
        *,
        handed_over: bool,
        picked: Mapping[str, int] | None = None,
    ) -> None:
        """An allocation left (shipped, or handed over at the desk). Units it did not contain after
        all (`picked` short of what it held, when the short pick was not reported first) are routed
        again before the shipment is recorded."""
        record = await self.repository.get(conn, order_id, lock=True)
        if record is None:
            log.warning("order.shipment_of_unknown_order", order_id=order_id, allocation_id=allocation_id)
            return
        allocation = record.order.allocation(allocation_id)
        if picked is not None and allocation is not None:
            unreported = {sku: units - picked.get(sku, 0) for sku, units in allocation.lines.items()}
            missing = shortage(record.order, allocation_id, unreported)
            if missing and missing != dict(allocation.lines):
                record = await self._reroute(
                    conn,
                    record,
                    f"{cause}:short",
                    allocation,
                    missing,
                    exclude=frozenset({allocation.location_id}),
                    why=f"short shipment from {allocation.location_id}",
                )
        before = record.order
        after = record_shipment(before, allocation_id, handed_over=handed_over)
        if after == before:
            return
        saved = await self.repository.save(conn, record.with_order(after))
        event = "order.completed" if after.status is OrderStatus.COMPLETED else "order.partially_shipped"
        await self.outbox.add(conn, event, order_changed(saved))
        log.info("order.shipped", order_id=order_id, allocation_id=allocation_id, status=after.status.value)

    async def short_picked(
        self, conn: asyncpg.Connection, cause: str, order_id: str, allocation_id: str, reported: Mapping[str, int]
    ) -> None:
        """A picker found fewer units than were held: fetch the rest from somewhere else."""
        record = await self.repository.get(conn, order_id, lock=True)
        if record is None:
            log.warning("order.short_pick_of_unknown_order", order_id=order_id, allocation_id=allocation_id)
            return
        missing = shortage(record.order, allocation_id, reported)
        allocation = record.order.allocation(allocation_id)
        if not missing or allocation is None:
            return
        await self._reroute(
            conn,
            record,
            cause,
            allocation,
            missing,
            exclude=frozenset({allocation.location_id}),
            why=f"short pick at {allocation.location_id}",
        )

    async def hold_expired(self, conn: asyncpg.Connection, cause: str, order_id: str, hold_id: str) -> None:
        """Inventory let one of the order's holds run out: its allocations are lost and routed again."""
        record = await self.repository.get(conn, order_id, lock=True)
        if record is None:
            return
        for allocation_id, units in sorted(lost_with_hold(record.order, hold_id).items()):
            allocation = record.order.allocation(allocation_id)
            assert allocation is not None
            record = await self._reroute(
                conn,
                record,
                f"{cause}:{allocation_id}",
                allocation,
                units,
                exclude=frozenset(),
                why=f"hold {hold_id} expired",
                whole=True,
            )

    async def _reroute(
        self,
        conn: asyncpg.Connection,
        record: OrderRecord,
        cause: str,
        allocation: Allocation,
        missing: Mapping[str, int],
        *,
        exclude: frozenset[str],
        why: str,
        whole: bool = False,
    ) -> OrderRecord:
        order_id = record.order_id
        query = replace(query_of(record), lines=dict(missing), exclude=exclude, allow_partial=True)
        hold, decision = await self._hold_elsewhere(record, cause, query)
        replacements = holding.allocations_from(decision, hold.hold_id) if hold is not None else []
        covered: dict[str, int] = {}
        for made in replacements:
            for sku, units in made.lines.items():
                covered[sku] = covered.get(sku, 0) + units
        unfilled = {sku: units - covered.get(sku, 0) for sku, units in missing.items() if units > covered.get(sku, 0)}
        before = record.order
        after = replace_missing(
            before,
            allocation.allocation_id,
            missing,
            replacements,
            unfilled,
            whole=whole,
            cancel_unfillable=self.settings.order_cancel_unfillable,
        )
        note = f" Re-routed {_units(missing)} after {why}: {decision.explanation or 'nowhere else has it.'}"
        history = record.decision or orders_pb2.RoutingPlan()
        history = orders_pb2.RoutingPlan.FromString(history.SerializeToString())
        history.explanation = (history.explanation + note).strip()
        saved = await self.repository.save(conn, replace(record.with_order(after), decision=history))
        await self.repository.forget_reroute(conn, cause)
        if replacements:
            await self.outbox.add(conn, "order.rerouted", order_changed(saved, replacements))
        if unfilled:  # backordered, or cancelled when the retailer prefers that
            await self.outbox.add(conn, "order.backordered", order_changed(saved))
        changed_to = STATUS_EVENTS.get(after.status) if after.status is not before.status else None
        if changed_to is not None and changed_to != "order.backordered":
            await self.outbox.add(conn, changed_to, order_changed(saved))
        log.info(
            "order.rerouted",
            order_id=order_id,
            allocation_id=allocation.allocation_id,
            missing=dict(missing),
            new_allocations=len(replacements),
            unfilled=unfilled,
        )
        return saved

    async def _hold_elsewhere(
        self, record: OrderRecord, cause: str, query: RouteQuery
    ) -> tuple[inventory_pb2.Hold | None, orders_pb2.RoutingPlan]:
        """Plan the missing units and hold them (bounded retries on a lost race); None when nowhere has any."""
        order_id = record.order_id
        stored = await self.repository.reroute(self.db.pool, cause)
        attempt = stored.attempt if stored is not None else 0
        request = inventory_pb2.HoldRequest.FromString(stored.hold_request) if stored is not None else None
        decision = stored.decision if stored is not None else orders_pb2.RoutingPlan()
        while True:
            if request is None:
                if attempt >= max(1, self.settings.order_route_attempts):
                    return None, decision
                planned = await self.planner.plan(query)
                decision = planned.message
                if not planned.plan.allocations:
                    return None, decision
                attempt += 1
                request = holding.hold_request(
                    order_id=order_id,
                    request_id=holding.derived_request_id(order_id, "reroute", cause, str(attempt)),
                    channel=record.channel
                    if record.channel != common_pb2.CHANNEL_UNSPECIFIED
                    else common_pb2.CHANNEL_WEB,
                    plan=decision,
                    ttl=inventory_ttl(record, self.settings),
                )
                async with self.db.transaction() as side:
                    await self.repository.save_reroute(
                        side, cause, order_id, attempt, request.SerializeToString(deterministic=True), decision
                    )
            try:
                return await holding.take(self.inventory, request), decision
            except Shortfall:
                request = None
