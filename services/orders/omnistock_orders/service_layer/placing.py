"""Placing an order: quote, create, and finish what a crash left half done.

Creating an order spans PostgreSQL and inventory, so it is written as a sequence of steps each of
which can be repeated with the same effect:

1. the order is written PENDING (committed), keyed by the caller's request id;
2. for each placement attempt the remote call it will make (a Hold, or a ConvertReservation) is
   recorded on the order *before* it is made, under a request id derived from the order id and the
   attempt number — a retry of the request, or the recovery loop after a crash, makes exactly that
   call again and gets the same answer from the other service's idempotency store;
3. the allocations, the decision record, the status and the events commit in one transaction.

An order that can never get its stock is removed again (nothing was held for it), so a retry of
the request is evaluated afresh, like any failed call.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock.reservations.v1 import reservations_pb2
from omnistock_orders.adapters import hold_repository, repository
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.messages import order_changed, order_message, sku_quantities
from omnistock_orders.adapters.repository import OrderRecord, PendingCall
from omnistock_orders.adapters.reservations_client import ReservationsClient
from omnistock_orders.domain.fulfilment_holds import FulfilmentHold
from omnistock_orders.domain.order import (
    AllocationStatus,
    OrderLine,
    OrderSet,
    OrderStatus,
    new_order,
    place,
    split_sets,
)
from omnistock_orders.domain.routing import Method
from omnistock_orders.service_layer import holding
from omnistock_orders.service_layer.fulfilment_holds import inventory_ttl, requested_hold, start_requested
from omnistock_orders.service_layer.planning import Planner, RouteQuery
from omnistock_orders.service_layer.requests import create_query, quote_query
from omnistock_orders.settings import OrdersSettings
from omnistock_platform.auth import Role, current_principal, require_location, require_own_channel
from omnistock_platform.db import Database
from omnistock_platform.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    IdempotencyMismatch,
    InvalidArgument,
    NotFound,
    OmnistockError,
    PermissionDenied,
    PreconditionViolation,
    Reason,
    Shortfall,
)
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.geo import Point
from omnistock_platform.idempotency import fingerprint
from omnistock_platform.logging import get_logger
from omnistock_platform.statement import Statement
from omnistock_platform.validation import MAX_QUANTITY, Validator

log = get_logger(__name__)

SOURCE_ROUTE = "route"
SOURCE_CARRY_OUT = "carry_out"
SOURCE_RESERVATION = "reservation"
TILL_ROLES = frozenset({Role.POS, Role.ADMIN})
# Answers of reservations that mean "no": the order is dropped and the caller hears why.
REFUSALS = (FailedPrecondition, NotFound, InvalidArgument, PermissionDenied, AlreadyExists)


# How soon a concurrent duplicate of a CreateOrder is told to ask again: placing takes a few round trips.
IN_PROGRESS_RETRY_SECONDS = 0.2


def in_progress(order_id: str) -> Aborted:
    """What a call hears when another call with the same request id is placing (or has just settled)
    the order: the first call's answer is not yet stored, so ask again with the same request id. A
    crash never shows as this: an order a crash left pending is finished by the recovery loop."""
    return Aborted(
        f"order {order_id} is being placed by another call with the same request_id; retry with it",
        IN_PROGRESS_RETRY_SECONDS,
        reason=Reason.REQUEST_IN_PROGRESS,
    )


def require_till(query: RouteQuery) -> None:
    """A carry-out is a till's sale at its own store: only tills, only there. (A quote is a read of
    stock, which every channel sees everywhere.)"""
    if query.method is not Method.CARRY_OUT:
        return
    principal = current_principal()
    if principal.role not in TILL_ROLES:
        raise PermissionDenied(f"role {principal.role} may not sell at a till", reason=Reason.ACTION_NOT_ALLOWED)
    require_location(query.store_id, "store")


def require_pickup(store: inventory_pb2.Location) -> None:
    """A pickup order's store must hand orders over: an active location that offers pickup."""
    if not (store.active and store.pickup):
        raise InvalidArgument.of("store_id", f"store {store.location_id} does not offer pickup")


