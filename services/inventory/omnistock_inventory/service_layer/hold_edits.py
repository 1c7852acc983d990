"""Holds changed in place (AdjustHold): lines grow, shrink, are added or removed, all or nothing.

An order edited after allocation changes what its holds keep aside without ever releasing them
and taking them again (in between, another channel could take the units). Every hold of the
request is locked (in hold id order), then every stock row it touches (in lock order, as
multi-line holds lock them), so two edits, or an edit and a hold, never deadlock; an increase
must fit the row's availability at that moment, exactly as a new hold must.

A line naming a set is in whole sets: more sets take every component by its units per set (all
or none, as a hold of the set does), fewer give them back as a release of sets does.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import bundle_repository, hold_edit_repository, messages, pool_repository, repository
from omnistock_inventory.domain.bundles import bundle_available, refuse_edit_of_sets
from omnistock_inventory.domain.hold_edits import LineEdit, SetEdit, plan_line_edits, plan_set_edits
from omnistock_inventory.domain.holds import HoldLine, HoldState, LineKey, ensure_active, settled_state
from omnistock_inventory.domain.stock import channel_available
from omnistock_inventory.service_layer import ledger
from omnistock_inventory.service_layer.batching import ATTEMPTS, RETRYABLE
from omnistock_inventory.service_layer.pools import at
from omnistock_platform.auth import require_locations
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
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.validation import MAX_QUANTITY, Validator

MAX_HOLDS = 20
MAX_LINES = 100

Wanted = list[tuple[LineKey, int, int]]


@dataclass(frozen=True)
class RowMove:
    """Units one hold takes (positive) or gives back (negative) on one stock row; `set_edit` when
    they are a set's components."""

    hold_id: str
    key: LineKey
    delta: int
    note: str
    set_edit: SetEdit | None = None


def validate(request: pb.AdjustHoldRequest) -> list[tuple[str, Wanted]]:
    check = Validator()
    check.request_id("request_id", request.request_id, required=True)
    check.text("reason", request.reason, max_length=500)
    adjustments = list(request.adjustments)
    check.check(0 < len(adjustments) <= MAX_HOLDS, "adjustments", f"give between 1 and {MAX_HOLDS} holds")
    seen_holds: set[str] = set()
    wanted: list[tuple[str, Wanted]] = []
    for index, adjustment in enumerate(adjustments[:MAX_HOLDS]):
        field = f"adjustments[{index}]"
        check.identifier(f"{field}.hold_id", adjustment.hold_id)
        check.check(adjustment.hold_id not in seen_holds, f"{field}.hold_id", "each hold at most once")
        seen_holds.add(adjustment.hold_id)
        lines = list(adjustment.lines)
        check.check(0 < len(lines) <= MAX_LINES, f"{field}.lines", f"give between 1 and {MAX_LINES} lines")
        keys: set[LineKey] = set()
        changes: Wanted = []
        for number, line in enumerate(lines[:MAX_LINES]):
            where = f"{field}.lines[{number}]"
            check.identifier(f"{where}.location_id", line.location_id)
            check.identifier(f"{where}.sku", line.sku)
            check.non_negative(f"{where}.open", line.open)
            check.non_negative(f"{where}.expected_open", line.expected_open)
            key = LineKey(line.location_id, line.sku)
            check.check(key not in keys, where, "each (location_id, sku) at most once per hold")
            keys.add(key)
            changes.append((key, line.open, line.expected_open))
        wanted.append((adjustment.hold_id, changes))
    check.raise_if_invalid()
    return wanted


def _refuse_oversized(edits: list[SetEdit], index: int, changes: Wanted) -> None:
    """A set's open sets may not make a component line hold more units than a hold line may."""
    where = {key: number for number, (key, _, _) in enumerate(changes)}
    for edit in edits:
        for part, units in sorted(edit.bundle.components.items()):
            if edit.open_after * units > MAX_QUANTITY:
                raise InvalidArgument.of(
                    f"adjustments[{index}].lines[{where[edit.key]}].open",
                    f"{edit.open_after} sets of {edit.key.sku} would hold {edit.open_after * units} of {part},"
                    f" at most {MAX_QUANTITY}",
                )


