"""Ship to store: what became of the transfer bringing a reservation's units, from inventory's events.

- `inventory.transfer.received`: inventory held what arrived at the store for the reservation in the
  receipt's transaction; the reservation takes that hold and is ready for pickup. A set came as its
  components: the arrival hold's whole sets are what arrived of it. Fewer units than it
  waited for: it keeps what arrived and `reservation.shorted` says what did not (nothing arrived: it is
  cancelled). A reservation closed meanwhile (cancelled while the units were on the road) gives the
  arrival hold back, so the units are on sale at the store.
- A transfer that arrives after the promised pickup time moves the promise: counted from the
  receipt, and `reservation.repromised` tells the customer the new one.
- A plain transfer (no reservation's own) received at a store after a reservation there was promised
  from units on their way (a pool's units in transit): the reservation's promise is computed again
  from its hold as it is now, and where that is later `reservation.repromised` tells the customer.
- `inventory.transfer.overdue`: a shipped transfer passed its expected arrival, not received. It is
  taken as arriving now: the reservation waiting for it (ship to store), and a store's reservations
  promised from units on their way, are promised again as above, from now.
- `inventory.transfer.cancelled`: a transfer cancelled by staff before it shipped released the units at
  the origin; the reservation waiting for it is cancelled.
- `inventory.hold.shorted`: units the reservation's hold at the store promised in transit (a pool's
  `allow_transfer_in_transit`) did not arrive and were taken off the hold: the reservation keeps the
  rest and `reservation.shorted` says what went (nothing left: it is cancelled).

Each runs in the consumer's transaction with its inbox row, under the reservation's row lock, and only
acts from the status it expects: a redelivered event changes nothing.
"""

from __future__ import annotations

import asyncpg

from omnistock_platform.errors import OmnistockError
from omnistock_platform.logging import get_logger
from omnistock_platform.owners import reservation_of, reservation_owner
from omnistock_reservations.adapters import repository
from omnistock_reservations.adapters.inventory_client import TransferView
from omnistock_reservations.domain.holds import derived_request_id
from omnistock_reservations.domain.reservation import Reservation
from omnistock_reservations.domain.status import Status
from omnistock_reservations.service_layer import promises
from omnistock_reservations.service_layer.unit import Deps, now, record

log = get_logger(__name__)


