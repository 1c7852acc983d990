"""CreateReservation, in three steps that each survive a crash:

1. the reservation is written PENDING (committed), with its pickup code;
2. inventory is asked for the hold, with a request id derived from the reservation, so any
   retry — the caller's, or the recovery loop's — gets the hold already taken, never a second;
3. the reservation becomes ACTIVE with the hold and `reservation.created` is queued, in one
   transaction; or, refused for lack of stock, it becomes FAILED (it never held anything).

Every step is conditional on the state it expects, so concurrent attempts converge.

Ship to store (allow_ship_to_store): when the store is short, the nearest other locations that have
every line are tried in turn. The origin is written on the PENDING reservation before inventory is
asked for the transfer (with a request id naming that origin), so a retry or the recovery loop asks
the same origin again and finds the transfer already made. Inventory holds the units at the origin
in the same transaction as the transfer; the reservation becomes AWAITING_TRANSFER with the
transfer's expected arrival as its promise.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import replace
from datetime import timedelta

from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.auth import require_location, require_own_channel
from omnistock_platform.errors import (
    Aborted,
    Alternative,
    FailedPrecondition,
    IdempotencyMismatch,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
    Reason,
    Shortfall,
    Unavailable,
)
from omnistock_platform.idempotency import fingerprint
from omnistock_platform.logging import get_logger
from omnistock_platform.owners import reservation_owner
from omnistock_platform.validation import Validator, duration_text
from omnistock_reservations.adapters import messages, repository
from omnistock_reservations.adapters.inventory_client import HoldView, Store, TransferView
from omnistock_reservations.adapters.metrics import RESERVATION_EVENTS
from omnistock_reservations.domain.holds import derived_request_id
from omnistock_reservations.domain.pickup_code import new_pickup_code
from omnistock_reservations.domain.reservation import Customer, Failure, Limits, Line, Reservation
from omnistock_reservations.domain.status import Status
from omnistock_reservations.service_layer import promises
from omnistock_reservations.service_layer.unit import Deps, now, record

log = get_logger(__name__)

MAX_LINES = 50
CODE_ATTEMPTS = 10
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-]{5,32}$")


def validate(request: pb.CreateReservationRequest, limits: Limits) -> timedelta:
    """Every field, every violation at once. Returns the hold the reservation gets."""
    check = Validator()
    check.identifier("request_id", request.request_id)
    check.enum("channel", request.channel, messages.CHANNELS)
    customer = request.customer
    if not request.HasField("customer"):
        check.fail("customer", "is required")
    else:
        check.identifier("customer.customer_id", customer.customer_id)
        check.name("customer.name", customer.name)
        if customer.email:
            check.check(
                len(customer.email) <= 254 and bool(_EMAIL.match(customer.email)),
                "customer.email",
                "must be an e-mail address",
            )
        if customer.phone:
            check.check(
                bool(_PHONE.match(customer.phone)), "customer.phone", "must be a phone number: digits, spaces, + - ( )"
            )
    check.identifier("store_id", request.store_id)
    check.check(0 < len(request.lines) <= MAX_LINES, "lines", f"give between 1 and {MAX_LINES} lines")
    seen: set[str] = set()
    for index, line in enumerate(request.lines):
        check.identifier(f"lines[{index}].sku", line.sku)
        check.quantity(f"lines[{index}].quantity", line.quantity, maximum=limits.max_line_quantity)
        if line.sku and line.sku in seen:
            check.fail(f"lines[{index}].sku", "appears on another line; give one line per SKU")
        seen.add(line.sku)
    requested = (check.duration("hold_for", request.hold_for) if request.HasField("hold_for") else None) or timedelta(0)
    hold_for = limits.hold_for(requested)
    check.check(
        requested >= timedelta(0) and limits.hold_in_bounds(hold_for),
        "hold_for",
        f"must be between {duration_text(limits.min_hold)} and {duration_text(limits.max_hold)}"
        f" (zero: the default, {duration_text(limits.default_hold)})",
    )
    check.raise_if_invalid()
    return hold_for


def answer(reservation: Reservation) -> pb.CreateReservationResponse:
    """The reply to a create (first or retried): the reservation, or why it holds nothing."""
    if reservation.status is Status.FAILED:
        failure = reservation.failure
        if failure is not None and failure.shortfall is not None:
            raise failure.shortfall
        raise FailedPrecondition(
            f"reservation {reservation.reservation_id} failed: {failure.message if failure else 'no hold'}",
            [PreconditionViolation("RESERVATION_STATUS", reservation.reservation_id, "reservation failed")],
        )
    if reservation.status is Status.PENDING:
        raise Unavailable(
            "the reservation is still being confirmed; retry with the same request_id", 0.5, reason=Reason.NOT_READY
        )
    return pb.CreateReservationResponse(reservation=messages.reservation(reservation))


class Creating:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def create(self, request: pb.CreateReservationRequest) -> pb.CreateReservationResponse:
        limits = self.deps.limits
        hold_for = validate(request, limits)
        require_location(request.store_id, "store")
        # In the caller's own channel: a till's (CHANNEL_POS) may take the store's safety stock.
        require_own_channel(request.channel)
        expected = fingerprint("CreateReservation", request)
        try:
            store, _ = await asyncio.gather(
                self._store(request.store_id), self._require_skus([line.sku for line in request.lines])
            )
        except (NotFound, InvalidArgument, Unavailable):
            # A retry is answered as it was, even when its store or SKUs would be refused now
            # or inventory cannot be asked.
            existing = await repository.get_by_request(self.deps.db.pool, request.request_id)
            if existing is None:
                raise
            return await self._resume(request.request_id, existing, expected)
        fresh = Reservation(
            reservation_id=str(uuid.uuid4()),
            request_id=request.request_id,
            channel=messages.CHANNELS[request.channel],
            customer=Customer(
                request.customer.customer_id, request.customer.name, request.customer.email, request.customer.phone
            ),
            store_id=request.store_id,
            lines=[Line(line.sku, line.quantity) for line in request.lines],
            pickup_code="",
            # Stored, so that a retry's hold asks for the same.
            hold_for=promises.lasting_until_ready(store, now(), hold_for, limits.max_hold),
            allow_ship_to_store=request.allow_ship_to_store,
        )
        written = await self._write_pending(fresh, expected, limits)
        if written is not None:
            return answer(await self.take_hold(written, store=store))
        existing = await repository.get_by_request(self.deps.db.pool, request.request_id)
        assert existing is not None
        return await self._resume(request.request_id, existing, expected)

    async def _resume(
        self, request_id: str, existing: tuple[Reservation, bytes], expected: bytes
    ) -> pb.CreateReservationResponse:
        """A request id already written: the same request is answered as it was (or finished), another is refused."""
        reservation, stored = existing
        if stored != expected:
            raise IdempotencyMismatch(request_id)
        if reservation.status is Status.PENDING:
            reservation = await self.take_hold(reservation, confirm_state=True)
        return answer(reservation)

    async def _store(self, store_id: str) -> Store:
        try:
            store = await self.deps.inventory.store(store_id)
        except NotFound:
            raise NotFound("location", store_id, field="store_id") from None
        if not store.active or not store.pickup:
            raise InvalidArgument.of("store_id", f"store {store_id} does not offer pickup")
        return store

    async def _require_skus(self, skus: list[str]) -> None:
        """An unknown SKU is NOT_FOUND: it is not out of stock, and no demand was refused."""
        unknown = set(await self.deps.inventory.unknown_skus(skus))
        for index, sku in enumerate(skus):
            if sku in unknown:
                raise NotFound("sku", sku, field=f"lines[{index}].sku")

    async def _write_pending(self, reservation: Reservation, expected: bytes, limits: Limits) -> Reservation | None:
        """Step 1. None when the request id is taken (a concurrent retry): the caller resumes that one."""
        customer_id = reservation.customer.customer_id
        async with self.deps.db.transaction() as conn:
            await repository.lock_customer(conn, customer_id)
            for _ in range(CODE_ATTEMPTS):
                reservation.pickup_code = new_pickup_code()
                outcome = await repository.write_pending(conn, reservation, expected, limits.max_open_per_customer)
                if outcome.reservation is not None:
                    return outcome.reservation
                if outcome.request_taken:
                    return None
                if outcome.open_count >= limits.max_open_per_customer:
                    raise FailedPrecondition(
                        f"customer {customer_id} already has {outcome.open_count} open reservations,"
                        f" the most one customer may have",
                        [
                            PreconditionViolation(
                                "RESERVATION_LIMIT", customer_id, f"{outcome.open_count} open reservations"
                            )
                        ],
                        reason=Reason.LIMIT_REACHED,
                    )
                # Otherwise the code is in use at the store (or the request id was taken meanwhile,
                # which the next attempt sees).
        raise Aborted("no free pickup code was found at the store; retry with the same request_id")

    async def take_hold(
        self, reservation: Reservation, *, store: Store | None = None, confirm_state: bool = False
    ) -> Reservation:
        """Steps 2 and 3 for a PENDING reservation. With confirm_state the hold is read back from
        inventory: a repeated Hold answers as it did first, and the hold may have run out since."""
        inventory = self.deps.inventory
        if reservation.transfer_origin_id:  # ship to store was decided before a crash: resume it
            shipped = await self._ship_to_store(reservation, [reservation.transfer_origin_id])
            if shipped is not None:
                return shipped
            return await self._refuse(
                reservation, Failure(f"the units are no longer at {reservation.transfer_origin_id}")
            )
        try:
            hold = await inventory.hold(reservation)
        except Shortfall as short:
            if reservation.allow_ship_to_store:
                try:
                    store = store or await inventory.store(reservation.store_id)
                    origins = await inventory.origins(store, reservation.lines, reservation.channel)
                except NotFound:
                    origins = []
                shipped = await self._ship_to_store(reservation, origins)
                if shipped is not None:
                    return shipped
            alternatives = await self._alternatives(reservation, store)
            return await self._refuse(reservation, Failure(short.message, short.with_alternatives(alternatives)))
        except (InvalidArgument, FailedPrecondition, NotFound) as refused:  # inventory will never take this hold
            log.warning("reservations.hold_refused", reservation_id=reservation.reservation_id, error=refused.message)
            return await self._refuse(reservation, Failure(refused.message))
        taken = hold
        if confirm_state:
            hold = await inventory.get_hold(hold.hold_id)
        store = store or await promises.store_or_none(inventory, reservation.store_id)
        if store is not None:
            reservation.promise = await promises.for_hold(inventory, store, taken, now())
        return await self._confirm(reservation, hold)

    async def _ship_to_store(self, reservation: Reservation, origins: list[str]) -> Reservation | None:
        """The first origin that can hold every line makes the transfer; None when none can."""
        for origin in origins:
            current = await self._choose_origin(reservation, origin)
            if current.status is not Status.PENDING:
                return current  # a concurrent attempt settled it first
            try:
                transfer = await self.deps.inventory.ship_to_store(current)
            except Shortfall:
                continue  # sold at that origin since it was found: try the next one
            return await self._confirm_transfer(current, transfer)
        return None

    async def _choose_origin(self, reservation: Reservation, origin: str) -> Reservation:
        async with self.deps.db.transaction() as conn:
            current = await repository.get(conn, reservation.reservation_id, lock=True)
            assert current is not None
            if current.status is Status.PENDING and current.transfer_origin_id != origin:
                current.transfer_origin_id = origin
                current = await repository.save(conn, current)
            return current

    async def _confirm_transfer(self, reservation: Reservation, transfer: TransferView) -> Reservation:
        inventory = self.deps.inventory
        hold = await inventory.get_hold(transfer.origin_hold_id)
        store = await promises.store_or_none(inventory, reservation.store_id)
        origin = await promises.store_or_none(inventory, transfer.origin_id)
        promise = (
            promises.via_transfer(
                store, now(), transfer.expected_arrival_at, origin.name if origin else transfer.origin_id
            )
            if store is not None
            else None
        )
        async with self.deps.db.transaction() as conn:
            current = await repository.get(conn, reservation.reservation_id, lock=True)
            assert current is not None
            if current.status is Status.PENDING:
                if hold.state == "active" and transfer.status == "draft":
                    current.await_transfer(
                        hold.hold_id, hold.expires_at, transfer.transfer_id, transfer.expected_arrival_at
                    )
                    current.promise = promise
                else:  # its hold ran out, or the transfer was cancelled, before it could be confirmed
                    current.transfer_id = transfer.transfer_id
                    current.expire(now(), hold.hold_id)
                return await record(conn, self.deps.outbox, current)
        if current.status is Status.FAILED and hold.state == "active":
            # A concurrent attempt was refused while this one got the transfer: it must not keep the units.
            try:
                await self.deps.inventory.cancel_transfer(
                    derived_request_id(current.reservation_id, "cancel-transfer"),
                    transfer.transfer_id,
                    f"reservation {current.reservation_id} failed",
                )
            except Exception as error:  # the origin hold expires in time anyway
                log.warning(
                    "reservations.orphan_transfer_cancel_failed", transfer_id=transfer.transfer_id, error=repr(error)
                )
        return current

    async def _alternatives(self, reservation: Reservation, store: Store | None) -> list[Alternative]:
        """Where else the customer could pick the items up; a shortfall is still answered without them."""
        try:
            store = store or await self.deps.inventory.store(reservation.store_id)
            return await self.deps.inventory.alternatives(store, reservation.lines, reservation.channel)
        except Exception as error:
            log.warning("reservations.alternatives_failed", error=repr(error))
            return []

    async def _refuse(self, reservation: Reservation, failure: Failure) -> Reservation:
        async with self.deps.db.transaction() as conn:
            current = await repository.get(conn, reservation.reservation_id, lock=True)
            assert current is not None
            if current.status is not Status.PENDING:
                return current  # a concurrent attempt settled it first
            current.fail(failure, now())
            if failure.shortfall is not None:
                await self.deps.outbox.add(conn, "demand.refused", messages.demand_refused(current, failure.shortfall))
            return await repository.save(conn, current)

    async def _confirm(self, reservation: Reservation, hold: HoldView) -> Reservation:
        if reservation.status is Status.PENDING and hold.state == "active":
            activated = await self._activate(reservation, hold)
            if activated is not None:
                return activated
        # The hold ran out, or the row moved on since it was read: decide on the row, locked.
        async with self.deps.db.transaction() as conn:
            current = await repository.get(conn, reservation.reservation_id, lock=True)
            assert current is not None
            if current.status is Status.PENDING:
                if hold.state == "active":
                    current.activate(hold.hold_id, hold.expires_at)
                    current.promise = reservation.promise
                else:  # taken, then ran out before it could be confirmed
                    current.expire(now(), hold.hold_id)
                return await record(conn, self.deps.outbox, current)
        if current.status is Status.FAILED and hold.state == "active":
            # A concurrent attempt was refused and closed it while this one got the hold:
            # the hold must not outlive its reservation.
            await self._release_orphan(current, hold)
        return current

    async def _activate(self, reservation: Reservation, hold: HoldView) -> Reservation | None:
        """Step 3 in one statement: the reservation becomes ACTIVE with its hold and `reservation.created`
        is queued, from the state this attempt knows; None when the row is not in that state any more."""
        activated = replace(reservation, events=[], shorted={})
        activated.activate(hold.hold_id, hold.expires_at)
        outbox = self.deps.outbox
        event = outbox.prepare("reservation.created", messages.changed(activated))
        async with self.deps.db.connection() as conn:
            saved = await repository.activate_pending(
                conn, activated, reservation.transfer_origin_id, event, outbox.channel
            )
        if saved is None:
            return None
        RESERVATION_EVENTS.labels("created", activated.channel).inc()
        return saved

    async def _release_orphan(self, reservation: Reservation, hold: HoldView) -> None:
        try:
            await self.deps.inventory.release(
                derived_request_id(reservation.reservation_id, "release-orphan"),
                hold.hold_id,
                f"reservation {reservation.reservation_id} failed",
                owner=reservation_owner(reservation.reservation_id),
            )
        except Exception as error:  # inventory expires it in time anyway
            log.warning("reservations.orphan_release_failed", hold_id=hold.hold_id, error=repr(error))
