"""Inventory is the authority on holds: a reservation follows what became of its hold.

Two ways in: the `inventory.hold.expired` event (the normal path), and reconciliation, which
asks inventory (GetHold) about reservations that still look active — after a crash between an
inventory call and the local write, or when an event went to the dead-letter subject.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from omnistock_platform.logging import get_logger
from omnistock_platform.owners import order_of, reservation_of, reservation_owner
from omnistock_reservations.adapters import repository
from omnistock_reservations.adapters.inventory_client import HoldView
from omnistock_reservations.domain.reservation import Reservation
from omnistock_reservations.domain.status import Status
from omnistock_reservations.service_layer.unit import Deps, now, record

log = get_logger(__name__)

# Expiry times travel through protobuf and two databases; closer than this they are the same.
_SAME_INSTANT = timedelta(milliseconds=1)


class HoldSync:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def hold_expired(self, conn: asyncpg.Connection, hold_id: str, owner: str) -> Reservation | None:
        """Inventory expired a hold: its reservation expires too (once; closed ones stay as they are)."""
        reservation_id = reservation_of(owner)
        if reservation_id is None:
            return None  # an order's hold, or someone else's
        found = await repository.get(conn, reservation_id, lock=True)
        if found is None:
            log.warning("reservations.expired_hold_of_unknown_reservation", owner=owner, hold_id=hold_id)
            return None
        # A pending one may not know its hold id yet: the owner names it, and a reservation has one hold.
        waiting = found.status is Status.AWAITING_TRANSFER
        if found.status is Status.PENDING or ((found.holding or waiting) and found.hold_id == hold_id):
            found.expire(now(), hold_id)
            return await record(conn, self.deps.outbox, found)
        return found

    async def apply(self, conn: asyncpg.Connection, reservation_id: str, hold: HoldView) -> Reservation | None:
        """Bring a holding reservation in line with its hold as inventory reports it."""
        found = await repository.get(conn, reservation_id, lock=True)
        if found is None or not found.holding or found.hold_id != hold.hold_id:
            return found
        at = now()
        new_order = order_of(hold.owner)
        if hold.owner != reservation_owner(reservation_id) and new_order:
            found.convert(new_order, at)  # transferred to an order; our own write of it was lost
        elif hold.state == "expired":
            found.expire(at)
        elif hold.state == "released":
            found.cancel("hold released in inventory", at)
        elif hold.state == "committed":
            found.collect(at)
        elif found.expires_at is None or hold.expires_at - found.expires_at > _SAME_INSTANT:
            # Only ever later: inventory extends first and the reservation writes it after, so a hold
            # that runs out sooner than the reservation says was read before an extension since.
            found.extend(hold.expires_at)
        if found.events:
            log.info(
                "reservations.reconciled", reservation_id=reservation_id, hold_state=hold.state, status=found.status
            )
            found = await record(conn, self.deps.outbox, found)
        await repository.mark_verified(conn, [reservation_id])
        return found

    async def refresh(self, reservation: Reservation) -> Reservation:
        """Ask inventory about the reservation's hold and follow it."""
        hold = await self.deps.inventory.get_hold(reservation.hold_id)
        async with self.deps.db.transaction() as conn:
            return await self.apply(conn, reservation.reservation_id, hold) or reservation