class Arrivals:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _waiting(self, conn: asyncpg.Connection, owner: str, transfer: TransferView) -> Reservation | None:
        reservation_id = reservation_of(owner)
        if reservation_id is None:
            return None  # a plain transfer, or someone else's
        found = await repository.get(conn, reservation_id, lock=True)
        if found is None:
            log.warning("reservations.transfer_of_unknown_reservation", owner=owner, transfer_id=transfer.transfer_id)
        return found

    async def received(self, conn: asyncpg.Connection, owner: str, transfer: TransferView) -> Reservation | None:
        found = await self._waiting(conn, owner, transfer)
        if found is None:
            return None
        waiting = found.status is Status.AWAITING_TRANSFER and found.transfer_id == transfer.transfer_id
        if not waiting:
            if transfer.arrival_hold_id and found.hold_id != transfer.arrival_hold_id:
                # Closed while the units were on their way: they go on sale at the store.
                await self.deps.inventory.release(
                    derived_request_id(found.reservation_id, "release-arrival", transfer.transfer_id),
                    transfer.arrival_hold_id,
                    f"reservation {found.reservation_id} is {found.status.label}",
                    owner=reservation_owner(found.reservation_id),
                )
            return found
        assert transfer.received_at is not None
        arrived = transfer.received
        if transfer.arrival_hold_id and any(line.sku not in arrived for line in found.lines):
            # A set came as its components: the arrival hold says how many whole sets are kept for it.
            arrived = (await self.deps.inventory.get_hold(transfer.arrival_hold_id)).open
        found.arrive(transfer.arrival_hold_id, transfer.received_at + found.hold_for, arrived, now())
        if found.status is Status.READY_FOR_PICKUP and found.promise is not None:
            store = await promises.store_or_none(self.deps.inventory, found.store_id)
            if store is not None:
                origin = await promises.store_or_none(self.deps.inventory, transfer.origin_id)
                found.repromise(
                    promises.via_transfer(
                        store, now(), transfer.received_at, origin.name if origin else transfer.origin_id
                    )
                )
        log.info(
            "reservations.transfer_arrived",
            reservation_id=found.reservation_id,
            transfer_id=transfer.transfer_id,
            shorted=found.shorted,
        )
        return await record(conn, self.deps.outbox, found)

    async def received_at_store(self, conn: asyncpg.Connection, transfer: TransferView) -> list[Reservation]:
        """A transfer of no reservation's own was received at its destination, or is overdue there:
        the store's reservations promised from units on their way are promised again from their holds
        as they are now (the units arrived, or others still on their way say when: an overdue one as
        arriving now), and those now promised later are re-promised. An early or on-time transfer
        keeps every promise."""
        if not transfer.destination_id or transfer.status not in ("received", "shipped"):  # shipped: overdue
            return []
        waiting = await repository.promised_via_transfer(conn, transfer.destination_id)
        if not waiting:
            return []
        store = await promises.store_or_none(self.deps.inventory, transfer.destination_id)
        if store is None:
            return []
        moved = []
        for found in waiting:
            try:
                hold = await self.deps.inventory.get_hold(found.hold_id)
            except OmnistockError as error:
                log.warning(
                    "reservations.repromise_unavailable", reservation_id=found.reservation_id, error=error.message
                )
                continue
            promise = await promises.for_hold(self.deps.inventory, store, hold, now())
            if promise is None:
                continue
            found.repromise(promise)
            if not found.events:
                continue
            log.info(
                "reservations.repromised_after_transfer",
                reservation_id=found.reservation_id,
                transfer_id=transfer.transfer_id,
                promised_at=promise.at.isoformat(),
            )
            moved.append(await record(conn, self.deps.outbox, found))
        return moved

    async def overdue(self, conn: asyncpg.Connection, owner: str, transfer: TransferView) -> Reservation | None:
        """`inventory.transfer.overdue`: the transfer bringing a ship-to-store reservation's units
        passed its expected arrival: the pickup is promised as if they arrived now (as a new
        reservation would be), and being later than the promise, a time now gone, replaces it."""
        found = await self._waiting(conn, owner, transfer)
        if (
            found is None
            or found.status is not Status.AWAITING_TRANSFER
            or found.transfer_id != transfer.transfer_id
            or found.promise is None
        ):
            return found
        store = await promises.store_or_none(self.deps.inventory, found.store_id)
        if store is None:
            return found
        origin = await promises.store_or_none(self.deps.inventory, transfer.origin_id)
        at = now()
        found.repromise(promises.via_transfer(store, at, at, origin.name if origin else transfer.origin_id))
        if not found.events:
            return found
        log.info("reservations.repromised_transfer_overdue", reservation_id=found.reservation_id)
        return await record(conn, self.deps.outbox, found)

    async def shorted(
        self, conn: asyncpg.Connection, owner: str, hold_id: str, lost: dict[str, int]
    ) -> Reservation | None:
        """`inventory.hold.shorted`: units the reservation's hold promised in transit did not arrive."""
        reservation_id = reservation_of(owner)
        if reservation_id is None:
            return None
        found = await repository.get(conn, reservation_id, lock=True)
        if found is None or not found.shorten(hold_id, lost, now()):
            return found
        log.info("reservations.hold_shorted", reservation_id=found.reservation_id, shorted=found.shorted)
        return await record(conn, self.deps.outbox, found)

    async def cancelled(self, conn: asyncpg.Connection, owner: str, transfer: TransferView) -> Reservation | None:
        found = await self._waiting(conn, owner, transfer)
        if found is None or found.status is not Status.AWAITING_TRANSFER or found.transfer_id != transfer.transfer_id:
            return found
        found.cancel(f"the transfer from {transfer.origin_id} was cancelled", now())
        return await record(conn, self.deps.outbox, found)
