"""How a reservation names its hold in inventory.

Every request to inventory carries an id derived from the reservation, so a
call repeated after a crash or by the recovery loop finds the first answer
instead of taking stock twice.
"""

from __future__ import annotations

import uuid

OWNER_PREFIX = "reservation:"
ORDER_PREFIX = "order:"
_NAMESPACE = uuid.UUID("6f1f1c64-3c55-4d4a-9d0e-7d1a8f0f5a31")


def owner_of(reservation_id: str) -> str:
    return f"{OWNER_PREFIX}{reservation_id}"


def reservation_of(owner: str) -> str | None:
    """The reservation id of a hold owner, or None for holds that are not a reservation's."""
    if owner.startswith(OWNER_PREFIX) and len(owner) > len(OWNER_PREFIX):
        return owner[len(OWNER_PREFIX) :]
    return None


def order_owner(order_id: str) -> str:
    return f"{ORDER_PREFIX}{order_id}"


def order_of(owner: str) -> str | None:
    if owner.startswith(ORDER_PREFIX) and len(owner) > len(ORDER_PREFIX):
        return owner[len(ORDER_PREFIX) :]
    return None


def hold_request_id(reservation_id: str) -> str:
    """The one Hold request of a reservation: retried, it returns the hold already taken."""
    return f"{OWNER_PREFIX}{reservation_id}:hold"


def derived_request_id(reservation_id: str, action: str, *parts: str) -> str:
    """A stable request id for one change of a reservation's hold."""
    return str(uuid.uuid5(_NAMESPACE, "|".join((reservation_id, action, *parts))))
