"""Fulfilment holds: put an order (or one allocation) on hold, release it, and let a hold nobody
released run out, which cancels the order cleanly.

The order's stock stays held throughout: before a hold is recorded, the inventory holds of the
order are extended to outlive it (`inventory_hold_ttl`), and on release to run the usual
order_hold_ttl from then on. Those calls are made under request ids derived from the order, the hold
and the expiry asked for, inside the transaction that holds the order's row lock (as a cancellation
does): a failure rolls the hold back, and a retry asks inventory again and gets the same answer.
Fulfilment learns of every change from the order's events and keeps the tasks blocked meanwhile.

An order placed on hold was promised as if it were worked at once. Work that waited is handled from
its release: the release promises the allocations it frees from then, and the order is had at the
later of its promise and theirs (`orders.order.repromised` when that moves it).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg

from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters import hold_repository, repository
from omnistock_orders.adapters.hold_messages import REASON_CODES, hold_message
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import order_changed, order_message
from omnistock_orders.adapters.repository import OrderRecord
from omnistock_orders.domain import fulfilment_holds as rules
from omnistock_orders.domain.fulfilment_holds import BACK_OFFICE_ONLY, FulfilmentHold, HoldStatus
from omnistock_orders.domain.order import Allocation, IllegalTransition
from omnistock_orders.domain.routing import Method
from omnistock_orders.service_layer import holding
from omnistock_orders.service_layer.announcing import announce
from omnistock_orders.service_layer.cancelling import NoLongerDue, OrderCancellation
from omnistock_orders.service_layer.planning import delivery_promise, pickup_promise
from omnistock_orders.service_layer.queries import require_scope
from omnistock_orders.settings import OrdersSettings
from omnistock_platform.auth import Role, current_principal
from omnistock_platform.db import Database
from omnistock_platform.errors import (
    NotFound,
    OmnistockError,
    PermissionDenied,
    Reason,
)
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore, acting_for, current_caller
from omnistock_platform.logging import get_logger
from omnistock_platform.loops import repeat
from omnistock_platform.promise_messages import promise_message
from omnistock_platform.promising import latest
from omnistock_platform.validation import Validator

log = get_logger(__name__)

MAX_NOTE = 500
RELEASERS_OF_EVERYTHING = frozenset({Role.ADMIN, Role.SERVICE})
# Orders the expiry sweep looks at per round.
SWEEP_BATCH = 50


def validate_request(
    check: Validator, field: str, request: orders_pb2.FulfilmentHoldRequest, settings: OrdersSettings
) -> timedelta | None:
    """The hold's ttl, checked (every problem added to `check`)."""
    check.enum(f"{field}.reason", request.reason, REASON_CODES)
    check.text(f"{field}.note", request.note, max_length=MAX_NOTE)
    ttl = check.duration(f"{field}.ttl", request.ttl) if request.HasField("ttl") else settings.order_fulfilment_hold_ttl
    longest = min(settings.order_fulfilment_hold_max_ttl, settings.hold_max_ttl - rules.INVENTORY_MARGIN)
    if ttl is not None:
        check.check(timedelta(0) < ttl <= longest, f"{field}.ttl", f"must be positive and at most {longest}")
    return ttl


def requested_hold(
    request: orders_pb2.CreateOrderRequest, method: Method, settings: OrdersSettings
) -> tuple[FulfilmentHold, ...]:
    """The hold CreateOrder asks for, to start once the order is placed (none when not asked)."""
    if not request.HasField("hold"):
        return ()
    check = Validator()
    ttl = validate_request(check, "hold", request.hold, settings)
    check.check(method is not Method.CARRY_OUT, "hold", "a carry-out is sold on the spot: nothing waits")
    check.raise_if_invalid()
    return (
        FulfilmentHold(
            hold_id=str(uuid.uuid4()),
            reason=REASON_CODES[request.hold.reason],
            status=HoldStatus.REQUESTED,
            note=request.hold.note,
            placed_by=current_principal().subject,
            ttl=ttl,
        ),
    )


def inventory_ttl(record: OrderRecord, settings: OrdersSettings, now: datetime | None = None) -> timedelta:
    """How long an inventory hold taken or kept for the order must run (see rules.inventory_hold_ttl)."""
    return rules.inventory_hold_ttl(
        record.holds, base=settings.order_hold_ttl, ceiling=settings.hold_max_ttl, now=now or datetime.now(UTC)
    )


async def start_requested(conn: asyncpg.Connection, record: OrderRecord) -> OrderRecord:
    """The order was just placed: the hold asked for with it starts now (in the placing transaction)."""
    if not any(hold.status is HoldStatus.REQUESTED for hold in record.holds):
        return record
    started = replace(record, holds=rules.start_requested(record.holds, datetime.now(UTC)))
    return await hold_repository.save_holds(conn, started)


def releasing_role() -> Role:
    """Who releases: the caller; for a release a crash cut short that the service finishes, the
    caller who began it (the role leads the key it is finished for, `caller_key`), not the service:
    holds placed since may include one that caller may not release."""
    began = acting_for.get()
    if began:
        with contextlib.suppress(ValueError):
            return Role(began.partition(":")[0])
    return current_principal().role


