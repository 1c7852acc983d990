"""Writing taken holds in one round trip, and coalescing concurrent holds on one hot row.

Holds on one stock row queue behind its row lock: each transaction keeps the lock from its
update to its commit, so a hot row passes one hold per few round trips however many processes
serve it. The batcher lets the holds that arrive at a process while a transaction on their row
runs wait for it, and then takes all of them in one transaction: one claim of their request
ids, one conditional update of the row by their total (all fit, or none is taken), one write of
every hold, movement, event and answer. Every invariant holds as if they had been taken one
after another: the version moves once per hold, each hold has its own ledger movement and
stock.changed event with the counters after it, and each answer is saved under its request id.
When the total does not fit, or anything else goes wrong, each hold of the batch is simply
taken on its own, as without the batcher, so shortfalls are answered exactly as before.

Holds on different rows share transactions too (group commit): a process runs at most
`OMNISTOCK_HOLD_TRANSACTIONS` (1) hold transactions at once; the holds that arrive meanwhile
wait, and go together when one ends. One claim of their request ids, their rows locked in one
statement in lock order and checked with the domain's rule (a hold whose row is short is taken
out and answered alone, the others go again), one update of them all, one write of every hold:
one BEGIN and one COMMIT (one WAL flush, one NOTIFY) for all. A hold that finds no transaction
running goes alone at once, so a quiet system answers as fast as before; a busy one spends a
fraction of the CPU per hold. Measured with `make bench` on two cores: one transaction at a time
held 1,607-1,632/s against 869-872/s for ten, with p99 15-19 ms against 73-81 ms at 600/s.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages, repository
from omnistock_inventory.domain.holds import HoldLine, HoldState, LineKey
from omnistock_inventory.domain.stock import Channel, available, may_use_safety_stock
from omnistock_inventory.service_layer.stock import channel_of
from omnistock_platform import telemetry
from omnistock_platform.auth import current_principal
from omnistock_platform.db import Database
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore, current_caller
from omnistock_platform.logging import get_logger, request_id_var

log = get_logger(__name__)

# Lost races the database detects; the whole transaction is simply run again.
RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
ATTEMPTS = 4
MAX_BATCH = 256
# Holds on different rows in one transaction: bounded, as its row locks are held until it commits.
MAX_SPREAD_BATCH = 32
HOLD_KIND = messages.MOVEMENT_KINDS["hold"]

# A hold taken in its own transaction (with its retries and its shortfall answer): what the batcher
# falls back to, and what a hold that finds nothing to share runs at once.
HoldAlone = Callable[[pb.HoldRequest, list[tuple[LineKey, int]], timedelta], Coroutine[Any, Any, pb.HoldResponse]]


@dataclass
class Taken:
    """A hold whose units are taken: everything needed to write it and answer it."""

    request: pb.HoldRequest
    hold_id: str
    channel: Channel
    expires_at: datetime
    created_at: datetime
    rows: list[tuple[Mapping[str, Any], int]]  # each row as this hold left it, and the quantity taken
    actor: str
    request_id: str
    # The trace of its caller's request, for its events; None: the current one.
    traceparent: str | None = None
    _response: pb.HoldResponse | None = field(default=None, repr=False)

    @property
    def response(self) -> pb.HoldResponse:
        if self._response is None:
            lines = {
                LineKey(row["location_id"], row["sku"]): HoldLine(LineKey(row["location_id"], row["sku"]), quantity)
                for row, quantity in self.rows
            }
            record = {
                "hold_id": self.hold_id,
                "owner": self.request.owner,
                "channel": self.channel.value,
                "state": HoldState.ACTIVE.value,
                "expires_at": self.expires_at,
                "created_at": self.created_at,
            }
            self._response = pb.HoldResponse(hold=messages.hold(record, lines))  # type: ignore[arg-type]
        return self._response


async def write_taken(conn: asyncpg.Connection, outbox: Outbox, holds: Sequence[Taken]) -> None:
    """The holds, their lines, one ledger movement and one stock.changed per row, one
    hold.created each, and each answer for retries of its request id: one statement."""
    movements = []
    events = []
    for hold in holds:
        for row, quantity in hold.rows:
            movements.append(
                (
                    row["location_id"],
                    row["sku"],
                    "hold",
                    "",
                    0,
                    quantity,
                    row["on_hand"],
                    row["held"],
                    row["safety_stock"],
                    row["version"],
                    hold.hold_id,
                    hold.actor,
                    hold.request_id,
                    "",
                )
            )
            level = messages.stock_level(row, backorder=row["allow_backorder"])
            change = pb.StockChanged(level=level, cause=HOLD_KIND, hold_id=hold.hold_id)
            events.append(outbox.prepare("stock.changed", change, hold.request_id, hold.traceparent))
        message = hold.response.hold
        events.append(
            outbox.prepare(
                "hold.created", pb.HoldChanged(hold=message, lines=message.lines), hold.request_id, hold.traceparent
            )
        )
    await repository.write_taken(
        conn,
        holds=[(h.hold_id, h.request.owner, h.channel.value, h.expires_at) for h in holds],
        lines=[(h.hold_id, row["location_id"], row["sku"], quantity) for h in holds for row, quantity in h.rows],
        movements=movements,
        events=events,
        responses=[(h.request.request_id, h.response.SerializeToString(deterministic=True)) for h in holds],
        notify=outbox.channel,
    )


async def take_locked(
    conn: asyncpg.Connection, lines: Sequence[tuple[LineKey, int, bool]], *, backorder: bool = True
) -> tuple[dict[LineKey, Mapping[str, Any]], list[LineKey]]:
    """Take units on several rows: every row locked in one statement in lock order (as every
    transaction that locks several rows does), checked with the domain's rule, then changed in one
    statement. `lines` are (row, quantity, whether safety stock may be used); without `backorder`
    (a sale now) units on their way do not count. Returns each row as the take left it (with its
    SKU's backorder flag), or, when any row is short, nothing changed and the short rows."""
    locked = {
        LineKey(row["location_id"], row["sku"]): row
        for row in await repository.lock_rows_for_hold(conn, [key for key, _, _ in lines])
    }
    short = [
        key
        for key, quantity, use_safety_stock in lines
        if key not in locked
        or quantity
        > available(
            messages.counters(locked[key]),
            use_safety_stock=use_safety_stock,
            backorder=locked[key]["allow_backorder"] and backorder,
        )
    ]
    if short:
        return {}, short
    changed = await repository.add_held(conn, [(key, quantity) for key, quantity, _ in lines])
    return {
        LineKey(row["location_id"], row["sku"]): {
            **row,
            "allow_backorder": locked[LineKey(row["location_id"], row["sku"])]["allow_backorder"],
        }
        for row in changed
    }, []


@dataclass
class _Waiting:
    request: pb.HoldRequest
    quantity: int
    ttl: timedelta
    future: asyncio.Future[pb.HoldResponse]
    context: contextvars.Context  # the caller's principal and request id
    caller: str  # who owns the request id's answer (idempotency.caller_key)

    def settle(self, response: pb.HoldResponse | None = None, error: BaseException | None = None) -> None:
        if self.future.done():  # the caller went away (deadline, cancel); the hold stands for its retry
            return
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(response)  # type: ignore[arg-type]


@dataclass
class _Spread:
    """A hold waiting for a transaction shared with holds on other rows."""

    slot: tuple[LineKey, bool]
    waiting: _Waiting


class _NoFit(Exception):
    pass


class _ShortRow(Exception):
    def __init__(self, spread: _Spread) -> None:
        self.spread = spread


class HoldBatcher:
    """Single-line holds on the same row, in this process, share transactions."""

    def __init__(
        self,
        alone: HoldAlone,
        db: Database,
        outbox: Outbox,
        idempotency: IdempotencyStore,
        *,
        max_in_flight: int,
    ) -> None:
        self.hold_alone = alone
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        # Rows with a transaction of ours in flight -> the holds waiting for it to end.
        self._waiting: dict[tuple[LineKey, bool], list[_Waiting]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Hold transactions on free rows in flight, and the holds waiting to share the next one.
        self.max_in_flight = max(1, max_in_flight)
        self._in_flight = 0
        self._spread: list[_Spread] = []

    async def hold(self, request: pb.HoldRequest, line: tuple[LineKey, int], ttl: timedelta) -> pb.HoldResponse:
        key, quantity = line
        channel = channel_of(request.channel)
        slot = (key, may_use_safety_stock(channel, request.selling_location_id, key.location_id))
        queue = self._waiting.get(slot)
        future: asyncio.Future[pb.HoldResponse] = asyncio.get_running_loop().create_future()
        waiting = _Waiting(request, quantity, ttl, future, contextvars.copy_context(), current_caller())
        if queue is not None:
            queue.append(waiting)
            return await future
        # Nobody here is taking from this row: whoever comes for it meanwhile waits for us.
        self._waiting[slot] = []
        try:
            if self._in_flight < self.max_in_flight:
                self._in_flight += 1
                try:
                    return await self.hold_alone(request, [line], ttl)
                finally:
                    self._in_flight -= 1
                    self._start_spread()
            self._spread.append(_Spread(slot, waiting))
            return await future
        finally:
            self._next(slot)

    def _start_spread(self) -> None:
        """A hold transaction ended: the holds on free rows that waited go together."""
        while self._spread and self._in_flight < self.max_in_flight:
            batch = [spread for spread in self._spread[:MAX_SPREAD_BATCH] if not spread.waiting.future.done()]
            del self._spread[:MAX_SPREAD_BATCH]
            if not batch:
                continue
            self._in_flight += 1
            task = asyncio.create_task(self._run_spread(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_spread(self, batch: list[_Spread]) -> None:
        try:
            alone = await self._take_spread(batch) if len(batch) > 1 else batch
            if alone:
                await asyncio.gather(*(self._alone(spread.slot[0], spread.waiting) for spread in alone))
        finally:
            self._in_flight -= 1
            self._start_spread()

    async def _take_spread(self, batch: list[_Spread]) -> list[_Spread]:
        """Take holds on different rows in one transaction; returns those that must be taken alone."""
        seen: set[str] = set()
        rows: set[LineKey] = set()
        group: list[_Spread] = []
        alone: list[_Spread] = []
        for spread in batch:
            # A request id twice: the second waits for the first's answer. A row twice (the same
            # row with and without safety stock): the second goes alone, so each row changes once.
            request_id, key = spread.waiting.request.request_id, spread.slot[0]
            (alone if request_id in seen or key in rows else group).append(spread)
            seen.add(request_id)
            rows.add(key)
        attempts = 0
        while group:
            try:
                taken, retries = await self._spread_transaction(group)
            except _ShortRow as short:  # rolled back; that hold answers alone (a shortfall), the rest go again
                group.remove(short.spread)
                alone.append(short.spread)
                continue
            except RETRYABLE:
                attempts += 1
                if attempts == ATTEMPTS:
                    return alone + group
                await asyncio.sleep(0.005 * attempts)
                continue
            except Exception as error:  # whatever it was, each hold on its own answers for itself
                log.warning("holds.spread_batch_failed", size=len(group), error=repr(error))
                return alone + group
            for spread, hold in taken:
                spread.waiting.settle(hold.response)
            return alone + retries
        return alone

    async def _spread_transaction(self, group: list[_Spread]) -> tuple[list[tuple[_Spread, Taken]], list[_Spread]]:
        async with self.db.transaction() as conn:
            claimed = await self.idempotency.claim_many(
                conn,
                "Hold",
                [
                    (spread.waiting.request.request_id, spread.waiting.request, spread.waiting.caller)
                    for spread in group
                ],
            )
            # Request ids claimed before (retries) get their stored answer on their own.
            retries = [spread for spread in group if spread.waiting.request.request_id not in claimed]
            mine = [spread for spread in group if spread.waiting.request.request_id in claimed]
            if not mine:
                return [], retries
            lines = [(spread.slot[0], spread.waiting.quantity, spread.slot[1]) for spread in mine]
            changed, short = await take_locked(conn, lines)
            if short:
                raise _ShortRow(next(spread for spread in mine if spread.slot[0] in short))
            taken = [
                (spread, self._taken(spread.waiting, changed[spread.slot[0]], spread.waiting.quantity))
                for spread in mine
            ]
            await write_taken(conn, self.outbox, [hold for _, hold in taken])
        return taken, retries

    @staticmethod
    def _taken(waiting: _Waiting, row: Mapping[str, Any], quantity: int) -> Taken:
        """The hold of a waiting caller, as its row stood right after it, under its caller's name."""
        return Taken(
            request=waiting.request,
            hold_id=_new_id(),
            channel=channel_of(waiting.request.channel),
            expires_at=row["now"] + waiting.ttl,
            created_at=row["now"],
            rows=[(row, quantity)],
            actor=waiting.context.run(current_principal).subject,
            request_id=waiting.context.run(request_id_var.get),
            traceparent=waiting.context.run(telemetry.traceparent),
        )

    def _next(self, slot: tuple[LineKey, bool]) -> None:
        """The row's transaction ended: start one for everyone who waited, or free the row."""
        queue = self._waiting.pop(slot, [])
        batch = [waiting for waiting in queue if not waiting.future.done()]
        if not batch:
            return
        self._waiting[slot] = batch[MAX_BATCH:]
        task = asyncio.create_task(self._run(slot, batch[:MAX_BATCH]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, slot: tuple[LineKey, bool], batch: list[_Waiting]) -> None:
        try:
            alone = await self._take_together(slot, batch) if len(batch) > 1 else batch
            if alone:
                await asyncio.gather(*(self._alone(slot[0], waiting) for waiting in alone))
        finally:
            self._next(slot)

    async def _alone(self, key: LineKey, waiting: _Waiting) -> None:
        """A hold taken on its own, in its caller's context (who asked, under which request id)."""
        coroutine = self.hold_alone(waiting.request, [(key, waiting.quantity)], waiting.ttl)
        task = asyncio.get_running_loop().create_task(coroutine, context=waiting.context)
        try:
            waiting.settle(await task)
        except Exception as error:
            waiting.settle(error=error)

    async def _take_together(self, slot: tuple[LineKey, bool], batch: list[_Waiting]) -> list[_Waiting]:
        """Take the batch in one transaction; returns the holds that must be taken alone."""
        seen: set[str] = set()
        group: list[_Waiting] = []
        alone: list[_Waiting] = []
        for waiting in batch:  # a request id twice in one batch: the second waits for the first's answer
            (alone if waiting.request.request_id in seen else group).append(waiting)
            seen.add(waiting.request.request_id)
        for attempt in range(ATTEMPTS):
            try:
                taken, retries = await self._transaction(slot, group)
            except RETRYABLE:
                await asyncio.sleep(0.005 * (attempt + 1))
                continue
            except _NoFit:
                return batch
            except Exception as error:  # whatever it was, each hold on its own answers for itself
                log.warning("holds.batch_failed", size=len(group), error=repr(error))
                return batch
            for waiting, hold in taken:
                waiting.settle(hold.response)
            return alone + retries
        return batch

    async def _transaction(
        self, slot: tuple[LineKey, bool], group: list[_Waiting]
    ) -> tuple[list[tuple[_Waiting, Taken]], list[_Waiting]]:
        key, use_safety_stock = slot
        async with self.db.transaction() as conn:
            claimed = await self.idempotency.claim_many(
                conn, "Hold", [(waiting.request.request_id, waiting.request, waiting.caller) for waiting in group]
            )
            # Request ids claimed before (retries) get their stored answer on their own.
            retries = [waiting for waiting in group if waiting.request.request_id not in claimed]
            mine = [waiting for waiting in group if waiting.request.request_id in claimed]
            if not mine:
                return [], retries
            total = sum(waiting.quantity for waiting in mine)
            row = await repository.take_units_together(conn, key, total, len(mine), use_safety_stock=use_safety_stock)
            if row is None:
                raise _NoFit
            # The counters after each hold, as if they had been taken one after another.
            held = row["held"] - total
            version = row["version"] - len(mine)
            taken = []
            for waiting in mine:
                held += waiting.quantity
                version += 1
                hold = self._taken(waiting, {**row, "held": held, "version": version}, waiting.quantity)
                taken.append((waiting, hold))
            await write_taken(conn, self.outbox, [hold for _, hold in taken])
        return taken, retries


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())
