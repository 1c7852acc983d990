"""Who holds stock: the owner a reservation or an order gives its inventory hold, and the source a
fulfilment task names. One spelling, read by every service, by `omnistock verify` and by the
invariant checks: `reservation:<reservation id>` and `order:<order id>`."""

from __future__ import annotations

from typing import Literal

RESERVATION = "reservation:"
ORDER = "order:"

OwnerKind = Literal["reservation", "order", ""]


def reservation_owner(reservation_id: str) -> str:
    return f"{RESERVATION}{reservation_id}"


def order_owner(order_id: str) -> str:
    return f"{ORDER}{order_id}"


def reservation_of(owner: str) -> str | None:
    """The reservation id of a hold owner; None for an owner that is not a reservation."""
    return owner[len(RESERVATION) :] if owner.startswith(RESERVATION) and len(owner) > len(RESERVATION) else None


def order_of(owner: str) -> str | None:
    """The order id of a hold owner; None for an owner that is not an order."""
    return owner[len(ORDER) :] if owner.startswith(ORDER) and len(owner) > len(ORDER) else None


def owner_kind(owner: str) -> tuple[OwnerKind, str]:
    """("reservation", id), ("order", id), or ("", owner) for anything else (an admin's, a till's)."""
    if (reservation_id := reservation_of(owner)) is not None:
        return "reservation", reservation_id
    if (order_id := order_of(owner)) is not None:
        return "order", order_id
    return "", owner
