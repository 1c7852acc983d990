"""Holds: take, commit, release, extend, transfer and expire units set aside."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar

import asyncpg
from google.protobuf.message import Message

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import bundle_repository, messages, pool_repository, repository
from omnistock_inventory.adapters.changes import last_change
from omnistock_inventory.adapters.metrics import HOLDS, HOLDS_EXPIRED, SHORTFALLS
from omnistock_inventory.domain.bundles import HoldBundle, settling
from omnistock_inventory.domain.holds import (
    HoldLine,
    HoldState,
    LineKey,
    ensure_active,
    ensure_owner,
    merge_lines,
    settled_state,
)
from omnistock_inventory.domain.stock import channel_available, may_use_safety_stock
from omnistock_inventory.service_layer import ledger, listing
from omnistock_inventory.service_layer.batching import ATTEMPTS, RETRYABLE, HoldBatcher, NoFit, ShortRow, Waiting
from omnistock_inventory.service_layer.bundles import bundle_lines, bundle_shortfall
from omnistock_inventory.service_layer.stock import channel_of
from omnistock_inventory.service_layer.taking import ShortOnRows, Taken, take, write_taken
from omnistock_inventory.settings import InventorySettings
from omnistock_platform import telemetry
from omnistock_platform.auth import (
    Role,
    current_principal,
    require_any_location,
    require_location,
    require_locations,
    require_own_channel,
)
from omnistock_platform.db import Database
from omnistock_platform.errors import (
    Aborted,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    Reason,
    Shortfall,
    ShortLine,
)
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore, current_caller
from omnistock_platform.logging import get_logger, request_id_var
from omnistock_platform.loops import repeat
from omnistock_platform.paging import key_after, key_token
from omnistock_platform.statement import Statement
from omnistock_platform.validation import CLOCK_SKEW, Validator, duration_text

log = get_logger(__name__)

ResponseT = TypeVar("ResponseT", bound=Message)
STATE_NAMES = {code: state.value for state, code in messages.HOLD_STATES.items()}
SettleRequest = pb.CommitHoldRequest | pb.ReleaseHoldRequest | pb.ExtendHoldRequest | pb.TransferHoldRequest


class _RanOut(Exception):
    """A hold still active past its expiry, found by a change that must not take it over."""


def validate_lines(check: Validator, lines: list[pb.HoldLineRequest], *, required: bool) -> list[tuple[LineKey, int]]:
    if required:
        check.check(0 < len(lines) <= 100, "lines", "give between 1 and 100 lines")
    else:
        check.check(len(lines) <= 100, "lines", "at most 100 lines")
    for index, line in enumerate(lines):
        check.identifier(f"lines[{index}].location_id", line.location_id)
        check.identifier(f"lines[{index}].sku", line.sku)
        check.quantity(f"lines[{index}].quantity", line.quantity)
    return merge_lines((line.location_id, line.sku, line.quantity) for line in lines)


class Holds:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        idempotency: IdempotencyStore,
        settings: InventorySettings,
        *,
        batch: bool = True,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.settings = settings
        self.batcher = (
            HoldBatcher(
                self.hold_alone,
                self._take_on_one_row,
                self._take_on_many_rows,
                max_in_flight=settings.hold_transactions,
            )
            if batch
            else None
        )

    # -- taking units -------------------------------------------------------------------------------

    async def hold(self, request: pb.HoldRequest) -> pb.HoldResponse:
        check = Validator()
        check.text("owner", request.owner, required=True)
        check.enum("channel", request.channel, messages.CHANNELS)
        lines = validate_lines(check, list(request.lines), required=True)
        check.identifier("selling_location_id", request.selling_location_id, required=False)
        ttl = check.duration("ttl", request.ttl) if request.HasField("ttl") else self.settings.hold_default_ttl
        check.check(
            ttl is None or timedelta(0) < ttl <= self.settings.hold_max_ttl,
            "ttl",
            f"must be positive and at most {duration_text(self.settings.hold_max_ttl)}",
        )
        check.raise_if_invalid()
        assert ttl is not None
        # A till sells, and staff hold, only at their own locations; a till sells at once (holds for
        # later belong to a reservation or an order, which take them themselves).
        if current_principal().role is Role.POS and not request.commit_now:
            raise PermissionDenied(
                "a till sells at once (commit_now); holds for later are taken by reservations and orders",
                reason=Reason.ACTION_NOT_ALLOWED,
            )
        require_own_channel(request.channel)  # its pools keep each channel's share
        require_locations([key.location_id for key, _ in lines], "stock at location")
        if request.selling_location_id:
            require_location(request.selling_location_id, "selling location")
        channel = channel_of(request.channel)
        try:
            if self.batcher is not None and len(lines) == 1 and not request.commit_now:
                ((key, quantity),) = lines
                safety = may_use_safety_stock(channel, request.selling_location_id, key.location_id)
                response = await self.batcher.hold(request, (key, safety, channel.value), quantity, ttl)
            else:
                response = await self.hold_alone(request, lines, ttl)
        except Shortfall:
            SHORTFALLS.labels(channel.value).inc()
            raise
        HOLDS.labels(channel.value).inc()
        return response

    async def hold_alone(
        self, request: pb.HoldRequest, lines: list[tuple[LineKey, int]], ttl: timedelta
    ) -> pb.HoldResponse:
        """One hold in its own transaction, with its retries and its shortfall answer. A bundle SKU
        has no stock row, so its line is short as it stands: it is then taken as its components
        (so that a plain hold pays nothing for bundles existing)."""
        expired_once = False
        bundles: list[HoldBundle] = []
        asked = lines
        for attempt in range(ATTEMPTS):
            try:
                return await self._claim_and_take(request, lines, ttl, bundles)
            except ShortOnRows as short:
                if not bundles:
                    definitions = await bundle_repository.definitions(self.db.pool, [key.sku for key in short.keys])
                    if definitions:
                        taken, bundles = bundle_lines(asked, definitions)
                        lines = merge_lines(taken)
                        continue
                # Short only because of holds that ran out but were not swept yet? Expire them, try once more.
                overdue = await repository.overdue_holds_on(self.db.pool, short.keys)
                if overdue and not expired_once:
                    expired_once = True
                    await self.expire(overdue)
                    continue
                raise await self._shortfall(request, lines, bundles) from None
            except RETRYABLE:
                await asyncio.sleep(0.005 * (attempt + 1))
        raise Aborted("the hold lost a race with other holds; retry with the same request_id")

    async def _claim_and_take(
        self,
        request: pb.HoldRequest,
        lines: list[tuple[LineKey, int]],
        ttl: timedelta,
        bundles: list[HoldBundle] | None = None,
    ) -> pb.HoldResponse:
        """`IdempotencyStore.run`, except that the hold saves its answer in its one write, and a
        plain single-line one claims its request id and takes its units in one statement."""
        channel = channel_of(request.channel)
        async with self.db.transaction() as conn:
            if len(lines) == 1 and not request.commit_now and request.request_id:
                ((key, quantity),) = lines
                statement = Statement()
                claim = self.idempotency.claim_part(statement, request.request_id, "Hold", request, current_caller())
                claimed, row = await repository.take_units_once(
                    conn,
                    statement,
                    claim,
                    key,
                    quantity,
                    use_safety_stock=may_use_safety_stock(channel, request.selling_location_id, key.location_id),
                    channel=channel.value,
                )
                if claimed:
                    if row is None:
                        raise ShortOnRows([key])
                    return await self._write(conn, request, [(row, quantity)], ttl, bundles or [])
            prior = await self.idempotency.claim(conn, request.request_id, "Hold", request)
            if prior is not None:
                return pb.HoldResponse.FromString(prior)
            rows = await take(
                conn,
                [
                    (
                        key,
                        quantity,
                        may_use_safety_stock(channel, request.selling_location_id, key.location_id),
                        channel.value,
                    )
                    for key, quantity in lines
                ],
                backorder=not request.commit_now,
            )
            taken = [(rows[key], quantity) for key, quantity in lines]
            return await self._write(conn, request, taken, ttl, bundles or [])

    async def _write(
        self,
        conn: asyncpg.Connection,
        request: pb.HoldRequest,
        taken: list[tuple[Mapping[str, Any], int]],
        ttl: timedelta,
        bundles: list[HoldBundle] | None = None,
    ) -> pb.HoldResponse:
        """Write a hold whose units are taken (a till sale: committed at once), with its answer for retries."""
        hold = Taken(
            request=request,
            hold_id=str(uuid.uuid4()),
            channel=channel_of(request.channel),
            expires_at=datetime.now(UTC) + ttl,
            created_at=taken[0][0]["now"],
            rows=taken,
            actor=current_principal().subject,
            request_id=request_id_var.get(),
            bundles=bundles or [],
        )
        await write_taken(conn, self.outbox, self.idempotency, [hold])
        return hold.response

    # What the batcher runs for holds that share a transaction.

    async def _take_on_one_row(
        self, group: list[Waiting]
    ) -> tuple[list[tuple[Waiting, pb.HoldResponse]], list[Waiting]]:
        """Holds on one row: one conditional update of their total (all fit, or `NoFit`), each hold
        then written with the counters after it, as if they had been taken one after another."""
        key, use_safety_stock, channel = group[0].slot
        async with self.db.transaction() as conn:
            mine, retries = await self._claim_many(conn, group)
            if not mine:
                return [], retries
            total = sum(waiting.quantity for waiting in mine)
            row = await repository.take_units_together(
                conn, key, total, len(mine), use_safety_stock=use_safety_stock, channel=channel
            )
            if row is None:
                raise NoFit
            held = row["held"] - total
            version = row["version"] - len(mine)
            taken = []
            for waiting in mine:
                held += waiting.quantity
                version += 1
                taken.append(_taken_for(waiting, {**row, "held": held, "version": version}))
            await write_taken(conn, self.outbox, self.idempotency, taken)
        return [(waiting, hold.response) for waiting, hold in zip(mine, taken, strict=True)], retries

    async def _take_on_many_rows(
        self, group: list[Waiting]
    ) -> tuple[list[tuple[Waiting, pb.HoldResponse]], list[Waiting]]:
        """Holds on distinct rows: taken as the lines of one hold are (a short one: `ShortRow`)."""
        async with self.db.transaction() as conn:
            mine, retries = await self._claim_many(conn, group)
            if not mine:
                return [], retries
            try:
                lines = [(waiting.slot[0], waiting.quantity, waiting.slot[1], waiting.slot[2]) for waiting in mine]
                rows = await take(conn, lines)
            except ShortOnRows as short:
                raise ShortRow(next(waiting for waiting in mine if waiting.slot[0] in short.keys)) from None
            taken = [_taken_for(waiting, rows[waiting.slot[0]]) for waiting in mine]
            await write_taken(conn, self.outbox, self.idempotency, taken)
        return [(waiting, hold.response) for waiting, hold in zip(mine, taken, strict=True)], retries

    async def _claim_many(self, conn: asyncpg.Connection, group: list[Waiting]) -> tuple[list[Waiting], list[Waiting]]:
        """The holds whose request ids this transaction claimed, and the others (claimed before:
        retries, which get their stored answer on their own)."""
        claimed = await self.idempotency.claim_many(
            conn, "Hold", [(waiting.request.request_id, waiting.request, waiting.caller) for waiting in group]
        )
        return (
            [waiting for waiting in group if waiting.request.request_id in claimed],
            [waiting for waiting in group if waiting.request.request_id not in claimed],
        )

    async def _shortfall(
        self, request: pb.HoldRequest, lines: list[tuple[LineKey, int]], bundles: Sequence[HoldBundle] = ()
    ) -> Shortfall:
        """Which lines are short, and how many each could have; a bundle line in whole sets."""
        channel = channel_of(request.channel)
        rows = {
            (row["location_id"], row["sku"]): row
            for row in await repository.stock_rows(
                self.db.pool, skus=[k.sku for k, _ in lines], location_ids=[k.location_id for k, _ in lines]
            )
        }
        named = {k.sku for k, _ in lines} | {line.sku for line in request.lines}
        catalogue = {row["sku"]: row for row in await repository.get_skus(self.db.pool, sorted(named))}
        if any((key.location_id, key.sku) not in rows for key, _ in lines):
            await self._require_known(request, catalogue)
        backorder = {sku for sku, row in catalogue.items() if row["allow_backorder"]}
        pools = await pool_repository.pools_of(self.db.pool, channel.value)
        short = []
        can_have: dict[LineKey, int] = {}
        for key, quantity in lines:
            row = rows.get((key.location_id, key.sku))
            can = (
                channel_available(
                    messages.counters(row),
                    None if pools is None else pools.get(key.location_id, []),
                    use_safety_stock=may_use_safety_stock(channel, request.selling_location_id, key.location_id),
                    backorder=key.sku in backorder and not request.commit_now,
                    sold_now=request.commit_now,
                )[0]
                if row
                else 0
            )
            can_have[key] = can
            if can < quantity:
                short.append(ShortLine(key.location_id, key.sku, quantity, can))
        if bundles:
            short = bundle_shortfall(lines, bundles, can_have)
        if not short:  # stock came back between the attempt and this read: the caller may retry
            raise Aborted("stock changed while the hold was being taken; retry with the same request_id")
        return Shortfall(short)

    async def _require_known(self, request: pb.HoldRequest, catalogue: Mapping[str, Any]) -> None:
        """An unknown SKU or location is NOT_FOUND, not a shortfall of 0: nothing is missing from
        stock that was never in the catalogue (and nobody should count it as refused demand)."""
        for index, line in enumerate(request.lines):
            if line.sku not in catalogue:
                raise NotFound("sku", line.sku, field=f"lines[{index}].sku")
        known = {
            row["location_id"]
            for row in await repository.get_locations(self.db.pool, [line.location_id for line in request.lines])
        }
        for index, line in enumerate(request.lines):
            if line.location_id not in known:
                raise NotFound("location", line.location_id, field=f"lines[{index}].location_id")

    # -- settling units -----------------------------------------------------------------------------

    async def _settle(
        self,
        conn: asyncpg.Connection,
        hold_id: str,
        changes: list[tuple[LineKey, int]],
        action: str,
        sets: Sequence[tuple[LineKey, int]] = (),
    ) -> None:
        """Commit (a sale: on hand and held drop) or release/expire (held drops) the given quantities,
        and the bundle sets (`sets`) whose components they include."""
        kind = {"commit": "commit", "release": "release", "expire": "expire"}[action]
        for key, quantity in sorted(changes):
            if quantity <= 0:
                continue
            try:
                row = await repository.change_stock(
                    conn, key, on_hand=-quantity if action == "commit" else 0, held=-quantity
                )
            except asyncpg.CheckViolationError as error:
                if action != "commit":
                    raise
                # A backordered hold: its units are promised from stock on its way, not yet on hand.
                raise FailedPrecondition(
                    f"{quantity} of {key.sku} at {key.location_id} are not on hand yet (backordered);"
                    " they can be committed once received",
                    [PreconditionViolation("STOCK_NOT_ON_HAND", f"{key.location_id}/{key.sku}", "backordered")],
                    reason=Reason.STOCK_NOT_ON_HAND,
                ) from error
            await ledger.record(
                conn,
                self.outbox,
                row,
                kind=kind,
                on_hand_delta=-quantity if action == "commit" else 0,
                held_delta=-quantity,
                hold_id=hold_id,
            )
        column = "committed" if action == "commit" else "released"
        await repository.settle_hold_lines(conn, hold_id, [c for c in changes if c[1] > 0], column)
        if sets:
            await bundle_repository.settle_hold_bundles(conn, hold_id, sets, column)

    @staticmethod
    async def _message(
        conn: asyncpg.Connection | asyncpg.Pool, found: tuple[asyncpg.Record, dict[LineKey, HoldLine]]
    ) -> pb.Hold:
        """A hold as the contract shows it, with its bundle lines."""
        return messages.hold(*found, (await bundle_repository.hold_bundles(conn, found[0]["hold_id"])).values())

    async def _locked(
        self, conn: asyncpg.Connection, hold_id: str, *, by_caller: bool = True
    ) -> tuple[asyncpg.Record, dict[LineKey, HoldLine]]:
        """The hold, locked. `by_caller`: the caller acts on it, so staff only on holds wholly at their
        locations (expiry is inventory's own act, whoever's call happened to find a hold overdue)."""
        found = await repository.get_hold(conn, hold_id, lock=True)
        if found is None:
            raise NotFound("hold", hold_id, field="hold_id")
        if by_caller:
            require_locations([key.location_id for key in found[1]], "a hold at location")
        return found

    async def _finish(
        self, conn: asyncpg.Connection, hold_id: str, event: str, changes: list[tuple[LineKey, int]]
    ) -> pb.Hold:
        found = await repository.get_hold(conn, hold_id)
        assert found is not None
        row, lines = found
        state = settled_state(lines.values())
        if state is not HoldState(row["state"]):
            await repository.update_hold(conn, hold_id, state=state)
            found = await repository.get_hold(conn, hold_id)
            assert found is not None
        hold = await self._message(conn, found)
        touched = [
            pb.HoldLine(location_id=key.location_id, sku=key.sku, quantity=quantity) for key, quantity in changes
        ]
        await self.outbox.add(conn, f"hold.{event}", pb.HoldChanged(hold=hold, lines=touched))
        return hold

    def _validate_settle(self, request: pb.ReleaseHoldRequest | pb.CommitHoldRequest) -> list[tuple[LineKey, int]]:
        check = Validator()
        check.identifier("hold_id", request.hold_id)
        check.text("expected_owner", request.expected_owner)
        lines = validate_lines(check, list(request.lines), required=False)
        check.raise_if_invalid()
        return lines

    async def commit(self, request: pb.CommitHoldRequest) -> pb.CommitHoldResponse:
        wanted = self._validate_settle(request)

        async def work(conn: asyncpg.Connection) -> pb.CommitHoldResponse:
            row, lines = await self._locked(conn, request.hold_id)
            ensure_active(HoldState(row["state"]), request.hold_id)
            ensure_owner(row["owner"], request.expected_owner, request.hold_id)
            changes, sets = settling(lines, await bundle_repository.hold_bundles(conn, request.hold_id), wanted)
            await self._settle(conn, request.hold_id, changes, "commit", sets)
            return pb.CommitHoldResponse(hold=await self._finish(conn, request.hold_id, "committed", changes))

        return await self._retrying("CommitHold", request, pb.CommitHoldResponse, work)

    async def release(self, request: pb.ReleaseHoldRequest) -> pb.ReleaseHoldResponse:
        wanted = self._validate_settle(request)

        async def work(conn: asyncpg.Connection) -> pb.ReleaseHoldResponse:
            row, lines = await self._locked(conn, request.hold_id)
            ensure_active(HoldState(row["state"]), request.hold_id)
            ensure_owner(row["owner"], request.expected_owner, request.hold_id)
            changes, sets = settling(lines, await bundle_repository.hold_bundles(conn, request.hold_id), wanted)
            await self._settle(conn, request.hold_id, changes, "release", sets)
            return pb.ReleaseHoldResponse(hold=await self._finish(conn, request.hold_id, "released", changes))

        return await self._retrying("ReleaseHold", request, pb.ReleaseHoldResponse, work)

    def _check_expiry(self, check: Validator, expires_at: datetime | None) -> None:
        """A new expiry a caller asks for (ExtendHold, TransferHold): not in the past and at most
        hold_max_ttl ahead, each by this service's clock with the drift every caller's time is
        allowed (CLOCK_SKEW): "now + 15 minutes" by a clock a moment off ours is neither refused as
        past nor, at the limit, as too far ahead, whichever of the two RPCs it is given to."""
        if expires_at is None:
            return
        check.not_past("expires_at", expires_at)
        most = self.settings.hold_max_ttl
        if expires_at > datetime.now(UTC) + most + CLOCK_SKEW:
            check.fail("expires_at", f"at most {duration_text(most)} ahead")

    async def extend(self, request: pb.ExtendHoldRequest) -> pb.ExtendHoldResponse:
        check = Validator()
        check.identifier("hold_id", request.hold_id)
        check.text("expected_owner", request.expected_owner)
        expires_at = check.timestamp(
            "expires_at", request.expires_at if request.HasField("expires_at") else None, required=True
        )
        self._check_expiry(check, expires_at)
        check.raise_if_invalid()
        assert expires_at is not None

        async def work(conn: asyncpg.Connection) -> pb.ExtendHoldResponse:
            row, _ = await self._locked(conn, request.hold_id)
            ensure_active(HoldState(row["state"]), request.hold_id)
            ensure_owner(row["owner"], request.expected_owner, request.hold_id)
            if row["expires_at"] < datetime.now(UTC):
                # Run out: over, whether or not the sweeper has come by yet (as for TransferHold and
                # AdjustHold), so an extension never depends on the sweeper's timing.
                raise _RanOut()
            # Never earlier: of two extensions racing, the one computed from an older expiry may
            # arrive last, and would take back time the other promised the hold's owner.
            later = max(expires_at, row["expires_at"])
            await repository.update_hold(conn, request.hold_id, expires_at=later)
            found = await repository.get_hold(conn, request.hold_id)
            assert found is not None
            return pb.ExtendHoldResponse(hold=await self._message(conn, found))

        try:
            return await self._retrying("ExtendHold", request, pb.ExtendHoldResponse, work)
        except _RanOut:
            await self._expire_run_out(request.hold_id)

    async def transfer(self, request: pb.TransferHoldRequest) -> pb.TransferHoldResponse:
        check = Validator()
        check.identifier("hold_id", request.hold_id)
        check.text("expected_owner", request.expected_owner, required=True)
        check.text("new_owner", request.new_owner, required=True)
        expires_at = check.timestamp("expires_at", request.expires_at) if request.HasField("expires_at") else None
        self._check_expiry(check, expires_at)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.TransferHoldResponse:
            row, lines = await self._locked(conn, request.hold_id)
            ensure_active(HoldState(row["state"]), request.hold_id)
            ensure_owner(row["owner"], request.expected_owner, request.hold_id)
            if row["expires_at"] < datetime.now(UTC):
                raise _RanOut()
            await repository.update_hold(conn, request.hold_id, owner=request.new_owner, expires_at=expires_at)
            found = await repository.get_hold(conn, request.hold_id)
            assert found is not None
            hold = await self._message(conn, found)
            for key, line in sorted(lines.items()):
                stock_row = await repository.lock_stock_row(conn, key)
                assert stock_row is not None
                await repository.add_movement(
                    conn,
                    stock_row,
                    kind="transfer",
                    on_hand_delta=0,
                    held_delta=0,
                    hold_id=request.hold_id,
                    reason=f"{row['owner']} -> {request.new_owner} ({line.open} open)",
                )
            await self.outbox.add(
                conn, "hold.transferred", pb.HoldChanged(hold=hold, lines=hold.lines, previous_owner=row["owner"])
            )
            return pb.TransferHoldResponse(hold=hold)

        try:
            return await self._retrying("TransferHold", request, pb.TransferHoldResponse, work)
        except _RanOut:
            await self._expire_run_out(request.hold_id)

    async def _expire_run_out(self, hold_id: str) -> NoReturn:
        """A change found the hold run out, and the sweeper has not come by yet (it was behind, or
        inventory just started): it is not the caller's to keep or take over. Expired now, as the
        sweeper would (the owner hears hold.expired and the units are on sale again), and refused as
        a hold already expired is (HOLD_STATE)."""
        await self.expire([hold_id])
        found = await repository.get_hold(self.db.pool, hold_id)
        state = HoldState(found[0]["state"]) if found is not None else HoldState.EXPIRED
        ensure_active(state, hold_id)
        # Being expired by the sweeper right now: the same request again decides.
        raise Aborted(f"hold {hold_id} changed while it was asked for; retry")

    async def get(self, request: pb.GetHoldRequest) -> pb.GetHoldResponse:
        check = Validator()
        check.identifier("hold_id", request.hold_id)
        check.raise_if_invalid()
        found = await repository.get_hold(self.db.pool, request.hold_id)
        if found is None:
            raise NotFound("hold", request.hold_id, field="hold_id")
        require_any_location([key.location_id for key in found[1]], f"hold {request.hold_id}")
        # Taken after the hold was read: a stock read passing it sees at least what the hold showed.
        return pb.GetHoldResponse(
            hold=await self._message(self.db.pool, found),
            consistency_token=str(await last_change(self.db.pool)),
        )

    async def list_holds(self, request: pb.ListHoldsRequest) -> pb.ListHoldsResponse:
        check = Validator()
        check.text("owner_prefix", request.owner_prefix)
        check.check(request.state == 0 or request.state in STATE_NAMES, "state", "unknown value")
        check.identifier("location_id", request.location_id, required=False)
        limit = check.page_size("page_size", request.page_size)
        after = key_after(request.page_token)
        check.raise_if_invalid()
        if current_principal().location_scoped:
            require_location(request.location_id or "(all locations)")
        await listing.ensure_known(self.db.pool, location_id=request.location_id)
        rows = await repository.list_holds(
            self.db.pool,
            owner_prefix=request.owner_prefix,
            state=STATE_NAMES.get(request.state, ""),
            location_id=request.location_id,
            after=after,
            limit=limit + 1,
        )
        holds = []
        for row in rows[:limit]:
            found = await repository.get_hold(self.db.pool, row["hold_id"])
            if found is not None:
                holds.append(await self._message(self.db.pool, found))
        return pb.ListHoldsResponse(
            holds=holds, next_page_token=key_token(rows[limit - 1]["hold_id"]) if len(rows) > limit else ""
        )

    async def _retrying(
        self,
        method: str,
        request: SettleRequest,
        response_type: type[ResponseT],
        work: Callable[[asyncpg.Connection], Awaitable[ResponseT]],
    ) -> ResponseT:
        for attempt in range(ATTEMPTS):
            try:
                return await self.idempotency.run(self.db, method, request.request_id, request, response_type, work)
            except RETRYABLE:
                await asyncio.sleep(0.005 * (attempt + 1))
        raise Aborted(f"{method} lost a race; retry with the same request_id")

    # -- expiry ---------------------------------------------------------------------------------------

    async def expire(self, hold_ids: list[str] | None = None, batch: int = 100) -> int:
        """Give back the open units of holds past their expiry. Returns how many expired."""
        count = 0
        async with self.db.transaction() as conn:
            candidates = hold_ids if hold_ids is not None else await repository.overdue_holds(conn, batch)
            for hold_id in candidates:
                found = await conn.fetchrow(
                    "SELECT state, expires_at FROM inventory.holds WHERE hold_id = $1 FOR UPDATE SKIP LOCKED", hold_id
                )
                if found is None or found["state"] != HoldState.ACTIVE or found["expires_at"] >= datetime.now(UTC):
                    continue
                # A trace of its own (when tracing): the expiry, its events, and what they cause
                # elsewhere (the reservation expires, the store's task is withdrawn).
                with telemetry.internal("expire hold", {"omnistock.hold_id": hold_id}):
                    _, lines = await self._locked(conn, hold_id, by_caller=False)
                    changes, sets = settling(lines, await bundle_repository.hold_bundles(conn, hold_id), None)
                    await self._settle(conn, hold_id, changes, "expire", sets)
                    await repository.update_hold(conn, hold_id, state=HoldState.EXPIRED)
                    found_hold = await repository.get_hold(conn, hold_id)
                    assert found_hold is not None
                    hold = await self._message(conn, found_hold)
                    touched = [pb.HoldLine(location_id=k.location_id, sku=k.sku, quantity=q) for k, q in changes]
                    await self.outbox.add(conn, "hold.expired", pb.HoldChanged(hold=hold, lines=touched))
                count += 1
        HOLDS_EXPIRED.inc(count)
        return count

    async def sweep(self, stop: asyncio.Event) -> None:
        """Expiry is inventory's own job, so a lost reservation can never keep stock."""
        telemetry.service_var.set("inventory")

        async def expire_round() -> bool:
            expired = await self.expire()
            if expired:
                log.info("holds.expired", count=expired)
            return expired > 0

        await repeat(stop, self.settings.sweep_interval.total_seconds(), expire_round, failed="holds.sweep_failed")


def _taken_for(waiting: Waiting, row: Mapping[str, Any]) -> Taken:
    """The hold of a caller waiting in the batcher, as its row stood right after it, under its caller's name."""
    return Taken(
        request=waiting.request,
        hold_id=str(uuid.uuid4()),
        channel=channel_of(waiting.request.channel),
        expires_at=row["now"] + waiting.ttl,
        created_at=row["now"],
        rows=[(row, waiting.quantity)],
        actor=waiting.context.run(current_principal).subject,
        request_id=waiting.context.run(request_id_var.get),
        traceparent=waiting.context.run(telemetry.traceparent),
    )
