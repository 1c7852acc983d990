"""Editing an order after allocation: its holds change in place, all or nothing.

The order's row stays locked from the first read to the last write, so an edit never interleaves
with a cancellation, a shipment, a re-route or another edit of the same order. Inventory is asked
once per attempt, with every hold the edit touches in one AdjustHold: each line says how many units
it holds now (what the held allocations account for) and how many it should hold, so a commit or
release the order has not heard of yet refuses the edit instead of being overwritten. When an
increase does not fit at its allocation's location, it is routed elsewhere with the order's own
routing rules and the hold grows there instead; when nothing fits, the edit fails and nothing
changed, in inventory or here.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg

from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters import edit_repository, repository
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import order_changed, order_message
from omnistock_orders.adapters.repository import OrderRecord
from omnistock_orders.domain.edits import (
    EditPlan,
    already_applied,
    apply_edit,
    in_part_lines,
    merge_routed,
    open_after,
    open_before,
    plan_new_store,
    plan_quantities,
    refuse_components_beside_sets,
    require_editable,
    resize_sets,
)
from omnistock_orders.domain.order import Allocation, Order, OrderLine, OrderStatus
from omnistock_orders.domain.routing import Method
from omnistock_orders.service_layer import holding
from omnistock_orders.service_layer.announcing import announce
from omnistock_orders.service_layer.placing import query_of, require_pickup
from omnistock_orders.service_layer.planning import (
    OnTheWay,
    Planner,
    RouteQuery,
    delivery_promise,
    on_the_way,
    pickup_promise,
)
from omnistock_orders.service_layer.queries import require_scope
from omnistock_orders.service_layer.requests import MAX_LINE_QUANTITY, MAX_LINES
from omnistock_orders.settings import OrdersSettings
from omnistock_platform.db import Database
from omnistock_platform.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
    Reason,
    Shortfall,
    ShortLine,
)
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.geo import Point
from omnistock_platform.idempotency import Begun, IdempotencyStore
from omnistock_platform.logging import get_logger
from omnistock_platform.promise_messages import beyond_shelf, promise_message
from omnistock_platform.promising import Promise, latest
from omnistock_platform.validation import Validator

log = get_logger(__name__)
_TIMES = "\u00d7"


def validate(request: orders_pb2.EditOrderRequest) -> dict[str, int]:
    check = Validator()
    check.text("request_id", request.request_id, required=True, max_length=128)
    check.identifier("order_id", request.order_id)
    check.text("reason", request.reason, max_length=500)
    check.check(len(request.lines) <= MAX_LINES, "lines", f"at most {MAX_LINES} lines")
    quantities: dict[str, int] = {}
    for index, line in enumerate(request.lines[:MAX_LINES]):
        check.identifier(f"lines[{index}].sku", line.sku)
        check.non_negative(f"lines[{index}].quantity", line.quantity, maximum=MAX_LINE_QUANTITY)
        if line.sku in quantities:
            check.fail(f"lines[{index}].sku", f"{line.sku} is already on another line")
        quantities[line.sku] = line.quantity
    if request.HasField("ship_to"):
        for name in ("name", "street", "postal_code", "city", "country"):
            check.name(f"ship_to.{name}", getattr(request.ship_to, name))
        if not request.ship_to.HasField("point"):
            check.fail("ship_to.point", "is required to ship an order")
        else:
            check.point("ship_to.point", request.ship_to.point.latitude, request.ship_to.point.longitude)
    check.identifier("store_id", request.store_id, required=False)
    check.check(
        bool(quantities) or request.HasField("ship_to") or bool(request.store_id),
        "lines",
        "give the lines to change, a new ship_to or a new store_id",
    )
    check.check(
        not (quantities and request.store_id), "store_id", "change the pickup store and the lines in separate edits"
    )
    check.raise_if_invalid()
    return quantities


def _units(quantities: Mapping[str, int]) -> str:
    return ", ".join(f"{sku}{_TIMES}{units}" for sku, units in sorted(quantities.items()))


class OrderEditing:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        idempotency: IdempotencyStore,
        planner: Planner,
        inventory: InventoryClient,
        settings: OrdersSettings,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.planner = planner
        self.inventory = inventory
        self.settings = settings

    async def edit(self, request: orders_pb2.EditOrderRequest) -> orders_pb2.EditOrderResponse:
        quantities = validate(request)

        resumed = False

        async def work(conn: asyncpg.Connection) -> orders_pb2.EditOrderResponse:
            return await self._edit(conn, request, quantities, resumed=resumed)

        async def change(begun: Begun) -> orders_pb2.EditOrderResponse:
            nonlocal resumed
            resumed = begun.resumed
            return await self.idempotency.run(
                self.db, "EditOrder", request.request_id, request, orders_pb2.EditOrderResponse, work
            )

        # Begun before inventory is asked: a crash in between is finished by the service itself.
        return await self.idempotency.resumable(
            self.db, "EditOrder", request.request_id, request, orders_pb2.EditOrderResponse, change
        )

    async def _edit(
        self,
        conn: asyncpg.Connection,
        request: orders_pb2.EditOrderRequest,
        quantities: dict[str, int],
        *,
        resumed: bool = False,
    ) -> orders_pb2.EditOrderResponse:
        record = await repository.get(conn, request.order_id, lock=True)
        if record is None:
            raise NotFound("order", request.order_id, field="order_id")
        require_scope(record)
        order = record.order
        if order.status is OrderStatus.PENDING:
            raise Aborted(
                f"order {request.order_id} is still being placed; retry in a moment",
                0.5,
                reason=Reason.REQUEST_IN_PROGRESS,
            )
        require_editable(order)
        ship_to = request.ship_to if request.HasField("ship_to") else None
        if ship_to is not None and order.method is not Method.SHIP:
            raise InvalidArgument.of("ship_to", f"a {order.method.value} order has no delivery address")
        store_id = request.store_id if request.store_id != record.store_id else ""
        if store_id and order.method is not Method.PICKUP:
            raise InvalidArgument.of("store_id", f"a {order.method.value} order has no pickup store to change")
        if store_id:
            new_store = await self.inventory.location(store_id)
            if new_store is None:
                raise NotFound("location", store_id, field="store_id")
            require_pickup(new_store)
        sets = {sku: units for sku, units in quantities.items() if order.split_set(sku) is not None}
        quantities = in_part_lines(order, quantities)
        quantities = {sku: units for sku, units in quantities.items() if not _unchanged(record, sku, units)}
        if not quantities and not store_id and ship_to is None:
            return orders_pb2.EditOrderResponse(order=order_message(record))  # nothing to change
        picking = await edit_repository.picking(conn, order.order_id)
        plan = plan_new_store(order, picking) if store_id else plan_quantities(order, quantities, picking)
        new_lines = await self._priced(record, quantities)
        query = replace(query_of(record), store_id=store_id or record.store_id)
        if ship_to is not None:
            query = replace(
                query,
                ship_to=Point(ship_to.point.latitude, ship_to.point.longitude),
                region=ship_to.region,
                country=ship_to.country,
            )
        adopted = await self._applied_before(record, plan, picking) if resumed else None
        if adopted is not None:
            # Resumed after a crash, its holds already changed: promised from them as an edit that
            # went through would be (the token: the stock as the holds were read).
            plan, added, token = adopted
        else:
            try:
                plan, added, token = await self._hold(record, request, plan, query, picking)
            except Shortfall as short:
                raise await self._as_the_customer_sees(record, query, quantities, short) from short
        after = resize_sets(apply_edit(order, quantities, plan, added, new_lines), sets)
        history = orders_pb2.RoutingPlan.FromString((record.decision or orders_pb2.RoutingPlan()).SerializeToString())
        history.explanation = (history.explanation + " " + _note(record, quantities, ship_to, store_id, added)).strip()
        arriving = await self._on_the_way(record, plan, added, token) if token else {}
        dated, promise = await self._promise_after(record, after, added, arriving, ship_to, store_id)
        if dated and promise is not None:
            history.promise.CopyFrom(promise_message(promise))
        elif dated:
            history.ClearField("promise")
        repromised = history.promise != record.decision.promise if record.decision is not None else False
        edited = replace(
            record.with_order(after),
            decision=history,
            ship_to=ship_to if ship_to is not None else record.ship_to,
            store_id=store_id or record.store_id,
        )
        saved = await repository.save(conn, edited)
        await edit_repository.save_edited(
            conn,
            order.order_id,
            ship_to=saved.ship_to,
            store_id=saved.store_id,
            total_minor=after.total_minor,
            sets=after.sets,
        )
        event = order_changed(saved, added)
        event.previous.CopyFrom(order_message(record))
        await self.outbox.add(conn, "order.edited", event)
        await announce(self.outbox, conn, saved, record, order, repromised)
        log.info(
            "order.edited",
            order_id=order.order_id,
            lines=quantities,
            new_allocations=len(added),
            store_id=store_id,
            ship_to=ship_to is not None,
        )
        return orders_pb2.EditOrderResponse(order=order_message(saved))

    async def _on_the_way(
        self, record: OrderRecord, plan: EditPlan, added: list[Allocation], token: str
    ) -> dict[str, OnTheWay]:
        """Where the edit's new units (grown in place or routed) are held beyond the shelf (a pool's
        units in transit, a backorder), when they arrive; read after the holds changed (``token``)."""
        grown: dict[str, set[str]] = {}
        for allocation_id, lines in plan.grow.items():
            allocation = record.order.allocation(allocation_id)
            if allocation is not None:
                grown.setdefault(allocation.location_id, set()).update(lines)
        for allocation in added:
            grown.setdefault(allocation.location_id, set()).update(allocation.lines)
        if not grown:
            return {}
        skus = set().union(*grown.values())
        levels = await self.inventory.stock(skus, record.channel, location_ids=grown, consistency_token=token)
        found: dict[str, OnTheWay] = {}
        for location_id, touched in sorted(grown.items()):
            rows = [level for level in levels if level.location_id == location_id and level.sku in touched]
            missing = beyond_shelf(rows, {})
            if not missing:
                continue
            waiting = await on_the_way(self.inventory, location_id, missing, rows)
            if waiting is not None:
                found[location_id] = waiting
        return found

    async def _promise_after(
        self,
        record: OrderRecord,
        after: Order,
        added: list[Allocation],
        arriving: Mapping[str, OnTheWay],
        ship_to: orders_pb2.Address | None,
        store_id: str,
    ) -> tuple[bool, Promise | None]:
        """Whether the edit moves the order's promise, and the promise of the plan it commits (None:
        no date can be said). Nothing is promised where nothing was (a till sale, units left
        unfilled). A new pickup store prepares everything from now; units routed by the edit are
        handled from now, and units it holds that are still on their way (``arriving``, by
        location) from their arrival, so the order is had at the later of its promise and theirs; a
        new address, or an allocation the edit emptied, gives each held allocation's delivery again
        (handled from when the order was placed, or as just said for those), the last of them."""
        keep = (False, None)
        if record.decision is None or not record.decision.HasField("promise"):
            return keep
        if any(waiting.awaited.arrival is None for waiting in arriving.values()):
            return True, None  # routed units on their way that nothing says when
        now = datetime.now(UTC)
        old = record.decision.promise
        if after.method is Method.PICKUP:
            store = await self.inventory.location(store_id or record.store_id)
            if store is None or not (store_id or added or arriving):
                return keep
            fresh = pickup_promise(store, now, arriving.get(store.location_id))
            return (True, fresh) if store_id or fresh.at > old.at.ToDatetime(tzinfo=UTC) else keep
        if after.method is not Method.SHIP:
            return keep
        address = ship_to if ship_to is not None else record.ship_to
        region, country = (address.region, address.country) if address is not None else ("", "")
        held = [allocation for allocation in after.allocations if allocation.held]
        locations = await self.inventory.locations(allocation.location_id for allocation in held)
        new = {allocation.allocation_id for allocation in added}
        placed = record.created_at or now
        emptied = {a.location_id for a in record.order.allocations if a.held} - {a.location_id for a in held}
        readdressed = ship_to is not None and (
            record.ship_to is None
            or (ship_to.region.upper(), ship_to.country.upper())
            != (record.ship_to.region.upper(), record.ship_to.country.upper())
        )

        def arrival(location_id: str) -> datetime | None:
            waiting = arriving.get(location_id)
            return waiting.awaited.arrival if waiting is not None else None

        if not readdressed and old.location_id not in emptied:
            last = latest(
                [
                    delivery_promise(locations[a.location_id], now, region, country, arrival(a.location_id))
                    for a in held
                    if (a.allocation_id in new or a.location_id in arriving) and a.location_id in locations
                ]
            )
            return (True, last) if last is not None and last.at > old.at.ToDatetime(tzinfo=UTC) else keep
        again = latest(
            [
                delivery_promise(locations[a.location_id], now, region, country, arrival(a.location_id))
                if a.allocation_id in new or a.location_id in arriving
                else delivery_promise(locations[a.location_id], placed, region, country)
                for a in held
                if a.location_id in locations
            ]
        )
        return (True, again) if again is not None else keep

    async def _as_the_customer_sees(
        self, record: OrderRecord, query: RouteQuery, quantities: Mapping[str, int], short: Shortfall
    ) -> Shortfall:
        """An edit's refusal in the customer's terms. Routing and inventory were asked only for the
        units the edit adds, beside what the order holds, so they said "requested <the increase>,
        available 0" where the customer could have more: each short line now says the quantity the
        edit asked for it, and the most one location that may serve the order could give it — the
        units the order already holds there and those still available beside them."""
        order = record.order
        skus = sorted({line.sku for line in short.lines})
        asked = {line.sku: line.quantity for line in order.lines} | dict(quantities)
        own: dict[tuple[str, str], int] = {}
        for allocation in order.allocations:
            if allocation.held:
                for sku, units in allocation.lines.items():
                    own[(allocation.location_id, sku)] = own.get((allocation.location_id, sku), 0) + units
        single_store = query.method is not Method.SHIP
        levels = await self.inventory.stock(
            skus,
            query.channel,
            selling_location_id=query.selling_location_id,
            location_ids=[query.store_id] if single_store else (),
        )
        have = dict(own)
        for level in levels:
            key = (level.location_id, level.sku)
            have[key] = have.get(key, 0) + max(0, level.available)
        if single_store:
            serving = {query.store_id}
        else:
            excluded = set(query.options.exclude_location_ids)
            known = await self.inventory.locations({location_id for location_id, _ in have})
            serving = {
                location_id
                for location_id, location in known.items()
                if location.active and location.ships and location_id not in excluded
            }
        lines = []
        for sku in skus:
            best = min(
                (location_id for location_id in serving),
                key=lambda location_id: (-have.get((location_id, sku), 0), location_id),
                default=query.store_id,
            )
            lines.append(ShortLine(best, sku, asked.get(sku, 0), have.get((best, sku), 0)))
        return Shortfall(lines, short.alternatives)

    async def _applied_before(
        self, record: OrderRecord, plan: EditPlan, picking: frozenset[str]
    ) -> tuple[EditPlan, list[Allocation], str] | None:
        """An edit begun before a crash may have changed the holds already (its routing, asked again
        now, could choose differently): when the holds show this edit done, it is adopted as it is,
        with the consistency token of the holds' reads (a stock read passing it sees them so)."""
        order = record.order
        holds = {a.hold_id for a in order.allocations if a.held}
        if not holds or not (plan.grow or plan.route):
            return None  # nothing routed: the same request again gets inventory's stored answer
        actual: dict[str, dict[tuple[str, str], int]] = {}
        token = ""
        for hold_id in sorted(holds):
            # Each read's token is taken after it, so the last one covers every hold read before.
            hold, token = await self.inventory.read_hold(hold_id)
            if hold.state == inventory_pb2.HOLD_STATE_ACTIVE:
                actual[hold_id] = {(line.location_id, line.sku): line.open for line in hold.lines if line.open}
        if actual == {hold: lines for hold, lines in open_before(order).items() if lines}:
            return None  # nothing was done: the edit goes ahead as usual
        found = already_applied(order, plan, actual, picking, _primary_hold(record))
        if found is None:
            return None  # something else changed the holds: the edit is refused (HOLD_LINE_CHANGED)
        adopted, routed = found
        added = [
            Allocation(str(uuid.uuid4()), location_id, _primary_hold(record), lines)
            for location_id, lines in sorted(routed.items())
        ]
        log.warning("order.edit_adopted", order_id=order.order_id, new_allocations=len(added))
        return adopted, added, token

    async def _priced(self, record: OrderRecord, quantities: Mapping[str, int]) -> list[OrderLine]:
        """New lines at inventory's current prices, in the order's currency."""
        existing = {line.sku for line in record.order.lines}
        wanted = sorted(sku for sku, units in quantities.items() if units > 0 and sku not in existing)
        if not wanted:
            return []
        skus = await self.inventory.skus(wanted)
        next_no = max((line.line_no for line in record.order.lines), default=0) + 1
        lines = []
        for sku in wanted:
            found = skus.get(sku)
            if found is None:
                raise NotFound("sku", sku, field="lines.sku")
            if record.currency and found.currency != record.currency:
                raise InvalidArgument.of(
                    "lines", f"{sku} is priced in {found.currency}, the order in {record.currency}"
                )
            lines.append(
                OrderLine(
                    line_no=next_no,
                    sku=sku,
                    quantity=quantities[sku],
                    unit_price_minor=found.price_minor,
                    currency=found.currency,
                    components=tuple((part.sku, part.quantity) for part in found.components),
                )
            )
            next_no += 1
        return lines

    async def _hold(
        self,
        record: OrderRecord,
        request: orders_pb2.EditOrderRequest,
        plan: EditPlan,
        query: RouteQuery,
        picking: frozenset[str],
    ) -> tuple[EditPlan, list[Allocation], str]:
        """Change the holds as the plan says (routing what has no allocation to grow); an increase that
        does not fit where its allocation is moves to routing and the whole change is asked again.
        With the consistency token of the change ("" when no hold changed)."""
        order = record.order
        before = open_before(order)
        # Never beside a pick list in a picker's hands: two lists drawing on one hold line could
        # take each other's units.
        excluded = {
            a.location_id
            for a in order.allocations
            if a.held and a.allocation_id in picking and set(a.lines) & set(plan.route)
        }
        failure: Shortfall | None = None
        for attempt in range(1, max(1, self.settings.order_route_attempts) + 1):
            added: list[Allocation] = []
            wanted = plan
            if plan.route:
                planned = await self.planner.plan(
                    replace(query, lines=dict(plan.route), exclude=frozenset(excluded), allow_partial=False)
                )
                if not planned.usable:
                    raise planned.shortfall()
                primary = _primary_hold(record)
                wanted, added = merge_routed(
                    order, plan, holding.allocations_from(planned.message, primary), picking, primary
                )
            after = open_after(order, wanted, added)
            changes: dict[str, dict[tuple[str, str], tuple[int, int]]] = {}
            for hold_id in sorted(set(before) | set(after)):
                was, will = before.get(hold_id, {}), after.get(hold_id, {})
                lines = {key: (will.get(key, 0), was.get(key, 0)) for key in set(was) | set(will)}
                changes[hold_id] = {key: units for key, units in lines.items() if units[0] != units[1]}
            if not any(changes.values()):
                return wanted, added, ""
            refuse_components_beside_sets(order, before, after, changes)
            # The caller's request id may be long: inventory gets a digest of it (ids stay within 128 characters).
            edit_key = hashlib.sha256(request.request_id.encode()).hexdigest()[:24]
            request_id = holding.derived_request_id(order.order_id, "edit", edit_key, str(attempt))
            try:
                token = await self.inventory.adjust_holds(
                    request_id, changes, f"order {order.order_id} edited: {request.reason or 'no reason given'}"
                )
                return wanted, added, token
            except Shortfall as short:
                failure = short
                for line in short.lines:
                    for allocation_id, grown in sorted(plan.grow.items()):
                        allocation = order.allocation(allocation_id)
                        if allocation is not None and allocation.location_id == line.location_id and line.sku in grown:
                            plan = plan.moved_to_routing(allocation_id, line.sku)
                            excluded.add(line.location_id)
                # Otherwise the routed units went between the plan and the hold: plan them again.
        assert failure is not None
        raise failure


def _unchanged(record: OrderRecord, sku: str, units: int) -> bool:
    return any(line.sku == sku and line.quantity == units for line in record.order.lines)


def _primary_hold(record: OrderRecord) -> str:
    """The hold routed units are added to: the newest one still held for the order."""
    for allocation in reversed(record.order.allocations):
        if allocation.held:
            return allocation.hold_id
    raise FailedPrecondition(
        f"order {record.order_id} holds nothing any more: new units cannot be added to it",
        [PreconditionViolation("ORDER_STATUS", record.order_id, "nothing held")],
        reason=Reason.INVALID_STATE,
    )


def _note(
    record: OrderRecord,
    quantities: Mapping[str, int],
    ship_to: orders_pb2.Address | None,
    store_id: str,
    added: list[Allocation],
) -> str:
    parts = []
    if quantities:
        parts.append(f"lines now {_units(quantities)}")
    if ship_to is not None:
        parts.append(f"ships to {ship_to.city or 'a new address'}")
    if store_id:
        parts.append(f"pickup moved from {record.store_id} to {store_id}")
    if added:
        parts.append("held at " + ", ".join(f"{a.location_id} ({_units(a.lines)})" for a in added))
    return "Edited: " + "; ".join(parts) + "."