def query_of(record: OrderRecord) -> RouteQuery:
    """The routing question of a stored order (to resume it after a crash)."""
    ship_to = None
    if record.ship_to is not None and record.ship_to.HasField("point"):
        ship_to = Point(record.ship_to.point.latitude, record.ship_to.point.longitude)
    return RouteQuery(
        lines=record.order.wanted,
        method=record.order.method,
        channel=record.channel,
        ship_to=ship_to,
        store_id=record.store_id,
        options=record.options,
        region=record.ship_to.region if record.ship_to is not None else "",
        country=record.ship_to.country if record.ship_to is not None else "",
    )


def splits(method: Method) -> bool:
    """Whether an order of this method takes a splittable set as its parts: not a till's carry-out,
    which sells at its one store anyway (and the set there as one line, as it stands on the shelf)."""
    return method is not Method.CARRY_OUT


def as_parts(lines: list[OrderLine], skus: Mapping[str, inventory_pb2.Sku]) -> tuple[list[OrderLine], list[OrderSet]]:
    """The lines with each splittable set as its parts (`split_sets`). A part line may not ask more units
    than one hold line can take: INVALID_ARGUMENT naming the set's line."""
    splittable = frozenset(code for code, sku in skus.items() if sku.allow_split and sku.components)
    parts, sets = split_sets(lines, splittable)
    check = Validator()
    index = {line.sku: number for number, line in enumerate(lines)}
    for part in parts:
        if part.part_of and part.quantity > MAX_QUANTITY:
            check.fail(
                f"lines[{index[part.part_of]}].quantity",
                f"{part.part_of} would take {part.quantity} of its part {part.sku}, at most {MAX_QUANTITY}",
            )
    check.raise_if_invalid()
    return parts, sets


def order_lines(wanted: Mapping[str, int], order: list[str], skus: Mapping[str, inventory_pb2.Sku]) -> list[OrderLine]:
    """The lines in the caller's order, at inventory's current prices, a set's with its components."""
    return [
        OrderLine(
            line_no=number,
            sku=sku,
            quantity=wanted[sku],
            unit_price_minor=skus[sku].price_minor,
            currency=skus[sku].currency,
            components=tuple((part.sku, part.quantity) for part in skus[sku].components),
        )
        for number, sku in enumerate(order, start=1)
    ]


