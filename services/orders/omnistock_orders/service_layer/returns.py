"""Returns: authorised against what an order delivered, received and inspected at a location, with
the sellable units put back on hand through inventory.

Inventory is asked under request ids derived from the return (its id, the SKU, the step), inside
the transaction that holds the return's row lock, and before the receipt is written: a crash
between the two leaves the change begun, and the caller's retry or the service's resumer asks
inventory again and gets the same answer instead of booking the units twice. A return of an order
received as it is made is authorised (written) first, so that the units it books count as returned
even while its receipt waits to be finished.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import asyncpg

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters import repository, return_repository
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.adapters.return_messages import (
    CONDITION_FROM_PROTO,
    STATUS_FROM_PROTO,
    return_changed,
    return_message,
)
from omnistock_orders.domain import returns as rules
from omnistock_orders.domain.order import Order
from omnistock_orders.domain.returns import Inspected, Return, ReturnStatus
from omnistock_platform.auth import Role, current_principal, require_location
from omnistock_platform.db import Database
from omnistock_platform.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied, Reason
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import Begun, IdempotencyStore, current_caller
from omnistock_platform.logging import get_logger
from omnistock_platform.paging import page_after, page_of, page_token
from omnistock_platform.validation import Validator

log = get_logger(__name__)

MAX_LINES = 100
MAX_UNITS = 10_000
# Who takes returned units in and inspects them: the store's till, the warehouse, the back office.
RECEIVERS = frozenset({Role.POS, Role.WAREHOUSE, Role.ADMIN, Role.SERVICE})
# A till return without an order is the till's own sale: a till, the back office, or the service
# finishing such a return after a crash.
WITHOUT_ORDER = frozenset({Role.POS, Role.ADMIN, Role.SERVICE})
_KINDS = {True: inventory_pb2.LOCATION_KIND_WAREHOUSE, False: inventory_pb2.LOCATION_KIND_STORE}


def document_ref(return_id: str) -> str:
    """What the inventory movements of a return are filed under: `omnistock verify` matches them by it."""
    return f"return:{return_id}"


def _step_id(return_id: str, sku: str, step: str) -> str:
    # SKUs may be long: a digest keeps the request id short and still one per SKU.
    return f"{document_ref(return_id)}:{hashlib.sha256(sku.encode()).hexdigest()[:16]}:{step}"


def _validate_lines(check: Validator, field: str, lines: Sequence[orders_pb2.ReturnLineRequest]) -> None:
    check.check(1 <= len(lines) <= MAX_LINES, field, f"give 1 to {MAX_LINES} lines")
    seen: set[str] = set()
    for index, line in enumerate(lines):
        check.identifier(f"{field}[{index}].sku", line.sku)
        check.quantity(f"{field}[{index}].quantity", line.quantity, maximum=MAX_UNITS)
        check.check(line.sku not in seen, f"{field}[{index}].sku", "one line per SKU")
        seen.add(line.sku)


def _inspected(check: Validator, field: str, lines: Sequence[orders_pb2.InspectedLine]) -> list[Inspected]:
    check.check(len(lines) <= MAX_LINES * len(CONDITION_FROM_PROTO), field, "too many lines")
    found = []
    for index, line in enumerate(lines):
        check.identifier(f"{field}[{index}].sku", line.sku)
        check.enum(f"{field}[{index}].condition", line.condition, CONDITION_FROM_PROTO)
        check.quantity(f"{field}[{index}].quantity", line.quantity, maximum=MAX_UNITS)
        if line.condition in CONDITION_FROM_PROTO:
            found.append(Inspected(line.sku, CONDITION_FROM_PROTO[line.condition], line.quantity))
    return found


def _sets(skus: Mapping[str, inventory_pb2.Sku]) -> dict[str, dict[str, int]]:
    """The bundle definitions among `skus`: units of each component per set."""
    return {
        sku: {part.sku: part.quantity for part in found.components} for sku, found in skus.items() if found.components
    }


def sold_sets(order: Order) -> dict[str, dict[str, int]]:
    """The sets of an order, each with the components it was sold with (units per set): its lines of a
    set, and its split sets (ordered as their part lines)."""
    whole = {line.sku: dict(line.components) for line in order.lines if line.components}
    return {**whole, **{split.sku: dict(split.components) for split in order.sets}}


def delivered_sets(
    order: Order, fulfilled: Mapping[str, int], known: Mapping[str, Mapping[str, int]]
) -> dict[str, int]:
    """Whole sets the order delivered, per set SKU: a set line's fulfilled sets, and for a split set
    the least over its parts of the part's delivered units ÷ units per set."""
    sets = {sku: units for sku, units in fulfilled.items() if sku in known}
    return {**sets, **{split.sku: split.whole(fulfilled) for split in order.sets}}


