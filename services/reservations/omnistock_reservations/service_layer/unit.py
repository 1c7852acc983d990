"""What every reservations use case works with, and the few steps they all share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from omnistock_platform.auth import require_location
from omnistock_platform.db import Database
from omnistock_platform.errors import NotFound
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_reservations.adapters import messages, repository
from omnistock_reservations.adapters.inventory_client import InventoryClient
from omnistock_reservations.adapters.metrics import RESERVATION_EVENTS
from omnistock_reservations.domain.reservation import Limits, Reservation
from omnistock_reservations.settings import ReservationsSettings

ResponseT = TypeVar("ResponseT", bound=Message)


def now() -> datetime:
    return datetime.now(UTC)


def limits_of(settings: ReservationsSettings) -> Limits:
    return Limits(
        max_line_quantity=settings.reservation_max_line_quantity,
        max_open_per_customer=settings.reservation_max_active_per_customer,
        default_hold=settings.reservation_default_hold,
        min_hold=settings.reservation_min_hold,
        max_hold=settings.reservation_max_hold,
    )


@dataclass
class Deps:
    db: Database
    outbox: Outbox
    idempotency: IdempotencyStore
    inventory: InventoryClient
    settings: ReservationsSettings

    @property
    def limits(self) -> Limits:
        return limits_of(self.settings)


async def record(conn: asyncpg.Connection, outbox: Outbox, reservation: Reservation) -> Reservation:
    """Saves the reservation and queues an event for each change it went through, in one transaction."""
    saved = await repository.save(conn, reservation)
    payload = messages.changed(saved)
    for event in reservation.events:
        await outbox.add(conn, f"reservation.{event}", payload)
        RESERVATION_EVENTS.labels(event, reservation.channel).inc()
    saved.events = []
    return saved


async def load(deps: Deps, reservation_id: str) -> Reservation:
    """A reservation the caller may act on: staff only at their own stores."""
    found = await repository.get(deps.db.pool, reservation_id)
    if found is None:
        raise NotFound("reservation", reservation_id, field="reservation_id")
    require_location(found.store_id, "store")
    return found
