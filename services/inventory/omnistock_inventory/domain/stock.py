"""Stock arithmetic: the one availability rule every answer and every hold uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    CHAT = "chat"
    POS = "pos"
    BACKOFFICE = "backoffice"


@dataclass(frozen=True)
class Counters:
    on_hand: int
    held: int
    safety_stock: int
    incoming: int = 0


def may_use_safety_stock(channel: Channel, selling_location_id: str, location_id: str) -> bool:
    """Only a store's own till sells into safety stock: the unit is on the shelf in front of the customer."""
    return channel is Channel.POS and bool(selling_location_id) and selling_location_id == location_id


def available(counters: Counters, *, use_safety_stock: bool, backorder: bool = False) -> int:
    """Units a caller may take now. Remote channels keep safety stock untouched;
    a backorderable SKU may also promise units that are on their way."""
    reserve = 0 if use_safety_stock else counters.safety_stock
    extra = counters.incoming if backorder else 0
    return max(0, counters.on_hand - counters.held - reserve + extra)


def invariant_holds(counters: Counters) -> bool:
    """0 <= held <= on_hand (+ incoming for backorders) and on_hand >= 0."""
    return counters.on_hand >= 0 and 0 <= counters.held <= counters.on_hand + counters.incoming