def expiry_cancellation(order_id: str, hold_id: str, reason: rules.HoldReason) -> orders_pb2.CancelOrderRequest:
    """The cancellation of an order whose fulfilment hold ran out: the same on every try."""
    return orders_pb2.CancelOrderRequest(
        request_id=holding.expiry_request_id(order_id, hold_id),
        order_id=order_id,
        reason=f"fulfilment hold {hold_id} ({reason.value.replace('_', ' ')}) expired",
    )


class OrderHolds:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        idempotency: IdempotencyStore,
        inventory: InventoryClient,
        cancellation: OrderCancellation,
        settings: OrdersSettings,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.inventory = inventory
        self.cancellation = cancellation
        self.settings = settings

    # -- placing and releasing ----------------------------------------------------------------------

    async def hold(self, request: orders_pb2.HoldOrderRequest) -> orders_pb2.HoldOrderResponse:
        check = Validator()
        check.text("request_id", request.request_id, required=True, max_length=128)
        check.identifier("order_id", request.order_id)
        check.text("allocation_id", request.allocation_id, max_length=64)
        check.check(request.HasField("hold"), "hold", "is required")
        ttl = validate_request(check, "hold", request.hold, self.settings)
        check.raise_if_invalid()
        assert ttl is not None
        # The same request (same caller, same request id) names the same hold on every retry, so the
        # calls inventory is asked on its behalf are the same calls.
        hold_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"omnistock:fulfilment-hold:{current_caller()}:{request.request_id}")
        )

        async def work(conn: asyncpg.Connection) -> orders_pb2.HoldOrderResponse:
            record = await self._locked(conn, request.order_id)
            now = datetime.now(UTC)
            wanted = FulfilmentHold(
                hold_id=hold_id,
                reason=REASON_CODES[request.hold.reason],
                allocation_id=request.allocation_id,
                note=request.hold.note,
                placed_by=current_principal().subject,
            )
            holds, started = rules.place(record.order, record.holds, wanted, now=now, ttl=ttl)
            record = replace(record, holds=holds)
            await self._keep_stock(record, now)
            saved = await hold_repository.save_holds(conn, record)
            await self.outbox.add(conn, "order.held", order_changed(saved))
            log.info("order.held", order_id=record.order_id, hold_id=hold_id, reason=started.reason.value)
            return orders_pb2.HoldOrderResponse(order=order_message(saved), hold=hold_message(started))

        return await self.idempotency.run_resumable(self.db, "HoldOrder", request, orders_pb2.HoldOrderResponse, work)

    async def release(self, request: orders_pb2.ReleaseOrderHoldRequest) -> orders_pb2.ReleaseOrderHoldResponse:
        check = Validator()
        check.text("request_id", request.request_id, required=True, max_length=128)
        check.identifier("order_id", request.order_id)
        check.text("fulfilment_hold_id", request.fulfilment_hold_id, max_length=64)
        check.text("note", request.note, max_length=MAX_NOTE)
        check.raise_if_invalid()
        principal = current_principal()
        role = releasing_role()

        async def work(conn: asyncpg.Connection) -> orders_pb2.ReleaseOrderHoldResponse:
            record = await self._locked(conn, request.order_id)
            if request.fulfilment_hold_id:
                targets = [rules.find(record.holds, request.fulfilment_hold_id)]
            else:
                targets = rules.active(record.holds)
            for hold in targets:
                if hold.active and hold.reason in BACK_OFFICE_ONLY and role not in RELEASERS_OF_EVERYTHING:
                    raise PermissionDenied(
                        f"a {hold.reason.value.replace('_', ' ')} hold is released by the back office only",
                        reason=Reason.ACTION_NOT_ALLOWED,
                    )
            now = datetime.now(UTC)
            holds = rules.release(
                record.holds, [hold.hold_id for hold in targets], by=principal.subject, note=request.note, now=now
            )
            if holds == record.holds:  # released before: nothing changes
                return orders_pb2.ReleaseOrderHoldResponse(order=order_message(record))
            before = record
            record = replace(record, holds=holds)
            if not record.order.terminal:
                await self._keep_stock(record, now)
            saved = await hold_repository.save_holds(conn, record)
            freed = [
                allocation
                for allocation in record.order.allocations
                if allocation.held
                and any(hold.active and hold.covers(allocation.allocation_id) for hold in targets)
                and not any(hold.covers(allocation.allocation_id) for hold in rules.active(holds))
            ]
            moved = await self._promise_from_release(saved, freed, now) if not record.order.terminal else None
            if moved is not None:
                saved = await repository.save(conn, replace(saved, decision=moved))
            await self.outbox.add(conn, "order.hold_released", order_changed(saved))
            await announce(self.outbox, conn, saved, before, before.order, moved is not None)
            log.info("order.hold_released", order_id=record.order_id, holds=[hold.hold_id for hold in targets])
            return orders_pb2.ReleaseOrderHoldResponse(order=order_message(saved))

        return await self.idempotency.run_resumable(
            self.db, "ReleaseOrderHold", request, orders_pb2.ReleaseOrderHoldResponse, work
        )

    async def _promise_from_release(
        self, record: OrderRecord, freed: list[Allocation], now: datetime
    ) -> orders_pb2.RoutingPlan | None:
        """The order's decision with its promise moved, when the work the release frees, handled from
        now, is had later than promised; None when the promise stands (or none was made: a till sale,
        units left unfilled or on their way that nothing says when). Units on their way were promised
        from their arrival: handled from now they come no sooner than from the later of the two."""
        decision = record.decision
        if decision is None or not decision.HasField("promise") or not freed:
            return None
        method = record.order.method
        if method is Method.PICKUP:
            store = await self.inventory.location(record.store_id or freed[0].location_id)
            fresh = pickup_promise(store, now) if store is not None else None
        elif method is Method.SHIP:
            locations = await self.inventory.locations(allocation.location_id for allocation in freed)
            address = record.ship_to
            region, country = (address.region, address.country) if address is not None else ("", "")
            fresh = latest(
                [
                    delivery_promise(locations[allocation.location_id], now, region, country)
                    for allocation in freed
                    if allocation.location_id in locations
                ]
            )
        else:
            return None
        if fresh is None or fresh.at <= decision.promise.at.ToDatetime(tzinfo=UTC):
            return None
        moved = orders_pb2.RoutingPlan.FromString(decision.SerializeToString())
        moved.promise.CopyFrom(promise_message(fresh))
        log.info("order.repromised_on_release", order_id=record.order_id, promise=fresh.wording)
        return moved

    async def _locked(self, conn: asyncpg.Connection, order_id: str) -> OrderRecord:
        # The row lock keeps shipments, re-routes and cancellations out until the change is decided.
        record = await repository.get(conn, order_id, lock=True)
        if record is None:
            raise NotFound("order", order_id, field="order_id")
        require_scope(record)
        return record

    async def _keep_stock(self, record: OrderRecord, now: datetime) -> None:
        """Every inventory hold of the order's held allocations runs at least as long as its holds need."""
        wanted = (now + inventory_ttl(record, self.settings, now)).replace(microsecond=0)
        for hold_id in sorted({a.hold_id for a in record.order.allocations if a.held and a.hold_id}):
            held = await self.inventory.get_hold(hold_id)
            if held.state != inventory_pb2.HOLD_STATE_ACTIVE or held.expires_at.ToDatetime(tzinfo=UTC) >= wanted:
                continue
            request_id = holding.derived_request_id(record.order_id, "keep", hold_id, str(int(wanted.timestamp())))
            await self.inventory.extend(request_id, hold_id, wanted)
            log.info("order.stock_kept", order_id=record.order_id, hold_id=hold_id, until=wanted.isoformat())

    # -- expiry -------------------------------------------------------------------------------------

    async def expire_due(self, limit: int = SWEEP_BATCH) -> int:
        """Cancel the orders whose hold ran out, and close the holds of orders that ended. Returns how
        many holds expired."""
        expired = 0
        for order_id in await hold_repository.due(self.db.pool, limit):
            try:
                expired += await self._expire(order_id)
            except OmnistockError as error:  # inventory away, a lost race: next round
                log.warning("order.hold_expiry_postponed", order_id=order_id, error=error.message)
        return expired

    async def _expire(self, order_id: str) -> int:
        record = await repository.get(self.db.pool, order_id)
        if record is None:
            return 0
        now = datetime.now(UTC)
        due = [h for h in rules.active(record.holds) if h.expires_at is not None and h.expires_at <= now]
        if due and not record.order.terminal:
            first = due[0]
            # Cancelled first, under a request id of the hold: a crash before the hold is marked
            # expired only repeats this (answered from the idempotency store). Read above without
            # the order's lock: refused when released meanwhile (the cancellation checks it), and
            # what else ran out or ended is closed below. Refused too when everything left before
            # (inventory sold it, the shipment not yet recorded): the hold still runs out, so that
            # nothing waits for it any more and the shipment is recorded as it comes.
            with contextlib.suppress(NoLongerDue, IllegalTransition):
                await self.cancellation.cancel(expiry_cancellation(order_id, first.hold_id, first.reason))
        async with self.db.transaction() as conn:
            record = await repository.get(conn, order_id, lock=True)
            if record is None:
                return 0
            holds, expired = rules.close_due(record.order, record.holds, datetime.now(UTC))
            if holds == record.holds:
                return 0
            saved = await hold_repository.save_holds(conn, replace(record, holds=holds))
            if expired:
                await self.outbox.add(conn, "order.hold_expired", order_changed(saved))
                log.info("order.hold_expired", order_id=order_id, holds=[hold.hold_id for hold in expired])
            return len(expired)

    async def sweep(self, stop: asyncio.Event) -> None:
        """Holds nobody released run out here: their orders are cancelled and their stock released."""
        interval = self.settings.order_fulfilment_hold_sweep_interval.total_seconds()

        async def one_round() -> bool:
            return bool(await self.expire_due())

        await repeat(stop, interval, one_round, failed="order.hold_sweep_failed")