def check_on_order(
    order: Order,
    fulfilled: Mapping[str, int],
    lines: Sequence[orders_pb2.ReturnLineRequest],
    known: Mapping[str, Mapping[str, int]],
) -> None:
    """Each SKU of a return is one the order sold: one of its lines, a set of it or a part of one,
    or a set made only of those. Any other is the caller's mistake, told as such (not as "at most 0
    may still be returned", which reads as if the units had come back already)."""
    on_order = set(fulfilled)
    for line in order.lines:
        on_order.add(line.sku)
        on_order.update(part for part, _ in line.components)
    for split in order.sets:
        on_order.add(split.sku)
        on_order.update(part for part, _ in split.components)
    violations = [
        FieldViolation(f"lines[{index}].sku", f"{line.sku} is not on order {order.order_id}")
        for index, line in enumerate(lines)
        if line.sku not in on_order and not ((parts := known.get(line.sku)) and all(part in on_order for part in parts))
    ]
    if violations:
        raise InvalidArgument(violations)


def require_scope(found: Return) -> None:
    """Store and warehouse staff see and handle only returns coming back to one of their locations."""
    require_location(found.location_id, "the location of return " + found.return_id)


def encode_page_token(found: Return) -> str:
    assert found.created_at is not None
    return page_token(found.created_at, last_id=found.return_id)


