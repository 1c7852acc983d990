"""What orders does when fulfilment or inventory report on its allocations.

Each reaction runs in the event consumer's transaction (once per event id, with its inbox row) and
locks the order's row first, so it never interleaves with a cancellation or another reaction.

A re-route asks inventory for a new hold. Its request is recorded (in a transaction of its own)
before it is sent, keyed by the event that caused it: when the reaction's transaction fails after
the hold was taken, the redelivered event sends exactly that request again and gets the same hold,
instead of taking a second one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters import edit_repository, repository
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import order_changed, order_message
from omnistock_orders.adapters.repository import OrderRecord
from omnistock_orders.domain.order import (
    Allocation,
    Order,
    OrderStatus,
    backordered_units,
    fill_backorder,
    lost_with_hold,
    record_shipment,
    replace_missing,
    shortage,
)
from omnistock_orders.domain.routing import Method
from omnistock_orders.service_layer import holding
from omnistock_orders.service_layer.announcing import announce
from omnistock_orders.service_layer.fulfilment_holds import inventory_ttl
from omnistock_orders.service_layer.placing import query_of
from omnistock_orders.service_layer.planning import Planner, RouteQuery, delivery_promise
from omnistock_orders.settings import OrdersSettings
from omnistock_platform.db import Database
from omnistock_platform.errors import FailedPrecondition, Shortfall
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.logging import get_logger
from omnistock_platform.promise_messages import promise_message
from omnistock_platform.promising import latest

log = get_logger(__name__)

_TIMES = "\u00d7"
# What the causes of backorder fills start with (then the order's id).
BACKORDER_FILL = "backorder:"


def _units(quantities: Mapping[str, int]) -> str:
    return ", ".join(f"{sku}{_TIMES}{quantity}" for sku, quantity in sorted(quantities.items()))


class OrderReactions:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        planner: Planner,
        inventory: InventoryClient,
        settings: OrdersSettings,
    ) -> None:
        self.db = db
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
        record = await repository.get(conn, order_id, lock=True)
        if record is None:
            log.warning("order.shipment_of_unknown_order", order_id=order_id, allocation_id=allocation_id)
            await self._settle_abandoned(conn, order_id, cause)
            return
        allocation = record.order.allocation(allocation_id)
        if picked is not None and allocation is not None:
            unreported = {sku: units - picked.get(sku, 0) for sku, units in allocation.lines.items()}
            missing = shortage(record.order, allocation_id, unreported)
            if missing and missing != dict(allocation.lines):
                await self._give_back_unpicked(record, allocation, missing, cause)
                record = await self._reroute(
                    conn,
                    record,
                    f"{cause}:short",
                    allocation,
                    missing,
                    exclude=frozenset({allocation.location_id}),
                    why=f"short shipment from {allocation.location_id}",
                )
        await self._settle_abandoned(conn, order_id, cause)
        before = record.order
        after = record_shipment(before, allocation_id, handed_over=handed_over)
        if after == before:
            return
        saved = await repository.save(conn, record.with_order(after))
        event = "order.completed" if after.status is OrderStatus.COMPLETED else "order.partially_shipped"
        await self.outbox.add(conn, event, order_changed(saved))
        log.info("order.shipped", order_id=order_id, allocation_id=allocation_id, status=after.status.value)

    async def picking_started(self, conn: asyncpg.Connection, order_id: str, allocation_id: str) -> None:
        """A picker has the allocation's units in hand: an edit no longer changes them. Taken under the
        order's row lock, so that an edit in progress finishes first."""
        if await repository.get(conn, order_id, lock=True) is not None:
            await edit_repository.mark_picking(conn, order_id, allocation_id)

    async def _give_back_unpicked(
        self, record: OrderRecord, allocation: Allocation, missing: Mapping[str, int], cause: str
    ) -> None:
        """Units a shipment left behind that no short pick gave back (an edit grew the allocation after
        its pick was confirmed) are still held for it: give them back before routing them again."""
        open_here = await holding.open_at(self.inventory, allocation.hold_id, allocation.location_id)
        others: dict[str, int] = {}
        for other in record.order.allocations:
            if (
                other.held
                and other.allocation_id != allocation.allocation_id
                and (other.hold_id, other.location_id) == (allocation.hold_id, allocation.location_id)
            ):
                for sku, units in other.lines.items():
                    others[sku] = others.get(sku, 0) + units
        left = {
            (allocation.location_id, sku): min(units, open_here.get(sku, 0) - others.get(sku, 0))
            for sku, units in missing.items()
        }
        left = {key: units for key, units in left.items() if units > 0}
        if left:
            request_id = holding.derived_request_id(record.order_id, "unpicked", cause)
            await self.inventory.release(request_id, allocation.hold_id, left, "left behind by a shipment")
            log.info("order.unpicked_given_back", order_id=record.order_id, units={k[1]: v for k, v in left.items()})

    async def short_picked(
        self, conn: asyncpg.Connection, cause: str, order_id: str, allocation_id: str, reported: Mapping[str, int]
    ) -> None:
        """A picker found fewer units than were held: fetch the rest from somewhere else."""
        record = await repository.get(conn, order_id, lock=True)
        if record is None:
            log.warning("order.short_pick_of_unknown_order", order_id=order_id, allocation_id=allocation_id)
        else:
            missing = shortage(record.order, allocation_id, reported)
            allocation = record.order.allocation(allocation_id)
            if missing and allocation is not None:
                await self._reroute(
                    conn,
                    record,
                    cause,
                    allocation,
                    missing,
                    exclude=frozenset({allocation.location_id}),
                    why=f"short pick at {allocation.location_id}",
                )
        await self._settle_abandoned(conn, order_id, cause)

    async def hold_expired(self, conn: asyncpg.Connection, cause: str, order_id: str, hold_id: str) -> None:
        """Inventory let one of the order's holds run out: its allocations are lost and routed again."""
        record = await repository.get(conn, order_id, lock=True)
        lost = lost_with_hold(record.order, hold_id) if record is not None else {}
        for allocation_id, units in sorted(lost.items()):
            assert record is not None
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
        await self._settle_abandoned(conn, order_id, cause)

    async def _settle_abandoned(self, conn: asyncpg.Connection, order_id: str, cause: str) -> None:
        """Re-routes this event began on an earlier delivery that was cut short (the process died
        after recording the hold request), when this delivery found nothing left to route because the
        order changed meanwhile (cancelled, edited, picked in full). Each recorded request may have
        taken its hold: asking again answers that hold (or takes it now), and all of it is given
        back. Left alone, its units would stay held until the hold expired, and the record forever.
        Runs after this delivery's own re-routes, which forget their records as they finish: what is
        left was abandoned (read in this delivery's transaction, which sees its own forgetting).
        Another event's re-routes of the order wait on the order's row lock."""
        for begun, reroute in (await repository.reroutes_begun_by(conn, cause)).items():
            request = inventory_pb2.HoldRequest.FromString(reroute.hold_request)
            try:
                hold = await holding.take(self.inventory, request)
            except Shortfall:
                hold = None
            if hold is not None:
                release_id = holding.derived_request_id(order_id, "abandoned", begun)
                # A hold that ended already (expired) has nothing left to give back.
                with contextlib.suppress(FailedPrecondition):
                    await self.inventory.release(release_id, hold.hold_id, {}, "re-route no longer needed")
            await repository.forget_reroute(conn, begun)
            log.info("order.reroute_abandoned", order_id=order_id, cause=begun, hold_id=hold.hold_id if hold else "")

    async def hold_shorted(
        self,
        conn: asyncpg.Connection,
        cause: str,
        order_id: str,
        hold_id: str,
        lost: Mapping[str, Mapping[str, int]],
        transfer_id: str,
    ) -> None:
        """Inventory gave back units of one of the order's holds that were promised in transit on a
        transfer received short, or that were found missing on the shelf (no `transfer_id`) (`lost`:
        location -> SKU -> units): the allocations there shrink and the units are routed elsewhere,
        never to the location that lacks them."""
        record = await repository.get(conn, order_id, lock=True)
        shrinking = [a for a in record.order.allocations if a.hold_id == hold_id and a.held] if record else []
        for allocation in shrinking:
            assert record is not None
            missing = shortage(record.order, allocation.allocation_id, lost.get(allocation.location_id, {}))
            if not missing:
                continue
            record = await self._reroute(
                conn,
                record,
                f"{cause}:{allocation.allocation_id}",
                allocation,
                missing,
                exclude=frozenset({allocation.location_id}),
                why=(
                    f"transfer {transfer_id} arrived short at {allocation.location_id}"
                    if transfer_id
                    else f"units held at {allocation.location_id} were found missing"
                ),
                announce_previous=True,
            )
        await self._settle_abandoned(conn, order_id, cause)

    async def fill_backorder(self, order_id: str) -> bool:
        """Hold what can now be had of the order's backordered units, in a transaction of its own
        under the order's row lock (the re-route path of a short pick, with the backorder as the
        missing units); whether any were filled. Anything may ask, any number of times, from any
        copy of the service: what is filled leaves the backorder, and the hold is taken from what
        inventory has at that moment, so nothing is filled twice or beyond the stock.

        The re-route's cause names the order's state (its last change and what waits), so a
        fill cut short after inventory took the hold is finished by the next fill with that same
        hold; one whose order changed meanwhile is given back (`_settle_abandoned`)."""
        prefix = f"{BACKORDER_FILL}{order_id}"
        async with self.db.transaction() as conn:
            record = await repository.get(conn, order_id, lock=True)
            waiting = backordered_units(record.order) if record is not None else {}
            filled = False
            if record is not None and waiting and record.order.status is not OrderStatus.PENDING:
                # The state's digest keeps the hold's request id (derived from it) within bounds.
                stamp = record.updated_at.isoformat() if record.updated_at is not None else ""
                cause = f"{prefix}:{holding.digest({(stamp, sku): units for sku, units in waiting.items()})}"
                filled = await self._fill(conn, record, cause, waiting)
            await self._settle_abandoned(conn, order_id, prefix)
        return filled

    async def _fill(
        self, conn: asyncpg.Connection, record: OrderRecord, cause: str, waiting: Mapping[str, int]
    ) -> bool:
        # A pickup's planner looks at its store only; a shipment's anywhere that ships.
        query = replace(query_of(record), lines=dict(waiting), allow_partial=True)
        hold, decision = await self._hold_elsewhere(conn, record, cause, query)
        if hold is None:
            await repository.forget_reroute(conn, cause)  # nothing taken: the next fill plans afresh
            return False
        added = holding.allocations_from(decision, hold.hold_id)
        before = record.order
        after = fill_backorder(before, added)
        filled = {sku: units - backordered_units(after).get(sku, 0) for sku, units in waiting.items()}
        filled = {sku: units for sku, units in filled.items() if units > 0}
        history = orders_pb2.RoutingPlan.FromString((record.decision or orders_pb2.RoutingPlan()).SerializeToString())
        note = f" Filled backordered {_units(filled)}: {decision.explanation or 'stock came.'}"
        history.explanation = (history.explanation + note).strip()
        had = orders_pb2.RoutingPlan()
        had.promise.CopyFrom(history.promise)
        was_promised = history.HasField("promise")
        history.ClearField("promise")
        if not backordered_units(after):
            promise = await self._promise_when_filled(record, after, added, decision)
            if promise is not None:
                history.promise.CopyFrom(promise)
        repromised = history.HasField("promise") != was_promised or (was_promised and history.promise != had.promise)
        saved = await repository.save(conn, replace(record.with_order(after), decision=history))
        await repository.forget_reroute(conn, cause)
        await self.outbox.add(conn, "order.rerouted", order_changed(saved, added))
        await announce(self.outbox, conn, saved, record, before, repromised)
        log.info(
            "order.backorder_filled",
            order_id=record.order_id,
            filled=filled,
            waiting=backordered_units(after),
            new_allocations=len(added),
        )
        return True

    async def _promise_when_filled(
        self,
        record: OrderRecord,
        after: Order,
        added: list[Allocation],
        decision: orders_pb2.RoutingPlan,
    ) -> common_pb2.Promise | None:
        """The order's promise once nothing of it waits any more: the fill's units are handled from
        now (the plan's promise); a shipment's other held allocations are delivered as handled from
        when the order was placed, and the order is had at the last of them."""
        if not decision.HasField("promise"):
            return None  # units on their way that nothing says when
        if after.method is not Method.SHIP:
            return decision.promise
        new = {allocation.allocation_id for allocation in added}
        others = [a for a in after.allocations if a.held and a.allocation_id not in new]
        locations = await self.inventory.locations(a.location_id for a in others)
        address = record.ship_to
        region, country = (address.region, address.country) if address is not None else ("", "")
        placed = record.created_at or datetime.now(UTC)
        last = latest(
            [
                delivery_promise(locations[a.location_id], placed, region, country)
                for a in others
                if a.location_id in locations
            ]
        )
        if last is not None and last.at > decision.promise.at.ToDatetime(tzinfo=UTC):
            return promise_message(last)
        return decision.promise

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
        announce_previous: bool = False,
    ) -> OrderRecord:
        """Route `missing` units of `allocation` elsewhere. `announce_previous`: the allocation lost
        units that were never picked (a shortened hold), so `order.rerouted` is published even when
        nothing else has them, with the order before in `previous`: fulfilment shrinks the
        allocation's task to what is left."""
        order_id = record.order_id
        query = replace(query_of(record), lines=dict(missing), exclude=exclude, allow_partial=True)
        # A pickup is handed over at its store and nowhere else: the missing units are looked for
        # there again (left on its shelf, or on their way to it), and what the store cannot get is
        # cancelled, as no backorder of it would ever be filled.
        pickup = query.method is Method.PICKUP
        if pickup:
            query = replace(query, exclude=exclude - {record.store_id})
        hold, decision = await self._hold_elsewhere(conn, record, cause, query)
        replacements = holding.allocations_from(decision, hold.hold_id) if hold is not None else []
        covered: dict[str, int] = {}
        for made in replacements:
            for sku, units in made.lines.items():
                covered[sku] = covered.get(sku, 0) + units
        unfilled = {sku: units - covered.get(sku, 0) for sku, units in missing.items() if units > covered.get(sku, 0)}
        before = record.order
        cancel_unfillable = self.settings.order_cancel_unfillable or pickup
        after = replace_missing(
            before,
            allocation.allocation_id,
            missing,
            replacements,
            unfilled,
            whole=whole,
            cancel_unfillable=cancel_unfillable,
        )
        note = f" Re-routed {_units(missing)} after {why}: {decision.explanation or 'nowhere else has it.'}"
        if pickup and unfilled:
            note += f" Cancelled {_units(unfilled)}: {record.store_id} cannot get them for pickup."
        history = record.decision or orders_pb2.RoutingPlan()
        history = orders_pb2.RoutingPlan.FromString(history.SerializeToString())
        history.explanation = (history.explanation + note).strip()
        # Units cancelled are not waited for: the promise of the rest stands.
        repromised = repromise(history, decision, bool(unfilled) and not cancel_unfillable)
        saved = await repository.save(conn, replace(record.with_order(after), decision=history))
        await repository.forget_reroute(conn, cause)
        if announce_previous:
            changed = order_changed(saved, replacements)
            changed.previous.CopyFrom(order_message(record))
            await self.outbox.add(conn, "order.rerouted", changed)
        elif replacements:
            await self.outbox.add(conn, "order.rerouted", order_changed(saved, replacements))
        if unfilled:  # backordered, or cancelled when the retailer prefers that
            await self.outbox.add(conn, "order.backordered", order_changed(saved))
        await announce(self.outbox, conn, saved, record, before, repromised, told={"order.backordered"})
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
        self, conn: asyncpg.Connection, record: OrderRecord, cause: str, query: RouteQuery
    ) -> tuple[inventory_pb2.Hold | None, orders_pb2.RoutingPlan]:
        """Plan the missing units and hold them (bounded retries on a lost race); None when nowhere has any.
        `conn` holds the order's row lock: the request is recorded `on_its_own`, never on a second
        connection of the pool, which calls waiting for that lock may all have taken."""
        order_id = record.order_id
        stored = await repository.reroute(conn, cause)
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
                    ttl=holding.lasting_past_promise(
                        inventory_ttl(record, self.settings), decision, ceiling=self.settings.hold_max_ttl
                    ),
                )
                async with self.db.on_its_own() as side:
                    await repository.save_reroute(
                        side, cause, order_id, attempt, request.SerializeToString(deterministic=True), decision
                    )
            try:
                return await holding.take(self.inventory, request), decision
            except Shortfall:
                request = None


def repromise(history: orders_pb2.RoutingPlan, rerouted: orders_pb2.RoutingPlan, unfilled: bool) -> bool:
    """Moves the order's promise (kept in its decision, `history`) after a re-route: the later of
    the old one and the re-route plan's, or none when units are left unfilled (nothing can be
    promised for them). Whether it changed (and `orders.order.repromised` is due)."""
    before = orders_pb2.RoutingPlan()
    before.promise.CopyFrom(history.promise)
    had = history.HasField("promise")
    if unfilled:
        history.ClearField("promise")
    elif rerouted.HasField("promise") and (
        not had or rerouted.promise.at.ToDatetime() > history.promise.at.ToDatetime()
    ):
        history.promise.CopyFrom(rerouted.promise)
    return history.HasField("promise") != had or (had and history.promise != before.promise)
