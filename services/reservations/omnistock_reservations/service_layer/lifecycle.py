"""Everything after creation: read, extend, cancel, mark ready, collect, convert.

A change that involves the hold begins (its request stored, unanswered: the Resumer finishes it
should the process die before it is written), asks inventory (with a request id derived from the
reservation, so a retry repeats nothing), then writes the reservation and its event together
with the idempotency record. If inventory refuses because the hold is no longer active, the
reservation is brought in line with the hold and the caller is told its state.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.auth import Role, current_principal, require_location
from omnistock_platform.errors import (
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PreconditionViolation,
    Reason,
    Shortfall,
)
from omnistock_platform.idempotency import Begun, carried_through
from omnistock_platform.owners import order_owner, reservation_owner
from omnistock_platform.paging import page_after, page_of, page_token
from omnistock_platform.validation import Validator, duration_text
from omnistock_reservations.adapters import messages, repository
from omnistock_reservations.adapters.inventory_client import HoldView
from omnistock_reservations.domain.holds import derived_request_id
from omnistock_reservations.domain.pickup_code import ALPHABET, LENGTH, is_pickup_code, normalize_pickup_code
from omnistock_reservations.domain.reservation import Reservation
from omnistock_reservations.domain.status import Action, InvalidTransition, Status, next_status
from omnistock_reservations.service_layer.syncing import HoldSync
from omnistock_reservations.service_layer.unit import Deps, ResponseT, load, now, record

T = TypeVar("T")
CHANNEL_ROLES = frozenset({Role.STOREFRONT, Role.APP, Role.CHAT_AGENT})
P = ParamSpec("P")


def _whole(change: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """The inventory half and the local half of a change run as one, even when the caller stops
    waiting in between: the hold is never left changed with the reservation not. Should the change
    fail once inventory may have acted (its answer lost, the database away, the process killed), it
    was begun first (`_begun`) and the Resumer finishes it as its caller asked."""

    @functools.wraps(change)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return await carried_through(change(*args, **kwargs))

    return run


class Lifecycle:
    def __init__(self, deps: Deps, sync: HoldSync) -> None:
        self.deps = deps
        self.sync = sync

    # -- reads ------------------------------------------------------------------------------------------

    async def get(self, request: pb.GetReservationRequest) -> pb.GetReservationResponse:
        check = Validator()
        check.identifier("reservation_id", request.reservation_id)
        check.raise_if_invalid()
        return pb.GetReservationResponse(
            reservation=messages.reservation(await load(self.deps, request.reservation_id))
        )

    async def list(self, request: pb.ListReservationsRequest) -> pb.ListReservationsResponse:
        check = Validator()
        check.identifier("store_id", request.store_id, required=False)
        check.identifier("customer_id", request.customer_id, required=False)
        check.check(request.channel == 0 or request.channel in messages.CHANNELS, "channel", "unknown value")
        check.check(request.status == 0 or request.status in messages.STATUSES, "status", "unknown value")
        limit = check.page_size("page_size", request.page_size)
        after = page_after(request.page_token)
        check.raise_if_invalid()
        principal = current_principal()
        if principal.role in CHANNEL_ROLES and not request.customer_id:
            # A channel acts for one customer at a time; it does not browse everyone's reservations.
            raise InvalidArgument.of("customer_id", f"is required when listing as {principal.role}")
        if request.store_id:
            require_location(request.store_id, "store")
            stores = [request.store_id]
        elif principal.location_scoped:
            stores = sorted(principal.locations)  # staff see their own stores' reservations only
            if not stores:
                return pb.ListReservationsResponse()
        else:
            stores = []
        found = await repository.list_page(
            self.deps.db.pool,
            repository.Filters(
                store_ids=stores,
                customer_id=request.customer_id,
                channel=messages.CHANNELS.get(request.channel, ""),
                status=messages.STATUSES[request.status].value if request.status else "",
            ),
            after,
            limit + 1,
        )
        if not found and request.store_id and not request.page_token:
            # Nothing to show: a store with no reservations, or one that does not exist (a mistyped id
            # must not read as "no reservations there"). Asked only then, so listing needs inventory no more.
            try:
                await self.deps.inventory.store(request.store_id)
            except NotFound:
                raise NotFound("location", request.store_id, field="store_id") from None
        page, following = page_of(
            found,
            limit,
            lambda last: page_token(last.created_at, last_id=last.reservation_id) if last.created_at else "",
        )
        return pb.ListReservationsResponse(
            reservations=[messages.reservation(item) for item in page], next_page_token=following
        )

    # -- changes ----------------------------------------------------------------------------------------

    @_whole
    async def extend(self, request: pb.ExtendReservationRequest) -> pb.ExtendReservationResponse:
        check = Validator()
        check.identifier("request_id", request.request_id)
        check.identifier("reservation_id", request.reservation_id)
        extend_by = (
            check.duration("extend_by", request.extend_by) if request.HasField("extend_by") else None
        ) or timedelta(0)
        check.check(extend_by > timedelta(0), "extend_by", "must be positive")
        check.raise_if_invalid()
        found = await load(self.deps, request.reservation_id)
        return await self._begun(
            "ExtendReservation", request, pb.ExtendReservationResponse, lambda: self._extend(request, found, extend_by)
        )

    async def _extend(
        self, request: pb.ExtendReservationRequest, found: Reservation, extend_by: timedelta
    ) -> pb.ExtendReservationResponse:
        next_status(found.reservation_id, found.status, Action.EXTEND)
        found = await self._not_run_out(found, Action.EXTEND)
        target = await self._extension_target(request, found, extend_by)
        hold = await self._on_hold(
            found,
            Action.EXTEND,
            lambda: self.deps.inventory.extend(
                derived_request_id(found.reservation_id, "extend", request.request_id),
                found.hold_id,
                target,
                owner=reservation_owner(found.reservation_id),
            ),
        )

        def change(current: Reservation) -> None:
            # Extensions racing may be written in another order than inventory took them: the
            # reservation keeps the latest expiry its hold was given, as the hold does.
            recorded = current.expires_at or hold.expires_at
            current.extend(max(hold.expires_at, recorded))

        return await self._change(
            "ExtendReservation",
            request,
            request.request_id,
            pb.ExtendReservationResponse,
            found.reservation_id,
            change,
            lambda done: pb.ExtendReservationResponse(reservation=messages.reservation(done)),
        )

    async def _extension_target(
        self, request: pb.ExtendReservationRequest, found: Reservation, extend_by: timedelta
    ) -> datetime:
        """The expiry an extension asks the hold for, fixed by its first try and kept (committed before
        inventory is asked) with its request id. Inventory keeps the first ExtendHold under its derived
        request id: a retry after a crash in between must ask the same, even when another extension or
        the recovery loop has since moved the reservation's expiry (from which a new target would be
        counted again: refused as a reused request id, or the hour asked for given twice)."""

        async def first_try(conn: asyncpg.Connection) -> Timestamp:
            assert found.expires_at is not None
            limit = found.extension_limit(self.deps.limits.max_hold)
            # Measured against what is left before the limit: an extension of centuries is refused
            # here, before adding it to the expiry would run past the calendar's last year.
            if extend_by > limit - found.expires_at:
                raise InvalidArgument.of(
                    "extend_by",
                    f"a reservation is held at most {duration_text(self.deps.limits.max_hold)} from its creation,"
                    f" until {limit.isoformat()}; it now runs until {found.expires_at.isoformat()}",
                )
            fixed = Timestamp()
            fixed.FromDatetime(found.expires_at + extend_by)
            return fixed

        fixed = await self.deps.idempotency.run(
            self.deps.db,
            "ExtendReservationTarget",
            derived_request_id(found.reservation_id, "extend-target", request.request_id),
            request,
            Timestamp,
            first_try,
        )
        return fixed.ToDatetime(tzinfo=UTC)

    @_whole
    async def cancel(self, request: pb.CancelReservationRequest) -> pb.CancelReservationResponse:
        check = Validator()
        check.identifier("request_id", request.request_id)
        check.identifier("reservation_id", request.reservation_id)
        check.text("reason", request.reason, max_length=500)
        check.raise_if_invalid()
        found = await load(self.deps, request.reservation_id)
        return await self._begun(
            "CancelReservation", request, pb.CancelReservationResponse, lambda: self._cancel(request, found)
        )

    async def _cancel(self, request: pb.CancelReservationRequest, found: Reservation) -> pb.CancelReservationResponse:
        waiting = found.status is Status.AWAITING_TRANSFER
        if waiting:
            await self._cancel_transfer(found, request.reason)
        elif found.status is not Status.CANCELLED:
            next_status(found.reservation_id, found.status, Action.CANCEL)
            # Every cancellation of the reservation asks inventory the same (its request id is the
            # reservation's, so the caller's reason, which inventory does not keep, stays out): two
            # at once both stand, as one after the other would.
            await self._on_hold(found, Action.CANCEL, lambda: self._release(found))

        def change(current: Reservation) -> None:
            if waiting and current.status not in (Status.AWAITING_TRANSFER, Status.CANCELLED):
                # The units arrived (and are held at the store) between the two halves: go again.
                raise Aborted(f"reservation {current.reservation_id} changed while cancelling; retry")
            if current.status is not Status.CANCELLED:  # cancelling twice is not an error
                current.cancel(request.reason, now())

        return await self._change(
            "CancelReservation",
            request,
            request.request_id,
            pb.CancelReservationResponse,
            found.reservation_id,
            change,
            lambda done: pb.CancelReservationResponse(reservation=messages.reservation(done)),
        )

    async def mark_ready(self, request: pb.MarkReservationReadyRequest) -> pb.MarkReservationReadyResponse:
        check = Validator()
        check.identifier("request_id", request.request_id)
        check.identifier("reservation_id", request.reservation_id)
        check.raise_if_invalid()
        found = await load(self.deps, request.reservation_id)

        def change(current: Reservation) -> None:
            if current.status is not Status.READY_FOR_PICKUP:  # staff pressing twice is not an error
                current.mark_ready(now())

        return await self._change(
            "MarkReservationReady",
            request,
            request.request_id,
            pb.MarkReservationReadyResponse,
            found.reservation_id,
            change,
            lambda done: pb.MarkReservationReadyResponse(reservation=messages.reservation(done)),
        )

    @_whole
    async def collect(self, request: pb.CollectReservationRequest) -> pb.CollectReservationResponse:
        code = normalize_pickup_code(request.pickup_code)
        check = Validator()
        check.identifier("request_id", request.request_id)
        check.identifier("store_id", request.store_id)
        if not code:
            check.fail("pickup_code", "is required")
        else:
            check.check(is_pickup_code(code), "pickup_code", f"must be {LENGTH} characters from {ALPHABET}")
        check.raise_if_invalid()
        require_location(request.store_id, "store")
        return await self.deps.idempotency.resumable(
            self.deps.db,
            "CollectReservation",
            request.request_id,
            request,
            pb.CollectReservationResponse,
            lambda begun: self._collect(request, code, begun),
        )

    async def _collect(
        self, request: pb.CollectReservationRequest, code: str, begun: Begun
    ) -> pb.CollectReservationResponse:
        def respond(done: Reservation) -> pb.CollectReservationResponse:
            return pb.CollectReservationResponse(reservation=messages.reservation(done))

        found = await repository.find_open_by_code(self.deps.db.pool, request.store_id, code)
        if found is None:
            closed = await repository.latest_by_code(self.deps.db.pool, request.store_id, code)
            if closed is None:
                raise NotFound(
                    "pickup code",
                    code,
                    field="pickup_code",
                    message=f"pickup code {code!r} not found at store {request.store_id}",
                )
            if begun.resumed and closed.status is Status.COLLECTED:
                # This request committed the hold before a crash cut it short; the reservation has
                # since followed its hold. The retry gets the answer the first attempt would have had.
                return await self._change(
                    "CollectReservation",
                    request,
                    request.request_id,
                    pb.CollectReservationResponse,
                    closed.reservation_id,
                    lambda current: None,
                    respond,
                )
            raise FailedPrecondition(
                f"the reservation with pickup code {code} at store {request.store_id} is {closed.status.label}",
                [PreconditionViolation("RESERVATION_STATUS", closed.reservation_id, f"is {closed.status.label}")],
                reason=Reason.INVALID_STATE,
            )
        if found.status is Status.PENDING:
            raise FailedPrecondition(
                f"reservation {found.reservation_id} is still being confirmed; try again in a moment",
                [PreconditionViolation("RESERVATION_STATUS", found.reservation_id, "is pending")],
                reason=Reason.INVALID_STATE,
            )
        await self._on_hold(
            found,
            Action.COLLECT,
            lambda: self.deps.inventory.commit(
                derived_request_id(found.reservation_id, "commit"),
                found.hold_id,
                owner=reservation_owner(found.reservation_id),
            ),
        )

        def change(current: Reservation) -> None:
            # Inventory sold the hold for this collection. The reservation may already say so: it
            # followed its hold when a cancellation racing this one found the hold sold, or after a
            # crash cut this request short. The sale is still this collection's, not a refusal.
            if current.status is not Status.COLLECTED:
                current.collect(now())

        return await self._change(
            "CollectReservation",
            request,
            request.request_id,
            pb.CollectReservationResponse,
            found.reservation_id,
            change,
            respond,
        )

    @_whole
    async def convert(self, request: pb.ConvertReservationRequest) -> pb.ConvertReservationResponse:
        check = Validator()
        check.identifier("request_id", request.request_id)
        check.identifier("reservation_id", request.reservation_id)
        check.identifier("order_id", request.order_id)
        check.raise_if_invalid()
        found = await load(self.deps, request.reservation_id)
        return await self._begun(
            "ConvertReservation", request, pb.ConvertReservationResponse, lambda: self._convert(request, found)
        )

    async def _convert(
        self, request: pb.ConvertReservationRequest, found: Reservation
    ) -> pb.ConvertReservationResponse:
        done_already = found.status is Status.CONVERTED and found.order_id == request.order_id
        if not done_already:
            next_status(found.reservation_id, found.status, Action.CONVERT)
            await self._on_hold(
                found,
                Action.CONVERT,
                lambda: self.deps.inventory.transfer(
                    derived_request_id(found.reservation_id, "transfer", request.order_id),
                    found.hold_id,
                    expected_owner=reservation_owner(found.reservation_id),
                    new_owner=order_owner(request.order_id),
                ),
            )

        def change(current: Reservation) -> None:
            if not (current.status is Status.CONVERTED and current.order_id == request.order_id):
                current.convert(request.order_id, now())

        return await self._change(
            "ConvertReservation",
            request,
            request.request_id,
            pb.ConvertReservationResponse,
            found.reservation_id,
            change,
            lambda done: pb.ConvertReservationResponse(reservation=messages.reservation(done), hold_id=done.hold_id),
        )

    # -- shared steps -----------------------------------------------------------------------------------

    async def _cancel_transfer(self, reservation: Reservation, reason: str) -> None:
        """Ship to store: cancelling the draft transfer releases the units held at the origin. Once shipped
        it cannot be cancelled; the units then arrive at the store as stock (their arrival hold is given
        back when the store receives them)."""
        with contextlib.suppress(FailedPrecondition):  # shipped already
            await self.deps.inventory.cancel_transfer(
                derived_request_id(reservation.reservation_id, "cancel-transfer"),
                reservation.transfer_id,
                f"reservation {reservation.reservation_id} cancelled: {reason}".rstrip(": "),
            )

    async def _release(self, reservation: Reservation) -> HoldView:
        """The inventory half of a cancellation. Refused because the hold is released already, for this
        reservation: by this cancellation's first try, which a crash cut short before it was written
        down (asking in the words of an earlier version, which inventory no longer takes as the same
        request), or by another cancellation. Either way the reservation is cancelled, for this
        caller's reason, not refused."""
        owner = reservation_owner(reservation.reservation_id)
        try:
            return await self.deps.inventory.release(
                derived_request_id(reservation.reservation_id, "release"),
                reservation.hold_id,
                "reservation cancelled",
                owner=owner,
            )
        except FailedPrecondition:
            hold = await self.deps.inventory.get_hold(reservation.hold_id)
            if hold.state == "released" and hold.owner == owner:
                return hold
            raise

    async def _not_run_out(self, reservation: Reservation, action: Action) -> Reservation:
        """A reservation whose time has passed, before the hold's expiry reached it: over, as an
        expired one is (RESERVATION_STATUS), never a change counted from an expiry in the past
        (which inventory would refuse for a field the caller never sent). Inventory is asked
        first: an extension there not yet written here still counts."""
        if reservation.expires_at is None or reservation.expires_at > now():
            return reservation
        current = await self.sync.refresh(reservation)
        if current.status is not reservation.status:
            raise InvalidTransition(current.reservation_id, current.status, action)
        if current.expires_at is None or current.expires_at <= now():
            raise InvalidTransition(current.reservation_id, Status.EXPIRED, action)
        return current

    async def _begun(
        self,
        method: str,
        request: pb.ExtendReservationRequest | pb.CancelReservationRequest | pb.ConvertReservationRequest,
        response_type: type[ResponseT],
        change: Callable[[], Awaitable[ResponseT]],
    ) -> ResponseT:
        """A change of the hold begins before inventory is asked (answered at once when it was answered
        before): should the process die once inventory acted, and its caller never come back, the
        service finishes it itself (omnistock_platform.resuming), for the caller's own reasons."""
        return await self.deps.idempotency.resumable(
            self.deps.db, method, request.request_id, request, response_type, lambda _: change()
        )

    async def _on_hold(
        self, reservation: Reservation, action: Action, call: Callable[[], Awaitable[HoldView]]
    ) -> HoldView:
        """The inventory half of a change. Refused because the hold is no longer active (it expired,
        or a crash left our record behind): follow the hold, then say what the reservation is now."""
        try:
            return await call()
        except Shortfall:
            raise
        except FailedPrecondition:
            current = await self.sync.refresh(reservation)
            if current.status is not reservation.status:
                raise InvalidTransition(current.reservation_id, current.status, action) from None
            raise

    async def _change(
        self,
        method: str,
        request: pb.ExtendReservationRequest
        | pb.CancelReservationRequest
        | pb.MarkReservationReadyRequest
        | pb.CollectReservationRequest
        | pb.ConvertReservationRequest,
        request_id: str,
        response_type: type[ResponseT],
        reservation_id: str,
        change: Callable[[Reservation], None],
        respond: Callable[[Reservation], ResponseT],
    ) -> ResponseT:
        """The local half: under the row lock, with the idempotency claim and the events."""

        async def work(conn: asyncpg.Connection) -> ResponseT:
            current = await repository.get(conn, reservation_id, lock=True)
            if current is None:
                raise NotFound("reservation", reservation_id, field="reservation_id")
            change(current)
            return respond(await record(conn, self.deps.outbox, current))

        return await self.deps.idempotency.run(self.deps.db, method, request_id, request, response_type, work)