class OrderPlacement:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        planner: Planner,
        inventory: InventoryClient,
        reservations: ReservationsClient,
        settings: OrdersSettings,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.planner = planner
        self.inventory = inventory
        self.reservations = reservations
        self.settings = settings

    # -- QuoteRouting -------------------------------------------------------------------------------

    async def quote(self, request: orders_pb2.QuoteRoutingRequest) -> orders_pb2.QuoteRoutingResponse:
        query = quote_query(request)
        # The dry run of CreateOrder: a store that cannot serve the method is refused as the order is.
        await self._require_store(query.store_id, query.method)
        # The lines CreateOrder would route (a splittable set as its parts), refused as it refuses them.
        lines, _, _ = await self._priced(query.lines, [line.sku for line in request.lines], split=splits(query.method))
        planned = await self.planner.plan(replace(query, lines={line.sku: line.quantity for line in lines}))
        return orders_pb2.QuoteRoutingResponse(plan=planned.message)

    async def _require_store(self, store_id: str, method: Method | None = None) -> None:
        """The store exists; for a pickup order it offers pickup, for a carry-out it sells at a till
        (routing would pass it over and answer a shortfall of stock the store may well have)."""
        if not store_id:
            return
        location = await self.inventory.location(store_id)
        if location is None:
            raise NotFound("location", store_id, field="store_id")
        if method is Method.PICKUP:
            require_pickup(location)
        if method is Method.CARRY_OUT and not (location.active and location.till_sales):
            raise InvalidArgument.of("store_id", f"store {store_id} does not sell at a till")

    async def _require_skus(self, order: list[str]) -> dict[str, inventory_pb2.Sku]:
        """The SKUs, each of which inventory must know: an unknown one is NOT_FOUND (not out of stock)."""
        skus = await self.inventory.skus(order)
        for index, sku in enumerate(order):
            if sku not in skus:
                raise NotFound("sku", sku, field=f"lines[{index}].sku")
        return skus

    # -- CreateOrder --------------------------------------------------------------------------------

    async def create(self, request: orders_pb2.CreateOrderRequest) -> orders_pb2.CreateOrderResponse:
        query = create_query(request)
        holds = requested_hold(request, query.method, self.settings)
        require_own_channel(request.channel)  # its pools keep each channel's share
        require_till(query)
        digest = fingerprint("CreateOrder", request)
        existing = await repository.by_request_id(self.db.pool, request.request_id)
        if existing is not None:
            return await self._resume(*existing, digest)
        if request.reservation_id:
            return await self._create_from_reservation(request, digest, holds)
        await self._require_store(query.store_id, query.method)
        lines, sets, currency = await self._priced(
            query.lines, [line.sku for line in request.lines], split=splits(query.method)
        )
        source = SOURCE_CARRY_OUT if query.method is Method.CARRY_OUT else SOURCE_ROUTE
        order = new_order(str(uuid.uuid4()), query.method, lines, sets)
        # Decided before the order is written: a retry and a resume route the lines stored with it.
        query = replace(query, lines=order.wanted)
        record = OrderRecord(
            order=order,
            request_id=request.request_id,
            channel=request.channel,
            customer_id=request.customer_id,
            options=request.options,
            source=source,
            ship_to=request.ship_to if request.HasField("ship_to") else None,
            store_id=query.store_id,
            currency=currency,
            holds=holds,
        )
        if not record.holds:
            # Planned before the order is written, so that the order and its first attempt (the hold
            # call it makes) are one statement and one commit: recovery and a retry find the call
            # recorded before inventory is asked, as when the attempt was claimed after the insert.
            planned = await self.planner.plan(query)
            if planned.usable:
                first, call = self._attempt_call(record, query, 1, planned.message)
                if not await self._insert(record, digest, first):
                    return await self._resume_request(request.request_id, digest)
                placed = await self._route(record, query, first, made=(first.call or b"", call))
                return orders_pb2.CreateOrderResponse(order=placed)
        if not await self._insert(record, digest):
            return await self._resume_request(request.request_id, digest)
        # Just written: nothing was attempted yet, no need to read that back.
        fresh = PendingCall(attempt=0, call=None, decision=None, status=OrderStatus.PENDING)
        return orders_pb2.CreateOrderResponse(order=await self._route(record, query, fresh))

    async def _insert(self, record: OrderRecord, digest: bytes, claim: PendingCall | None = None) -> bool:
        if not record.holds:  # one statement: it commits alone, as a transaction would
            async with self.db.connection() as conn:
                return await repository.insert_pending(conn, record, digest, claim)
        async with self.db.transaction() as conn:
            inserted = await repository.insert_pending(conn, record, digest)
            if inserted and record.holds:  # asked for with the order: they start when it is placed
                await hold_repository.save_holds(conn, record)
            return inserted

    async def _resume_request(self, request_id: str, digest: bytes) -> orders_pb2.CreateOrderResponse:
        existing = await repository.by_request_id(self.db.pool, request_id)
        if existing is None:  # taken by a concurrent duplicate that then gave up: ask again
            raise Aborted(
                f"request {request_id} is being handled by another call; retry with the same request_id",
                IN_PROGRESS_RETRY_SECONDS,
                reason=Reason.REQUEST_IN_PROGRESS,
            )
        return await self._resume(*existing, digest)

    async def _resume(self, record: OrderRecord, stored: bytes, digest: bytes) -> orders_pb2.CreateOrderResponse:
        """The same request again: the first answer, or the unfinished placement carried on."""
        if stored != digest:
            raise IdempotencyMismatch(record.request_id)
        if record.order.status is not OrderStatus.PENDING:
            return orders_pb2.CreateOrderResponse(order=order_message(record))
        if record.source == SOURCE_RESERVATION:
            return orders_pb2.CreateOrderResponse(order=await self._convert(record))
        return orders_pb2.CreateOrderResponse(order=await self._route(record, query_of(record)))

    async def _priced(
        self, wanted: Mapping[str, int], order: list[str], *, split: bool = False
    ) -> tuple[list[OrderLine], list[OrderSet], str]:
        """Order lines at inventory's current prices; every SKU must exist and share one currency.
        With `split`, a splittable set is ordered as its parts (`split_sets`)."""
        skus = await self._require_skus(order)
        currencies = {skus[sku].currency for sku in wanted}
        if len(currencies) > 1:
            raise InvalidArgument.of(
                "lines", f"SKUs are priced in different currencies: {', '.join(sorted(currencies))}"
            )
        lines = order_lines(wanted, order, skus)
        sets: list[OrderSet] = []
        if split:
            lines, sets = as_parts(lines, skus)
        return lines, sets, currencies.pop() if currencies else ""

    # -- routing and holding ------------------------------------------------------------------------

    def _attempts(self, record: OrderRecord) -> int:
        # A till sale holds and commits at once at the one store: trying again could only sell twice.
        return 1 if record.source == SOURCE_CARRY_OUT else max(1, self.settings.order_route_attempts)

    def _attempt_call(
        self, record: OrderRecord, query: RouteQuery, attempt: int, decision: orders_pb2.RoutingPlan
    ) -> tuple[PendingCall, inventory_pb2.HoldRequest]:
        """The hold call attempt `attempt` makes for a plan, as it is recorded before it is made."""
        order_id = record.order_id
        request = holding.hold_request(
            order_id=order_id,
            request_id=holding.derived_request_id(order_id, "hold", str(attempt)),
            channel=common_pb2.CHANNEL_POS if record.source == SOURCE_CARRY_OUT else record.channel,
            plan=decision,
            ttl=holding.lasting_past_promise(
                inventory_ttl(record, self.settings), decision, ceiling=self.settings.hold_max_ttl
            ),
            selling_location_id=query.selling_location_id,
            commit_now=record.source == SOURCE_CARRY_OUT,
        )
        recorded = request.SerializeToString(deterministic=True)
        return PendingCall(attempt=attempt, call=recorded, decision=decision, status=OrderStatus.PENDING), request

    async def _route(
        self,
        record: OrderRecord,
        query: RouteQuery,
        state: PendingCall | None = None,
        made: tuple[bytes, inventory_pb2.HoldRequest] | None = None,
    ) -> orders_pb2.Order:
        """Plan, hold everything at once, and on a lost race plan again (bounded). `state` is the
        order's placement as the caller knows it; read from the database when not given. `made`: the
        hold request this call just recorded (its bytes and itself), so it need not be parsed back."""
        order_id = record.order_id
        if state is None:
            state = await self._state(order_id)
        failure: Shortfall | None = None
        while True:
            if state.status is not OrderStatus.PENDING:
                return await self._current(order_id)
            if state.call is None or failure is not None:
                if state.attempt >= self._attempts(record):
                    break
                planned = await self.planner.plan(query)
                if not planned.usable:
                    failure = planned.shortfall()
                    break
                attempt = state.attempt + 1
                decision = planned.message  # built anew on each access: a few hundred stock versions
                wanted, request = self._attempt_call(record, query, attempt, decision)
                recorded = wanted.call or b""
                claimed = await repository.claim_attempt(self.db.pool, order_id, attempt, recorded, decision)
                if claimed is None:
                    raise in_progress(order_id)
                state, failure, made = claimed, None, (recorded, request)
                continue
            if made is not None and made[0] == state.call:
                call = made[1]  # the request this call recorded (not a concurrent duplicate's)
            else:
                call = inventory_pb2.HoldRequest.FromString(state.call)
            try:
                hold = await holding.take(self.inventory, call)
            except Shortfall as short:
                failure = short
                continue
            finished = await self._finish(record, state, hold)
            if finished is not None:
                return finished
            state = await self._state(order_id)
        if failure is None:
            if await self._drop(order_id, state.attempt):
                raise Aborted(f"order {order_id} could not be placed; retry")
        elif await self._refuse(record, state.attempt, failure):
            raise failure
        # Not dropped: another call with the same request id moved the order on meanwhile (its plan
        # saw the stock this one's plan did not, or it is further along). Its outcome is this call's.
        return await self._route(record, query, await self._state(order_id))

    async def _state(self, order_id: str) -> PendingCall:
        state = await repository.pending_call(self.db.pool, order_id)
        if state is None:
            raise in_progress(order_id)
        return state

    async def _current(self, order_id: str) -> orders_pb2.Order:
        record = await repository.get(self.db.pool, order_id)
        if record is None:
            raise in_progress(order_id)
        return order_message(record)

    async def _drop(self, order_id: str, attempt: int) -> bool:
        """Drop the pending order unless another attempt has started; whether it was dropped."""
        async with self.db.transaction() as conn:
            dropped = await repository.drop_pending(conn, order_id, attempt)
        if dropped:
            log.info("order.dropped", order_id=order_id, attempt=attempt)
        return dropped

    async def _refuse(self, record: OrderRecord, attempt: int, shortfall: Shortfall) -> bool:
        """Drop the order that could not get its stock, and tell who counts refused demand. False when
        another attempt has started meanwhile (nothing is dropped or told)."""
        refused = common_pb2.DemandRefused(
            channel_service="orders",
            channel=record.channel,
            location_id=record.store_id,
            requested=sku_quantities(record.order.wanted),
            short=[
                common_pb2.ShortLine(
                    location_id=line.location_id, sku=line.sku, requested=line.requested, available=line.available
                )
                for line in shortfall.lines
            ],
        )
        async with self.db.transaction() as conn:
            dropped = await repository.drop_pending(conn, record.order_id, attempt)
            if dropped:
                await self.outbox.add(conn, "demand.refused", refused)
        if dropped:
            log.info("order.refused", order_id=record.order_id, short=len(shortfall.lines))
        return dropped

    async def _finish(
        self, known: OrderRecord, state: PendingCall, hold: inventory_pb2.Hold
    ) -> orders_pb2.Order | None:
        """Store the allocations the hold gave. None when this attempt was overtaken by a later one
        (its hold is given back); the order as it stands when someone else already finished it.
        `known` is the order as this placement read or wrote it: a PENDING order changes only by
        its placement's attempts, so when the locked row is still at this attempt it is not read again."""
        order_id = known.order_id
        decision = state.decision or orders_pb2.RoutingPlan()
        async with self.db.transaction() as conn:
            locked = await repository.lock_placing(conn, order_id)
            current = locked is not None and locked[0] is OrderStatus.PENDING and locked[1] == state.attempt
            record: OrderRecord | None
            if current and known.order.status is OrderStatus.PENDING:
                assert locked is not None
                record = replace(known, attempt=state.attempt, pending_call=state.call, created_at=locked[2])
            else:
                record = await repository.get(conn, order_id) if locked is not None else None  # row locked above
            if record is not None and record.order.status is not OrderStatus.PENDING:
                finished = any(a.hold_id == hold.hold_id for a in record.order.allocations)
                if finished:
                    return order_message(record)
            if record is not None and current:
                carry_out = record.source == SOURCE_CARRY_OUT
                status = AllocationStatus.HANDED_OVER if carry_out else AllocationStatus.HELD
                allocations = holding.allocations_from(decision, hold.hold_id, status)
                unfilled = {line.sku: line.quantity for line in decision.unfilled}
                placed = place(
                    record.order,
                    allocations,
                    unfilled,
                    cancel_unfillable=self.settings.order_cancel_unfillable,
                )
                saved = await repository.save(conn, replace(record.with_order(placed), decision=decision))
                saved = await start_requested(conn, saved)
                message = order_message(saved)  # the answer and every event below carry the same order
                events = [self.outbox.prepare("order.created", order_changed(saved, message=message))]
                if carry_out:
                    events.append(self.outbox.prepare("order.completed", order_changed(saved, message=message)))
                else:
                    allocated = order_changed(saved, allocations, message=message)
                    events.append(self.outbox.prepare("order.allocated", allocated))
                    if placed.status is OrderStatus.BACKORDERED:
                        events.append(self.outbox.prepare("order.backordered", order_changed(saved, message=message)))
                statement = Statement()  # the events in one round trip, in this order
                self.outbox.add_many(statement, events)
                await statement.execute(conn)
                log.info("order.placed", order_id=order_id, status=placed.status.value, hold_id=hold.hold_id)
                return message
        await self._give_back(order_id, hold)
        return None

    async def _give_back(self, order_id: str, hold: inventory_pb2.Hold) -> None:
        """A hold nobody will use (its attempt was overtaken, or the order was dropped)."""
        if hold.state != inventory_pb2.HOLD_STATE_ACTIVE:
            log.error("order.orphaned_hold", order_id=order_id, hold_id=hold.hold_id, state=hold.state)
            return
        request_id = holding.derived_request_id(order_id, "give-back", hold.hold_id)
        with contextlib.suppress(FailedPrecondition):  # already ended
            await self.inventory.release(request_id, hold.hold_id, {}, "order attempt overtaken")
        log.warning("order.hold_given_back", order_id=order_id, hold_id=hold.hold_id)

    # -- from a reservation -------------------------------------------------------------------------

    async def _create_from_reservation(
        self, request: orders_pb2.CreateOrderRequest, digest: bytes, holds: tuple[FulfilmentHold, ...] = ()
    ) -> orders_pb2.CreateOrderResponse:
        reservation = await self.reservations.get(request.reservation_id)
        if reservation.customer.customer_id and reservation.customer.customer_id != request.customer_id:
            raise FailedPrecondition(
                f"reservation {request.reservation_id} belongs to another customer",
                [PreconditionViolation("RESERVATION_CUSTOMER", request.reservation_id, "customer differs")],
            )
        reserved = {line.sku: line.quantity for line in reservation.lines}
        violations = []
        if request.store_id and request.store_id != reservation.store_id:
            violations.append(FieldViolation("store_id", f"must be the reservation's store {reservation.store_id}"))
        if request.lines and {line.sku: line.quantity for line in request.lines} != reserved:
            violations.append(FieldViolation("lines", "must be the reservation's lines, or left out"))
        if violations:
            raise InvalidArgument(violations)
        order_skus = [line.sku for line in reservation.lines]
        # Whole: the reservation's hold holds each set as a bundle line at its store.
        lines, _, currency = await self._priced(reserved, order_skus)
        record = OrderRecord(
            order=new_order(str(uuid.uuid4()), Method.PICKUP, lines),
            request_id=request.request_id,
            channel=request.channel,
            customer_id=request.customer_id,
            options=request.options,
            source=SOURCE_RESERVATION,
            ship_to=request.ship_to if request.HasField("ship_to") else None,
            store_id=reservation.store_id,
            reservation_id=request.reservation_id,
            currency=currency,
            holds=holds,
        )
        if not await self._insert(record, digest):
            return await self._resume_request(request.request_id, digest)
        return orders_pb2.CreateOrderResponse(order=await self._convert(record))

    async def _convert(self, record: OrderRecord) -> orders_pb2.Order:
        """Take the reservation's hold over: reservations transfers it to the order, never releasing it."""
        order_id = record.order_id
        call = reservations_pb2.ConvertReservationRequest(
            request_id=holding.derived_request_id(order_id, "convert"),
            reservation_id=record.reservation_id,
            order_id=order_id,
        )
        state = await repository.claim_attempt(
            self.db.pool, order_id, 1, call.SerializeToString(deterministic=True), None
        )
        if state is None or state.call is None:
            raise in_progress(order_id)
        if state.status is not OrderStatus.PENDING:
            return await self._current(order_id)
        try:
            converted = await self.reservations.convert(
                reservations_pb2.ConvertReservationRequest.FromString(state.call)
            )
        except REFUSALS:
            await self._drop(order_id, state.attempt)
            raise
        hold = await self._keep_for_the_order(order_id, await self.inventory.get_hold(converted.hold_id))
        decision = self._taken_over(record, converted, hold)
        finished = await self._finish(record, replace(state, decision=decision), hold)
        if finished is None:
            raise in_progress(order_id)
        return finished

    async def _keep_for_the_order(self, order_id: str, hold: inventory_pb2.Hold) -> inventory_pb2.Hold:
        """A reservation's hold runs until the pickup deadline; an order's for `order_hold_ttl` from
        when it was placed (the same instant on every retry, so the request stays the same)."""
        stored = await repository.get(self.db.pool, order_id)
        if stored is None or stored.created_at is None or hold.state != inventory_pb2.HOLD_STATE_ACTIVE:
            return hold
        wanted = stored.created_at.replace(microsecond=0) + inventory_ttl(stored, self.settings, stored.created_at)
        if hold.expires_at.ToDatetime(tzinfo=UTC) >= wanted or wanted <= datetime.now(UTC):
            return hold
        return await self.inventory.extend(holding.derived_request_id(order_id, "extend"), hold.hold_id, wanted)

    def _taken_over(
        self,
        record: OrderRecord,
        converted: reservations_pb2.ConvertReservationResponse,
        hold: inventory_pb2.Hold,
    ) -> orders_pb2.RoutingPlan:
        """The decision record of an order from a reservation: the reservation's store, with its hold."""
        store = converted.reservation.store_id or record.store_id
        wanted = record.order.wanted
        held: dict[str, int] = {}
        for line in hold.lines:
            if line.location_id == store and line.sku in wanted:
                held[line.sku] = held.get(line.sku, 0) + line.open
        taken = {sku: min(quantity, held.get(sku, 0)) for sku, quantity in wanted.items()}
        unfilled = {sku: quantity - taken[sku] for sku, quantity in wanted.items() if quantity > taken[sku]}
        plan = orders_pb2.RoutingPlan(
            complete=not unfilled,
            splits=1 if any(taken.values()) else 0,
            explanation=(
                f"Taken over from reservation {record.reservation_id}: its hold {hold.hold_id} at {store}"
                " now belongs to the order."
            ),
            unfilled=[common_pb2.SkuQuantity(sku=sku, quantity=units) for sku, units in sorted(unfilled.items())],
        )
        if converted.reservation.HasField("promise"):  # the customer was told this date when reserving
            plan.promise.CopyFrom(converted.reservation.promise)
        if any(taken.values()):
            plan.allocations.append(
                orders_pb2.PlannedAllocation(
                    location_id=store,
                    lines=[
                        common_pb2.SkuQuantity(sku=sku, quantity=units) for sku, units in sorted(taken.items()) if units
                    ],
                )
            )
        return plan

    # -- recovery -----------------------------------------------------------------------------------

    async def recover(self, older_than: float | None = None, limit: int = 50) -> int:
        """Finish or drop orders a crash left PENDING. Returns how many were settled."""
        age = self.settings.order_pending_timeout if older_than is None else timedelta(seconds=older_than)
        settled = 0
        for order_id in await repository.stale_pending(self.db.pool, age, limit):
            try:
                if await self._recover_one(order_id):
                    settled += 1
            except OmnistockError as error:  # inventory or reservations away: next round
                log.warning("order.recovery_postponed", order_id=order_id, error=error.message)
        return settled

    async def _recover_one(self, order_id: str) -> bool:
        record = await repository.get(self.db.pool, order_id)
        if record is None or record.order.status is not OrderStatus.PENDING:
            return False
        state = await self._state(order_id)
        if state.call is None:  # nothing was asked of anyone: nothing is held
            await self._drop(order_id, state.attempt)
            return True
        if record.source == SOURCE_RESERVATION:
            with contextlib.suppress(*REFUSALS):  # a refused conversion dropped the order
                await self._convert(record)
            return True
        try:
            hold = await holding.take(self.inventory, inventory_pb2.HoldRequest.FromString(state.call))
        except Shortfall:
            await self._drop(order_id, state.attempt)
            return True
        await self._finish(record, state, hold)
        return True