class HoldEdits:
    def __init__(self, db: Database, outbox: Outbox, idempotency: IdempotencyStore) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency

    async def adjust(self, request: pb.AdjustHoldRequest) -> pb.AdjustHoldResponse:
        wanted = validate(request)

        async def work(conn: asyncpg.Connection) -> pb.AdjustHoldResponse:
            return await self._adjust(conn, wanted, request.reason)

        for attempt in range(ATTEMPTS):
            try:
                return await self.idempotency.run(
                    self.db, "AdjustHold", request.request_id, request, pb.AdjustHoldResponse, work
                )
            except RETRYABLE:
                await asyncio.sleep(0.005 * (attempt + 1))
        raise Aborted("AdjustHold lost a race; retry with the same request_id")

    async def _adjust(
        self, conn: asyncpg.Connection, wanted: list[tuple[str, Wanted]], reason: str
    ) -> pb.AdjustHoldResponse:
        before: dict[str, dict[LineKey, HoldLine]] = {}
        channels: dict[str, str] = {}
        edits: list[LineEdit] = []
        set_edits: list[SetEdit] = []
        owners: set[str] = set()
        for index, (hold_id, changes) in sorted(enumerate(wanted), key=lambda item: item[1][0]):
            found = await repository.get_hold(conn, hold_id, lock=True)
            if found is None:
                raise NotFound("hold", hold_id, field="adjustments.hold_id")
            row, lines = found
            require_locations(
                [key.location_id for key in lines] + [key.location_id for key, _, _ in changes], "a hold at location"
            )
            ensure_active(HoldState(row["state"]), hold_id)
            if row["expires_at"] < datetime.now(UTC):
                raise FailedPrecondition(
                    f"hold {hold_id} has run out",
                    [PreconditionViolation("HOLD_STATE", hold_id, "hold has run out")],
                    reason=Reason.INVALID_STATE,
                )
            sets = await bundle_repository.hold_bundles(conn, hold_id)
            # Only a line the hold does not have may name a set it does not hold yet: a plain
            # adjustment reads no definitions.
            added = sorted({key.sku for key, _, _ in changes if key not in lines and key not in sets})
            definitions = await bundle_repository.definitions(conn, added) if added else {}
            plain, resized = plan_set_edits(hold_id, sets, changes, definitions)
            _refuse_oversized(resized, index, changes)
            refuse_edit_of_sets(sets, [(key, open_after) for key, open_after, _ in plain])
            owners.add(row["owner"])
            channels[hold_id] = row["channel"]
            before[hold_id] = lines
            edits.extend(plan_line_edits(hold_id, lines, plain))
            set_edits.extend(resized)
        if len(owners) > 1:
            raise FailedPrecondition(
                "holds of different owners are adjusted separately",
                [PreconditionViolation("HOLD_OWNER", owner, "one of several owners") for owner in sorted(owners)],
            )
        moves = [
            RowMove(edit.hold_id, edit.key, edit.delta, f"{edit.open_before} -> {edit.open_after} open")
            for edit in edits
        ] + [
            RowMove(edit.hold_id, key, units, f"set {edit.key.sku}: {edit.bundle.open} -> {edit.open_after} open", edit)
            for edit in set_edits
            for key, units in edit.parts()
        ]
        if moves:
            await self._take_and_give(conn, moves, channels, reason)
            await self._rewrite_lines(conn, edits, before, {edit.hold_id for edit in set_edits if edit.delta > 0})
            await self._rewrite_sets(conn, set_edits)
        holds = []
        for hold_id, _ in wanted:
            touched = sorted({move.key for move in moves if move.hold_id == hold_id})
            holds.append(await self._finish(conn, hold_id, before[hold_id], touched))
        return pb.AdjustHoldResponse(holds=holds)

    async def _take_and_give(
        self, conn: asyncpg.Connection, moves: list[RowMove], channels: dict[str, str], reason: str
    ) -> None:
        """Lock the rows in lock order; give back first (so that `held` never passes on hand on the
        way), then take each increase with the conditional update every hold takes its units with,
        as the hold's own channel (`channels`, by hold id): its pools keep back what they keep from a
        new hold of that channel. Any short row fails the whole adjustment (the transaction rolls
        back what was taken): a set's components are taken all or none."""
        keys = sorted({move.key for move in moves})
        await repository.lock_rows(conn, keys)
        why = f" ({reason})" if reason else ""
        short: dict[LineKey, int] = defaultdict(int)
        short_sets: dict[tuple[str, LineKey], SetEdit] = {}
        # Units a set's components already took in this adjustment: they count toward what it can have.
        taken_for_sets: dict[tuple[str, LineKey], dict[LineKey, int]] = defaultdict(dict)
        asked: dict[LineKey, str] = {}
        for move in sorted(moves, key=lambda m: (m.delta > 0, m.key, m.hold_id)):
            if move.delta < 0:
                row = await repository.change_stock(conn, move.key, held=move.delta)
                kind = "release"
            else:
                channel = channels[move.hold_id]
                taken = await repository.take_locked_units(
                    conn, [(move.key, move.delta, False, channel)], backorder=True
                )
                if not taken:
                    if move.set_edit is None:
                        short[move.key] += move.delta
                        asked.setdefault(move.key, channel)
                    else:
                        short_sets[(move.hold_id, move.set_edit.key)] = move.set_edit
                        for key, _ in move.set_edit.parts():
                            asked.setdefault(key, channel)
                    continue
                row, kind = taken[0], "hold"
                if move.set_edit is not None:
                    taken_for_sets[(move.hold_id, move.set_edit.key)][move.key] = move.delta
            await ledger.record(
                conn,
                self.outbox,
                row,
                kind=kind,
                held_delta=move.delta,
                hold_id=move.hold_id,
                reason=f"hold adjusted: {move.note}{why}",
            )
        if short or short_sets:
            can = await self._can_have(conn, asked)
            lines = [ShortLine(key.location_id, key.sku, wanted, can[key]) for key, wanted in sorted(short.items())]
            for (hold_id, _), edit in sorted(short_sets.items()):
                # In whole sets, as a hold's shortfall names a set: what its components allow.
                own = taken_for_sets[(hold_id, edit.key)]
                rows = {part: LineKey(edit.key.location_id, part) for part in edit.bundle.components}
                parts = {part: can.get(row, 0) + own.get(row, 0) for part, row in rows.items()}
                lines.append(
                    ShortLine(
                        edit.key.location_id, edit.key.sku, edit.delta, bundle_available(edit.bundle.components, parts)
                    )
                )
            raise Shortfall(sorted(lines, key=lambda line: (line.location_id, line.sku)))

    async def _can_have(self, conn: asyncpg.Connection, channels: dict[LineKey, str]) -> dict[LineKey, int]:
        """What each row could give its hold's channel (after this adjustment's own give-backs and the
        takes that fitted), by the one rule a read applies."""
        pools = {channel: await pool_repository.pools_of(conn, channel) for channel in sorted(set(channels.values()))}
        rows = {
            LineKey(row["location_id"], row["sku"]): row
            for row in await repository.level_rows(
                conn, skus=sorted({k.sku for k in channels}), location_ids=sorted({k.location_id for k in channels})
            )
        }
        can: dict[LineKey, int] = {}
        for key, channel in sorted(channels.items()):
            row = rows.get(key)
            if row is None:
                await self._require_known(conn, key)
            can[key] = (
                channel_available(
                    messages.counters(row),
                    at(pools[channel], key.location_id),
                    use_safety_stock=False,
                    backorder=bool(row["allow_backorder"]),
                )[0]
                if row is not None
                else 0
            )
        return can

    @staticmethod
    async def _require_known(conn: asyncpg.Connection, key: LineKey) -> None:
        """A line added at an unknown location or of an unknown SKU is NOT_FOUND, not short."""
        if not await repository.get_skus(conn, [key.sku]):
            raise NotFound("sku", key.sku, field="adjustments.lines.sku")
        if not await repository.get_locations(conn, [key.location_id]):
            raise NotFound("location", key.location_id, field="adjustments.lines.location_id")

    @staticmethod
    async def _rewrite_lines(
        conn: asyncpg.Connection,
        edits: list[LineEdit],
        before: dict[str, dict[LineKey, HoldLine]],
        growing_sets: set[str],
    ) -> None:
        """`growing_sets`: the holds whose sets grow (their components' lines are left)."""
        for hold_id, lines in before.items():
            mine = {edit.key: edit for edit in edits if edit.hold_id == hold_id}
            if not mine:
                continue
            left = {key for key in lines if key not in mine} | {k for k, e in mine.items() if e.quantity_after > 0}
            if not left and hold_id not in growing_sets:
                raise FailedPrecondition(
                    f"hold {hold_id} would have no lines left: release it instead",
                    [PreconditionViolation("HOLD_EMPTY", hold_id, "no lines left")],
                )
            for key, edit in sorted(mine.items()):
                await hold_edit_repository.set_line_quantity(conn, hold_id, key, edit.quantity_after)
            await hold_edit_repository.touch_hold(conn, hold_id)

    @staticmethod
    async def _rewrite_sets(conn: asyncpg.Connection, edits: list[SetEdit]) -> None:
        """More sets: the bundle line and its components' lines hold more. Fewer: they are released,
        as a release of sets leaves them (so a set given back is counted as given back)."""
        for edit in edits:
            if edit.delta > 0:
                await bundle_repository.grow_hold_bundle(conn, edit.hold_id, edit.bundle, edit.delta)
                for key, units in edit.parts():
                    await hold_edit_repository.add_line_units(conn, edit.hold_id, key, units)
            else:
                await bundle_repository.settle_hold_bundles(conn, edit.hold_id, [(edit.key, -edit.delta)], "released")
                await repository.settle_hold_lines(
                    conn, edit.hold_id, [(key, -units) for key, units in edit.parts()], "released"
                )
            await hold_edit_repository.touch_hold(conn, edit.hold_id)

    async def _finish(
        self, conn: asyncpg.Connection, hold_id: str, before: dict[LineKey, HoldLine], touched: list[LineKey]
    ) -> pb.Hold:
        found = await repository.get_hold(conn, hold_id)
        assert found is not None
        row, lines = found
        state = settled_state(lines.values())
        if state is not HoldState(row["state"]):
            await repository.update_hold(conn, hold_id, state=state)
            found = await repository.get_hold(conn, hold_id)
            assert found is not None
            row, lines = found
        hold = messages.hold(row, lines, (await bundle_repository.hold_bundles(conn, hold_id)).values())
        if touched:
            await self.outbox.add(
                conn,
                "hold.adjusted",
                pb.HoldChanged(
                    hold=hold,
                    lines=[messages.hold_line(lines[key]) for key in touched if key in lines],
                    previous_lines=[messages.hold_line(before[key]) for key in touched if key in before],
                ),
            )
        return hold
