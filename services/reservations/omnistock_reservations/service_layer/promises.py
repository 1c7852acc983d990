"""When the customer can collect a reservation (docs/promises.md): from the store's calendar, as of
the moment it is made, or of the units' arrival when a transfer brings them."""

from __future__ import annotations

from datetime import datetime, timedelta

from omnistock_platform import promising
from omnistock_platform.errors import OmnistockError
from omnistock_platform.logging import get_logger
from omnistock_platform.promise_messages import calendar_of, pickup_once_arrived
from omnistock_reservations.adapters.inventory_client import HoldView, InventoryClient, Store

log = get_logger(__name__)


def at_store(store: Store, now: datetime) -> promising.Promise:
    """Ready at the store once prepared: the units are on its shelf."""
    calendar = calendar_of(store.promise_settings)
    return promising.pickup(calendar, now, location_id=store.location_id, place=store.name)


def lasting_until_ready(store: Store, now: datetime, hold_for: timedelta, longest: timedelta) -> timedelta:
    """How long a reservation made `now` is held: `hold_for`, unless the store's calendar makes it
    ready for pickup only after that has run out (preparation past closing time, the cut-off, days
    closed); then `hold_for` from the moment it is promised ready, so the customer who comes at the
    promised time finds it held. Never beyond `longest`."""
    ready = at_store(store, now).at
    if now + hold_for >= ready:
        return hold_for
    return min(longest, ready - now + hold_for)


async def for_hold(inventory: InventoryClient, store: Store, hold: HoldView, now: datetime) -> promising.Promise | None:
    """Ready at the store once prepared, or, where the hold took units still on their way (a pool's
    units in transit on a transfer), once they have arrived: never as if they were on the shelf.
    None when nothing says when they arrive, or inventory cannot say now."""
    try:
        waiting = await inventory.on_the_way(store.location_id, hold)
    except OmnistockError as error:
        log.warning("reservations.promise_unavailable", location_id=store.location_id, error=error.message)
        return None
    via = ""
    if waiting is not None and waiting.arrival is not None and waiting.origin_location_id:
        origin = await store_or_none(inventory, waiting.origin_location_id)
        via = origin.name if origin is not None else waiting.origin_location_id
    calendar = calendar_of(store.promise_settings)
    return pickup_once_arrived(calendar, now, location_id=store.location_id, place=store.name, waiting=waiting, via=via)


def via_transfer(store: Store, now: datetime, arrival: datetime | None, origin_name: str) -> promising.Promise:
    """Ready at the store once the transfer has brought the units and they are prepared."""
    calendar = calendar_of(store.promise_settings)
    return promising.pickup(
        calendar,
        now,
        location_id=store.location_id,
        place=store.name,
        arrival=arrival,
        kind=promising.Kind.PICKUP_VIA_TRANSFER,
        via=origin_name,
    )


async def store_or_none(inventory: InventoryClient, location_id: str) -> Store | None:
    """The location, or None when inventory cannot say now: a reservation is never refused for want
    of a date, it is then made without one."""
    try:
        return await inventory.store(location_id)
    except OmnistockError as error:
        log.warning("reservations.promise_unavailable", location_id=location_id, error=error.message)
        return None
