"""How a reservation names its hold in inventory.

Every request to inventory carries an id derived from the reservation, so a
call repeated after a crash or by the recovery loop finds the first answer
instead of taking stock twice.
"""

from __future__ import annotations

import uuid

from omnistock_platform.owners import reservation_owner

_NAMESPACE = uuid.UUID("6f1f1c64-3c55-4d4a-9d0e-7d1a8f0f5a31")


def hold_request_id(reservation_id: str) -> str:
    """The one Hold request of a reservation: retried, it returns the hold already taken."""
    return f"{reservation_owner(reservation_id)}:hold"


def derived_request_id(reservation_id: str, action: str, *parts: str) -> str:
    """A stable request id for one change of a reservation's hold."""
    return str(uuid.uuid5(_NAMESPACE, "|".join((reservation_id, action, *parts))))
