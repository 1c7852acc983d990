"""Work arriving and leaving with other services' events: order allocations become pick tasks,
reservations become pickup-preparation tasks, and cancellations withdraw them.

Every use case runs in the consumer's transaction (one per event, with its inbox row), but for what
an edit after the pick records before inventory gives units back (see `TaskIntake._give_back`).
Beyond the inbox, two rules make the outcome independent of redelivery and order:

- a task's source (order allocation, reservation) is unique, so a second announcement of the
  same allocation adds nothing;
- a withdrawal leaves a tombstone for its order or reservation, so an announcement that arrives
  after it creates nothing. Both take the source's advisory lock, so two processes can not
  interleave the check and the write.

A reservation's task is made and changed with the lines its newest event says (by the reservation's
updated_at), as an order's are with the allocations its newest event says: both are kept in
newest_states.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import asyncpg

from omnistock_fulfilment.adapters import give_backs, hold_repository, repository
from omnistock_fulfilment.adapters.inventory_client import InventoryClient
from omnistock_fulfilment.adapters.messages import AllocationToFulfil, ReservationToPrepare
from omnistock_fulfilment.domain.promises import order_promise, preparation_promise, repromised
from omnistock_fulfilment.domain.task import (
    Action,
    Method,
    Task,
    TaskKind,
    TaskLine,
    TaskStatus,
    merge_lines,
    with_components,
)
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_platform.db import Database
from omnistock_platform.errors import InvalidArgument
from omnistock_platform.logging import get_logger
from omnistock_platform.loops import repeat
from omnistock_platform.owners import order_owner, reservation_owner
from omnistock_platform.validation import Validator

log = get_logger(__name__)


# A task whose pick is confirmed: its parcel is made up, nothing more joins it.
PICK_CONFIRMED = frozenset({TaskStatus.PICKED, TaskStatus.PACKED})


# How often give-back records past retention are purged (as answers to request ids are).
GIVE_BACK_PURGE_SECONDS = 3600.0


class TaskIntake:
    def __init__(
        self, changes: TaskChanges, inventory: InventoryClient | None = None, db: Database | None = None
    ) -> None:
        self.changes = changes
        self.inventory = inventory
        # For what must be committed before inventory is asked, apart from the event's transaction.
        self.db = db

    async def purge_give_backs(self, stop: asyncio.Event, retention: timedelta) -> None:
        """What an edit after the pick asked inventory to give back is kept as long as inventory keeps
        the request id it asked under (the idempotency retention), then dropped: a record whose event
        was never handled to the end (dead-lettered, overtaken by a newer edit) would stay forever."""
        assert self.db is not None
        db = self.db

        async def purge() -> None:
            purged = await give_backs.purge(db.pool, retention)
            if purged:
                log.info("intake.give_backs_purged", purged=purged)

        await repeat(stop, GIVE_BACK_PURGE_SECONDS, purge, failed="intake.give_back_purge_failed")

    async def _with_components(
        self, lines: tuple[TaskLine, ...], hold_id: str, location_id: str
    ) -> tuple[TaskLine, ...]:
        """Staff fetch a bundle as its components: those its hold took at this location."""
        if self.inventory is None or not hold_id:
            return lines
        return with_components(lines, await self.inventory.bundles(hold_id, location_id))

    async def allocation_made(self, conn: asyncpg.Connection, allocation: AllocationToFulfil) -> Task | None:
        """A pick task for an order allocation; None when there is nothing (more) to do."""
        check = Validator()
        check.identifier("order.order_id", allocation.order_id)
        check.identifier("allocation.allocation_id", allocation.allocation_id)
        check.identifier("allocation.location_id", allocation.location_id)
        check.identifier("allocation.hold_id", allocation.hold_id)
        lines = merge_lines(list(allocation.lines))
        check.check(bool(lines), "allocation.lines", "must have at least one unit")
        check.raise_if_invalid()
        if allocation.method is Method.CARRY_OUT:
            # A till sale holds and commits at once: the customer already has the goods.
            log.info("intake.carry_out_skipped", order_id=allocation.order_id, allocation_id=allocation.allocation_id)
            return None
        lines = await self._with_components(lines, allocation.hold_id, allocation.location_id)
        source = order_owner(allocation.order_id)
        await repository.lock_source(conn, source)
        if reason := await repository.buried(conn, source):
            log.info("intake.allocation_after_withdrawal", order_id=allocation.order_id, reason=reason)
            return None
        placed_at = allocation.order_placed_at or datetime.now(UTC)
        holds = await hold_repository.of_order(conn, allocation.order_id)  # work of an order on hold waits
        task = Task(
            task_id=str(uuid.uuid4()),
            kind=TaskKind.PICK,
            location_id=allocation.location_id,
            status=TaskStatus.OPEN,
            lines=lines,
            promise_at=order_promise(placed_at, allocation.method, allocation.promised_at),
            order_id=allocation.order_id,
            allocation_id=allocation.allocation_id,
            hold_id=allocation.hold_id,
            method=allocation.method,
            hold_reason=holds.reason_for(allocation.allocation_id) if holds is not None else "",
        )
        return await self._create(conn, task)

    async def allocation_edited(
        self,
        conn: asyncpg.Connection,
        cause: str,
        order_id: str,
        allocation_id: str,
        lines: tuple[tuple[str, int], ...] | None,
        held_beside: Mapping[str, int] | None = None,
    ) -> Task | None:
        """The order was edited: the allocation's task gets its new lines (units picked beyond a smaller
        quantity go back to the shelf), or is withdrawn when the edit emptied the allocation. Units added
        to a task whose pick is already confirmed cannot join its parcel: those the hold still has for
        it are given back to stock and announced as short (task.short_picked), so that orders routes
        them again, as for a short pick. `held_beside`: what the order's other allocations hold on the
        same hold at the same location (never given back here)."""
        self._require_id("order.order_id", order_id)
        await repository.lock_source(conn, order_owner(order_id))
        active = await repository.active_of_order(conn, order_id)
        task = next((t for t in active if t.allocation_id == allocation_id), None)
        if task is None:
            return None
        if lines is None:
            withdrawn = task.apply(Action.WITHDRAW, withdrawn_reason="order edited")
            return await self.changes.changed(conn, withdrawn, "task.withdrawn")
        before = {line.sku: line for line in task.lines}
        new_lines = refitted(task, merge_lines(list(lines)))
        if _quantities(new_lines) == _quantities(task.lines):
            return None  # the task asks for this already: the edit was heard before, or a newer one said so
        if any(line.sku not in before for line in new_lines):
            # A set the edit added is fetched as its components, as its hold took them here.
            new_lines = await self._with_components(new_lines, task.hold_id, task.location_id)
        added = {
            line.sku: line.quantity - (before[line.sku].quantity if line.sku in before else 0) for line in new_lines
        }
        added = {sku: units for sku, units in added.items() if units > 0}
        if task.status in PICK_CONFIRMED and self.inventory is not None and added:
            given_back = await self._give_back(conn, task, added, held_beside or {}, cause, order_id)
            await give_backs.drop(conn, task.task_id, cause)  # announced (or not to be) with this transaction
            # The parcel keeps what was picked; the units given back are asked for and missing (short).
            kept = {sku: (before[sku].quantity if sku in before else 0) + given_back.get(sku, 0) for sku in added}
            new_lines = tuple(
                dataclasses.replace(line, quantity=kept[line.sku]) if line.sku in kept else line for line in new_lines
            )
            new_lines = tuple(line for line in new_lines if line.quantity > 0)
            edited = dataclasses.replace(task, lines=new_lines)
            if given_back:
                log.info("intake.edit_after_pick", task_id=task.task_id, order_id=order_id, added=given_back)
                return await self.changes.changed(conn, edited, "task.short_picked", given_back)
            if _quantities(new_lines) == _quantities(task.lines):
                log.info("intake.edit_after_pick_overtaken", task_id=task.task_id, order_id=order_id, added=added)
                return None
        else:
            edited = dataclasses.replace(task, lines=new_lines)
        log.info("intake.task_lines_changed", task_id=task.task_id, order_id=order_id, allocation_id=allocation_id)
        return await self.changes.changed(conn, edited, "task.lines_changed")

    async def _give_back(
        self,
        conn: asyncpg.Connection,
        task: Task,
        added: Mapping[str, int],
        held_beside: Mapping[str, int],
        cause: str,
        order_id: str,
    ) -> dict[str, int]:
        """Give back, of the units an edit added to a task whose pick is confirmed, those its hold still
        has for it: beyond what the task had (picked) and what the order's other allocations there take.
        An edit handled late finds fewer (a later edit or a cancellation gave them back already) or
        none (the hold ended). Returns the units given back.

        What is asked for is recorded first, in a transaction of its own: should the process die once
        inventory gave them back, the event handled again finds the hold without them, and only the
        record says they were this edit's to announce short."""
        assert self.inventory is not None and self.db is not None
        asked = await give_backs.recorded(conn, task.task_id, cause)
        # The hold is read before inventory's record of the first try: that try's release may still be
        # on its way (its caller gave up waiting), and one landing in between is then in the record.
        # Read the other way round, it could land after the record was read and before the hold was,
        # and the units it gave back would be announced by neither try.
        open_here = await self.inventory.open_at(task.hold_id, task.location_id)
        if asked and await self.inventory.released_under(_give_back_request_id(task, cause, asked)):
            log.info("intake.edit_after_pick_resumed", task_id=task.task_id, order_id=order_id, given=asked)
            return asked
        # Not given back before (or never asked): as the hold is now.
        had = {line.sku: line.quantity for line in task.lines}
        given = {
            sku: min(units, open_here.get(sku, 0) - had.get(sku, 0) - held_beside.get(sku, 0))
            for sku, units in added.items()
        }
        given = {sku: units for sku, units in sorted(given.items()) if units > 0}
        if given:
            async with self.db.on_its_own() as own:
                await give_backs.record(own, task.task_id, cause, given)
            await self.inventory.release(
                _give_back_request_id(task, cause, given),
                task.hold_id,
                task.location_id,
                given,
                reason=f"order {order_id} edited after task {task.task_id} was picked",
            )
        return given

    async def order_cancelled(
        self, conn: asyncpg.Connection, order_id: str, reason: str, left: frozenset[str] = frozenset()
    ) -> list[Task]:
        """The order's unfinished work is withdrawn, but for the allocations the order says `left` (shipped
        or handed over): inventory sold those, and their task's step that a crash cut short is still to
        be finished here (by a retry, or the service itself)."""
        return await self._withdraw(
            conn, order_owner(order_id), reason or "order cancelled", order_id=order_id, left=left
        )

    async def reservation_made(
        self, conn: asyncpg.Connection, reservation: ReservationToPrepare, *, ready: bool = False
    ) -> Task | None:
        """A pickup-preparation task; `ready` when the units came to the store on a transfer and were
        held for the reservation as they were received (staff have them in hand: nothing to fetch)."""
        check = Validator()
        check.identifier("reservation.reservation_id", reservation.reservation_id)
        check.identifier("reservation.store_id", reservation.store_id)
        check.text("reservation.pickup_code", reservation.pickup_code, required=True)
        check.check(bool(merge_lines(list(reservation.lines))), "reservation.lines", "must have at least one unit")
        check.raise_if_invalid()
        source = reservation_owner(reservation.reservation_id)
        await repository.lock_source(conn, source)
        if reason := await repository.buried(conn, source):
            log.info("intake.reservation_after_close", reservation_id=reservation.reservation_id, reason=reason)
            return None
        lines = merge_lines(list(await self._newest_lines(conn, reservation)))
        lines = await self._with_components(lines, reservation.hold_id, reservation.store_id)
        created_at = reservation.created_at or datetime.now(UTC)
        task = Task(
            task_id=str(uuid.uuid4()),
            kind=TaskKind.PICKUP_PREPARATION,
            location_id=reservation.store_id,
            status=TaskStatus.READY_FOR_PICKUP if ready else TaskStatus.OPEN,
            lines=lines,
            promise_at=preparation_promise(created_at, reservation.expires_at, reservation.promised_at),
            reservation_id=reservation.reservation_id,
            hold_id=reservation.hold_id,
            pickup_code=reservation.pickup_code,
            method=Method.PICKUP,
        )
        return await self._create(conn, task)

    async def order_repromised(
        self, conn: asyncpg.Connection, order_id: str, promised_at: datetime | None
    ) -> list[Task]:
        """The order's promise moved (a re-route, an edit, a hold released later than it was placed):
        its unfinished tasks are due when the customer is now promised the goods (task.repromised)."""
        self._require_id("order.order_id", order_id)
        await repository.lock_source(conn, order_owner(order_id))
        return await self._repromise(conn, await repository.active_of_order(conn, order_id), promised_at)

    async def reservation_repromised(self, conn: asyncpg.Connection, reservation: ReservationToPrepare) -> list[Task]:
        """The reservation's promise moved (units on their way arrived later than promised): its
        preparation is due when the customer is now told the items are ready, never after it expires."""
        self._require_id("reservation.reservation_id", reservation.reservation_id)
        await repository.lock_source(conn, reservation_owner(reservation.reservation_id))
        tasks = await repository.active_of_reservation(conn, reservation.reservation_id)
        if reservation.promised_at is None:
            return []
        created_at = reservation.created_at or reservation.promised_at
        due = preparation_promise(created_at, reservation.expires_at, reservation.promised_at)
        return await self._repromise(conn, tasks, due)

    async def _repromise(self, conn: asyncpg.Connection, tasks: list[Task], due: datetime | None) -> list[Task]:
        if due is None:
            return []  # no date is promised now: the task keeps the one it had
        moved = []
        for task in tasks:
            now_due = repromised(task.method, task.promise_at, due) if task.kind is TaskKind.PICK else due
            if task.promise_at == now_due:
                continue
            log.info(
                "intake.task_repromised", task_id=task.task_id, was=task.promise_at.isoformat(), now=now_due.isoformat()
            )
            changed = dataclasses.replace(task, promise_at=now_due)
            moved.append(await self.changes.changed(conn, changed, "task.repromised"))
        return moved

    async def reservation_shortened(self, conn: asyncpg.Connection, reservation: ReservationToPrepare) -> list[Task]:
        """The reservation keeps fewer units than it was made with (what was promised on its way did not
        arrive): its open task asks for what it still holds (a set keeps its components per set; units
        prepared beyond a smaller quantity go back to the shelf). A reservation shortened to nothing is
        cancelled, which withdraws the task; one still waiting for its transfer has no task yet."""
        self._require_id("reservation.reservation_id", reservation.reservation_id)
        await repository.lock_source(conn, reservation_owner(reservation.reservation_id))
        kept = merge_lines(list(await self._newest_lines(conn, reservation)))
        changed = []
        for task in await repository.active_of_reservation(conn, reservation.reservation_id):
            lines = refitted(task, kept)
            if not lines or lines == task.lines:
                continue
            log.info("intake.task_lines_changed", task_id=task.task_id, reservation_id=reservation.reservation_id)
            shortened = dataclasses.replace(task, lines=lines)
            changed.append(await self.changes.changed(conn, shortened, "task.lines_changed"))
        return changed

    @staticmethod
    async def _newest_lines(conn: asyncpg.Connection, reservation: ReservationToPrepare) -> tuple[tuple[str, int], ...]:
        """The reservation's lines as its newest event says: one made and then shortened can be heard in
        the other order (a retry waits while later events go ahead). As the event says where it
        carries no version."""
        if reservation.version is None:
            return reservation.lines
        return await repository.newest_reservation_lines(
            conn, reservation.reservation_id, reservation.version, reservation.lines
        )

    async def reservation_closed(self, conn: asyncpg.Connection, reservation_id: str, reason: str) -> list[Task]:
        """Cancelled, expired or converted into an order (whose own pick task comes through orders)."""
        return await self._withdraw(conn, reservation_owner(reservation_id), reason, reservation_id=reservation_id)

    async def reservation_collected(self, conn: asyncpg.Connection, reservation_id: str) -> list[Task]:
        """Collected at a till without the hand-over here: the preparation is done all the same."""
        self._require_id("reservation.reservation_id", reservation_id)
        source = reservation_owner(reservation_id)
        await repository.lock_source(conn, source)
        await repository.bury(conn, source, "collected")
        done = []
        for task in await repository.active_of_reservation(conn, reservation_id):
            done.append(await self.changes.changed(conn, task.apply(Action.HAND_OVER), "task.handed_over"))
        return done

    async def _create(self, conn: asyncpg.Connection, task: Task) -> Task | None:
        created = await self.changes.created(conn, task)
        if created is None:
            log.info("intake.duplicate_announcement", source=task.source_key)
            return None
        log.info("intake.task_created", task_id=created.task_id, kind=created.kind.value, location=created.location_id)
        return created

    async def _withdraw(
        self,
        conn: asyncpg.Connection,
        source: str,
        reason: str,
        *,
        order_id: str = "",
        reservation_id: str = "",
        left: frozenset[str] = frozenset(),
    ) -> list[Task]:
        self._require_id("order.order_id" if order_id else "reservation.reservation_id", order_id or reservation_id)
        await repository.lock_source(conn, source)
        await repository.bury(conn, source, reason)
        active = (
            await repository.active_of_order(conn, order_id)
            if order_id
            else await repository.active_of_reservation(conn, reservation_id)
        )
        withdrawn = []
        for task in active:
            if task.allocation_id and task.allocation_id in left:
                log.info("intake.left_kept", task_id=task.task_id, order_id=order_id)
                continue
            changed = task.apply(Action.WITHDRAW, withdrawn_reason=reason)
            withdrawn.append(await self.changes.changed(conn, changed, "task.withdrawn"))
        return withdrawn

    @staticmethod
    def _require_id(field: str, value: str) -> None:
        if not value:
            raise InvalidArgument.of(field, "is required")


def _give_back_request_id(task: Task, cause: str, given: Mapping[str, int]) -> str:
    """Keyed by what is given back: an edit handled again that finds less open asks for that."""
    amounts = hashlib.sha256(repr(sorted(given.items())).encode()).hexdigest()[:16]
    return f"task:{task.task_id}:edit-release:{cause}:{amounts}"


def _quantities(lines: Iterable[TaskLine]) -> dict[str, int]:
    return {line.sku: line.quantity for line in lines}


def refitted(task: Task, lines: Iterable[TaskLine]) -> tuple[TaskLine, ...]:
    """The task's lines as they now are to be: a SKU it had keeps what was picked of it, up to its new
    quantity (the rest goes back to the shelf), and the components a set is fetched as."""
    before = {line.sku: line for line in task.lines}
    return tuple(
        dataclasses.replace(
            line, picked=min(before[line.sku].picked, line.quantity), components=before[line.sku].components
        )
        if line.sku in before
        else line
        for line in lines
    )