class OrderReturns:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        idempotency: IdempotencyStore,
        inventory: InventoryClient,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.inventory = inventory

    async def create(self, request: orders_pb2.CreateReturnRequest) -> orders_pb2.CreateReturnResponse:
        check = Validator()
        check.text("request_id", request.request_id, required=True, max_length=128)
        till_sale = not request.order_id
        if till_sale:
            check.check(bool(request.receive_now), "order_id", "is required unless the till takes the units back now")
            check.check(request.channel == common_pb2.CHANNEL_POS, "channel", "must be CHANNEL_POS without an order")
        else:
            check.identifier("order_id", request.order_id)
            check.check(request.channel == common_pb2.CHANNEL_UNSPECIFIED, "channel", "is the order's; leave it unset")
        _validate_lines(check, "lines", request.lines)
        check.identifier("location_id", request.location_id)
        check.text("reason", request.reason, max_length=500)
        inspected = _inspected(check, "receive_now", request.receive_now)
        check.raise_if_invalid()
        require_location(request.location_id)
        role = current_principal().role
        if till_sale and role not in WITHOUT_ORDER:
            raise PermissionDenied(
                f"{role} may not take back units sold without an order", reason=Reason.ACTION_NOT_ALLOWED
            )
        if inspected and role not in RECEIVERS:
            raise PermissionDenied(f"{role} may not receive returned units", reason=Reason.ACTION_NOT_ALLOWED)
        await self._require_location_kind(request.location_id, request.by_post)
        wanted = {line.sku: line.quantity for line in request.lines}
        definitions: dict[str, dict[str, int]] = {}
        if till_sale:
            known = await self.inventory.skus(wanted)
            unknown = sorted(wanted.keys() - known.keys())
            if unknown:
                raise NotFound("sku", unknown[0], field="lines")
            definitions = _sets(known)
        # The same request (same caller, same request id) names the same return on every retry, so the
        # inventory calls made on its behalf are the same calls.
        return_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"omnistock:return:{current_caller()}:{request.request_id}"))

        async def authorise(conn: asyncpg.Connection) -> Return:
            channel, customer_id = common_pb2.Channel.Name(common_pb2.CHANNEL_POS), ""
            lines, sets = rules.asked(wanted, definitions)
            if not till_sale:
                # The order's row lock serialises returns of one order: two at once cannot both take
                # the last returnable unit.
                record = await repository.get(conn, request.order_id, lock=True)
                if record is None:
                    raise NotFound("order", request.order_id, field="order_id")
                first_try = await return_repository.get(conn, return_id)
                if first_try is not None:
                    return first_try  # authorised by this request before a crash cut its receipt short
                channel, customer_id = common_pb2.Channel.Name(record.channel), record.customer_id
                fulfilled = record.order.fulfilled_units()
                # A set the order sold comes back as the parts it was sold with (the order's line keeps
                # them), not by its definition now: a set redefined since, even between this request's
                # first try and its retry, asks inventory for the same units again.
                sold_as = sold_sets(record.order)
                others = (fulfilled.keys() | wanted.keys()) - sold_as.keys()
                known = {**_sets(await self.inventory.skus(others)), **sold_as}
                check_on_order(record.order, fulfilled, request.lines, known)
                lines, sets = rules.asked(wanted, known)
                earlier = await return_repository.of_order(conn, request.order_id)
                # Parts count against the parts delivered (a set's as its components' units), whole
                # sets also against the sets delivered: every line of the return together.
                rules.check_returnable(
                    lines,
                    sets,
                    rules.returnable(rules.as_components(fulfilled, known), earlier),
                    rules.sets_returnable(delivered_sets(record.order, fulfilled, known), earlier),
                    request.order_id,
                )
            authorised = Return(
                return_id=return_id,
                order_id=request.order_id,
                channel=channel,
                customer_id=customer_id,
                location_id=request.location_id,
                by_post=request.by_post,
                reason=request.reason,
                status=ReturnStatus.AUTHORISED,
                lines=lines,
                sets=sets,
            )
            if inspected:
                rules.inspect(authorised, inspected, "receive_now")  # refused before anything is written
            found = await return_repository.insert(conn, authorised)
            await self.outbox.add(conn, "return.authorised", return_changed(found))
            log.info(
                "return.authorised",
                return_id=return_id,
                order_id=request.order_id,
                sets={item.sku: item.quantity for item in sets},
            )
            return found

        async def work(conn: asyncpg.Connection) -> orders_pb2.CreateReturnResponse:
            found = await authorise(conn)
            if inspected:
                found = await self._receive(conn, found, inspected, "receive_now")
            return orders_pb2.CreateReturnResponse(order_return=return_message(found))

        if not inspected or till_sale:
            return await self.idempotency.run_resumable(
                self.db, "CreateReturn", request, orders_pb2.CreateReturnResponse, work
            )

        async def receive(conn: asyncpg.Connection) -> orders_pb2.CreateReturnResponse:
            found = await self._locked(conn, return_id)
            return orders_pb2.CreateReturnResponse(
                order_return=return_message(await self._receive(conn, found, inspected, "receive_now"))
            )

        async def authorised_first(_: Begun) -> orders_pb2.CreateReturnResponse:
            # Authorised in a transaction of its own before inventory books the units: a receipt cut
            # short once inventory booked them leaves the return standing (finished by a retry or the
            # Resumer), so another request cannot take the same units back meanwhile and book them
            # a second time. A till return without an order has no units to count against.
            async with self.db.transaction() as conn:
                await authorise(conn)
            return await self.idempotency.run(
                self.db, "CreateReturn", request.request_id, request, orders_pb2.CreateReturnResponse, receive
            )

        return await self.idempotency.resumable(
            self.db, "CreateReturn", request.request_id, request, orders_pb2.CreateReturnResponse, authorised_first
        )

    async def receive(self, request: orders_pb2.ReceiveReturnRequest) -> orders_pb2.ReceiveReturnResponse:
        check = Validator()
        check.text("request_id", request.request_id, required=True, max_length=128)
        check.identifier("return_id", request.return_id)
        inspected = _inspected(check, "lines", request.lines)
        check.check(bool(request.lines), "lines", "is required")
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> orders_pb2.ReceiveReturnResponse:
            found = await self._locked(conn, request.return_id)
            return orders_pb2.ReceiveReturnResponse(
                order_return=return_message(await self._receive(conn, found, inspected, "lines"))
            )

        return await self.idempotency.run_resumable(
            self.db, "ReceiveReturn", request, orders_pb2.ReceiveReturnResponse, work
        )

    async def cancel(self, request: orders_pb2.CancelReturnRequest) -> orders_pb2.CancelReturnResponse:
        check = Validator()
        check.text("request_id", request.request_id, required=True, max_length=128)
        check.identifier("return_id", request.return_id)
        check.text("reason", request.reason, max_length=500)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> orders_pb2.CancelReturnResponse:
            found = await self._locked(conn, request.return_id)
            cancelled = rules.cancel(found, request.reason)
            if cancelled is found:
                return orders_pb2.CancelReturnResponse(order_return=return_message(found))
            saved = await return_repository.save(conn, cancelled)
            await self.outbox.add(conn, "return.cancelled", return_changed(saved))
            log.info("return.cancelled", return_id=saved.return_id)
            return orders_pb2.CancelReturnResponse(order_return=return_message(saved))

        return await self.idempotency.run(
            self.db, "CancelReturn", request.request_id, request, orders_pb2.CancelReturnResponse, work
        )

    async def get(self, request: orders_pb2.GetReturnRequest) -> orders_pb2.GetReturnResponse:
        check = Validator()
        check.identifier("return_id", request.return_id)
        check.raise_if_invalid()
        found = await return_repository.get(self.db.pool, request.return_id)
        if found is None:
            raise NotFound("return", request.return_id, field="return_id")
        require_scope(found)
        return orders_pb2.GetReturnResponse(order_return=return_message(found))

    async def list(self, request: orders_pb2.ListReturnsRequest) -> orders_pb2.ListReturnsResponse:
        check = Validator()
        check.identifier("order_id", request.order_id, required=False)
        check.identifier("location_id", request.location_id, required=False)
        if request.status:
            check.enum("status", request.status, STATUS_FROM_PROTO)
        page_size = check.page_size("page_size", request.page_size)
        check.raise_if_invalid()
        after = page_after(request.page_token)
        principal = current_principal()
        location_ids: frozenset[str] | None = None
        if request.location_id:
            require_location(request.location_id)
            location_ids = frozenset({request.location_id})
        elif principal.location_scoped:
            location_ids = principal.locations
        found = await return_repository.page(
            self.db.pool,
            order_id=request.order_id,
            status=STATUS_FROM_PROTO[request.status].value if request.status else "",
            location_ids=location_ids,
            after=after,
            limit=page_size + 1,
        )
        found, following = page_of(found, page_size, encode_page_token)
        return orders_pb2.ListReturnsResponse(
            returns=[return_message(item) for item in found], next_page_token=following
        )

    async def _require_location_kind(self, location_id: str, by_post: bool) -> None:
        location = await self.inventory.location(location_id)
        if location is None:
            raise NotFound("location", location_id, field="location_id")
        if location.kind != _KINDS[by_post]:
            raise InvalidArgument.of(
                "location_id",
                "must be a warehouse for a return by post" if by_post else "must be a store (or set by_post)",
            )

    async def _locked(self, conn: asyncpg.Connection, return_id: str) -> Return:
        found = await return_repository.get(conn, return_id, lock=True)
        if found is None:
            raise NotFound("return", return_id, field="return_id")
        require_scope(found)
        return found

    async def _receive(
        self, conn: asyncpg.Connection, found: Return, inspected: Sequence[Inspected], field: str
    ) -> Return:
        role = current_principal().role
        if role not in RECEIVERS:
            raise PermissionDenied(f"{role} may not receive returned units", reason=Reason.ACTION_NOT_ALLOWED)
        received = rules.receive(
            found, rules.inspect(found, inspected, field), current_principal().subject, datetime.now(UTC)
        )
        if received is found:
            return found
        await self._book(received)
        saved = await return_repository.save(conn, received)
        await self.outbox.add(conn, "return.received", return_changed(saved))
        log.info(
            "return.received",
            return_id=saved.return_id,
            restocked=sum(line.restocked for line in saved.lines),
            damaged=sum(line.damaged for line in saved.lines),
            written_off=sum(line.written_off for line in saved.lines),
        )
        return saved

    async def _book(self, found: Return) -> None:
        """Restocked units back on hand; damaged ones in and out again, so the ledger explains them."""
        ref = document_ref(found.return_id)
        for line in found.lines:
            # A part of a whole set says so, so that the ledger explains why a part came back.
            note = f"order {found.order_id}" if found.order_id else "till return"
            within = found.sets_of(line.sku)
            note += f" (part of {within})" if within else ""
            if line.restocked:
                await self.inventory.adjust_stock(
                    _step_id(found.return_id, line.sku, "restock"),
                    found.location_id,
                    line.sku,
                    line.restocked,
                    inventory_pb2.ADJUSTMENT_REASON_RETURN,
                    f"{note}: restocked",
                    ref,
                )
            if line.damaged:
                await self.inventory.adjust_stock(
                    _step_id(found.return_id, line.sku, "damaged-in"),
                    found.location_id,
                    line.sku,
                    line.damaged,
                    inventory_pb2.ADJUSTMENT_REASON_RETURN,
                    f"{note}: damaged",
                    ref,
                )
                await self.inventory.adjust_stock(
                    _step_id(found.return_id, line.sku, "damaged-out"),
                    found.location_id,
                    line.sku,
                    -line.damaged,
                    inventory_pb2.ADJUSTMENT_REASON_DAMAGE,
                    f"{note}: returned damaged",
                    ref,
                )
