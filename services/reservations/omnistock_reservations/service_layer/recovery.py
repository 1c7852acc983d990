"""The recovery loop: no reservation stays PENDING, and none looks active without its hold.

- A PENDING reservation older than the grace period lost its creator (a crash, a timeout). Its
  Hold is asked again with the same derived request id: inventory answers with the hold already
  taken (→ ACTIVE) or takes it now, or refuses for lack of stock (→ FAILED). Either way no hold
  is left without an active reservation, and no active reservation without its hold.
- A reservation that still holds stock is compared with its hold (GetHold) when its expiry has
  passed, and every so often otherwise, and follows what inventory reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from omnistock_platform.errors import NotFound, OmnistockError
from omnistock_platform.logging import get_logger, request_id_var
from omnistock_platform.loops import repeat
from omnistock_reservations.adapters import repository
from omnistock_reservations.domain.reservation import Reservation
from omnistock_reservations.service_layer.creating import Creating
from omnistock_reservations.service_layer.syncing import HoldSync
from omnistock_reservations.service_layer.unit import Deps

log = get_logger(__name__)

# Each active reservation is compared with inventory at least this often, a batch at a time.
VERIFY_EVERY = timedelta(minutes=10)
BATCH = 100
PARALLEL = 8


@dataclass
class Pass:
    settled: int = 0
    verified: int = 0
    failed: int = 0


Step = Callable[[Reservation, Pass], Awaitable[None]]


class Recovery:
    def __init__(
        self,
        deps: Deps,
        creating: Creating,
        sync: HoldSync,
        *,
        verify_every: timedelta = VERIFY_EVERY,
        batch: int = BATCH,
    ) -> None:
        self.deps = deps
        self.creating = creating
        self.sync = sync
        self.verify_every = verify_every
        self.batch = batch
        self._slots = asyncio.Semaphore(PARALLEL)

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.deps.settings.reservation_recovery_interval.total_seconds()

        async def one_round() -> None:
            done = await self.run_once()
            if done.settled or done.failed:
                log.info("reservations.recovered", settled=done.settled, verified=done.verified, failed=done.failed)

        await repeat(stop, interval, one_round, failed="reservations.recovery_failed")

    async def run_once(self) -> Pass:
        grace = self.deps.settings.reservation_pending_grace
        done = Pass()
        pending = await repository.stale_pending(self.deps.db.pool, grace, self.batch)
        await asyncio.gather(*(self._guarded(done, self._settle, item) for item in pending))
        holding = await repository.holding_to_verify(
            self.deps.db.pool, overdue_after=grace, verify_every=self.verify_every, limit=self.batch
        )
        await asyncio.gather(*(self._guarded(done, self._verify, item) for item in holding))
        return done

    async def _settle(self, reservation: Reservation, done: Pass) -> None:
        settled = await self.creating.take_hold(reservation, confirm_state=True)
        log.info("reservations.pending_settled", reservation_id=reservation.reservation_id, status=settled.status)
        done.settled += 1

    async def _verify(self, reservation: Reservation, done: Pass) -> None:
        try:
            await self.sync.refresh(reservation)
        except NotFound:
            # Inventory has no such hold: nothing to follow; do not ask again every round.
            log.error(
                "reservations.hold_missing", reservation_id=reservation.reservation_id, hold_id=reservation.hold_id
            )
            await repository.mark_verified(self.deps.db.pool, [reservation.reservation_id])
        done.verified += 1

    async def _guarded(self, done: Pass, step: Step, reservation: Reservation) -> None:
        token = request_id_var.set(reservation.request_id)
        try:
            async with self._slots:
                await step(reservation, done)
        except OmnistockError as error:
            done.failed += 1
            log.warning(
                "reservations.recovery_step_failed", reservation_id=reservation.reservation_id, error=error.message
            )
        finally:
            request_id_var.reset(token)
