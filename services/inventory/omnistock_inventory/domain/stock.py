"""Stock arithmetic: the one availability rule every answer and every hold uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    CHAT = "chat"
    POS = "pos"
    BACKOFFICE = "backoffice"
    MARKETPLACE = "marketplace"


class Counters(NamedTuple):
    # A tuple, not a frozen dataclass: every read makes one per row, and a tuple is made in a
    # third of the time.
    on_hand: int
    held: int
    safety_stock: int
    incoming: int = 0
    # Units shipped here on transfers that a channel may be promised: in transit less what
    # ship-to-store transfers bring for their own reservations (stock.in_transit_reserved).
    in_transit: int = 0


def may_use_safety_stock(channel: Channel, selling_location_id: str, location_id: str) -> bool:
    """Only a store's own till sells into safety stock: the unit is on the shelf in front of the customer."""
    return channel is Channel.POS and bool(selling_location_id) and selling_location_id == location_id


def available(counters: Counters, *, use_safety_stock: bool, backorder: bool = False) -> int:
    """Units a caller may take now. Remote channels keep safety stock untouched;
    a backorderable SKU may also promise units that are on their way."""
    return max(0, unbounded_available(counters, use_safety_stock=use_safety_stock, backorder=backorder))


def unbounded_available(counters: Counters, *, use_safety_stock: bool, backorder: bool = False) -> int:
    """`available` before it is held at 0: below 0 when holds promised units in transit (a pool's
    `allow_transfer_in_transit`) beyond what the rule without them offers, so that those promises
    count against the units in transit a pool adds back."""
    reserve = 0 if use_safety_stock else counters.safety_stock
    extra = counters.incoming if backorder else 0
    return counters.on_hand - counters.held - reserve + extra


@dataclass(frozen=True)
class Pool:
    """A channel may sell at the locations of `group_id`: at most `cap_percent` of on hand
    (rounded down) and never the last `buffer_units`; announced incoming units of a backorderable SKU
    only if `allow_in_transit`; units shipped here on transfers (`Counters.in_transit`) to a hold for
    later only if `allow_transfer_in_transit`, in full (cap and buffer bound on hand only)."""

    group_id: str
    cap_percent: int = 100
    buffer_units: int = 0
    allow_in_transit: bool = False
    allow_transfer_in_transit: bool = False


def kept_back(counters: Counters, pool: Pool) -> int:
    """Units of on hand a pool keeps from its channel: the part above its cap, plus its buffer."""
    return counters.on_hand - counters.on_hand * pool.cap_percent // 100 + pool.buffer_units


def pool_available(counters: Counters, pool: Pool, *, general: int, sold_now: bool = False) -> int:
    """What a pool lets its channel take, given what the channel could take without it (`general`,
    today's rule, `unbounded_available`): never more, except the units in transit the pool adds,
    and never the units the pool keeps back. Holds of every channel count against what is left, so
    a channel never takes the units kept for the others. A sale carried out now (`sold_now`) takes
    nothing in transit."""
    extra = counters.incoming if pool.allow_in_transit else 0
    transit = counters.in_transit if pool.allow_transfer_in_transit and not sold_now else 0
    room = counters.on_hand - counters.held - kept_back(counters, pool) + extra + transit
    return max(0, min(general + transit, room))


def kept_from_channel(counters: Counters, pools: Sequence[Pool] | None, pool: Pool | None) -> int:
    """Units of on hand the channel's pools keep from it at a location, given the pool it sells
    through there (`channel_available`'s): all of them outside its groups, none without pools."""
    if pools is None:
        return 0
    return counters.on_hand if pool is None else min(counters.on_hand, kept_back(counters, pool))


def channel_available(
    counters: Counters,
    pools: Sequence[Pool] | None,
    *,
    use_safety_stock: bool,
    backorder: bool = False,
    sold_now: bool = False,
) -> tuple[int, Pool | None]:
    """The one availability rule, per channel: (units the channel may take now, the pool they come
    from). `pools` are the channel's pools whose group holds this location; None when the channel
    has no pools at all (it sells from every location, by `available`). `sold_now`: a sale carried
    out now, which takes no units in transit."""
    general = unbounded_available(counters, use_safety_stock=use_safety_stock, backorder=backorder)
    return through_pools(counters, pools, general=general, sold_now=sold_now)


def through_pools(
    counters: Counters, pools: Sequence[Pool] | None, *, general: int, sold_now: bool = False
) -> tuple[int, Pool | None]:
    """`channel_available` from what the channel could take without pools (`general`, which may be
    below 0: `unbounded_available`). A location in several of the channel's groups sells through the
    pool that gives the most (the first group id on a tie); one in none of them gives nothing."""
    if pools is None:
        return max(0, general), None
    best: tuple[int, Pool | None] = (0, None)
    for pool in sorted(pools, key=lambda each: each.group_id):
        units = pool_available(counters, pool, general=general, sold_now=sold_now)
        if best[1] is None or units > best[0]:
            best = (units, pool)
    return best


def invariant_holds(counters: Counters) -> bool:
    """0 <= held <= on_hand (+ incoming for backorders, + the promisable units in transit for
    channels whose pools allow them) and on_hand >= 0."""
    return counters.on_hand >= 0 and 0 <= counters.held <= counters.on_hand + counters.incoming + counters.in_transit
