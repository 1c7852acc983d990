"""The promises FindAvailability answers per location (docs/promises.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform import promising
from omnistock_platform.promise_messages import calendar_of, promise_message


def location_promises(
    location: pb.Location,
    *,
    wanted: Mapping[str, int],
    can: Mapping[str, int],
    incoming: Mapping[str, tuple[int, datetime | None]],
    region: str,
    now: datetime,
) -> list[common_pb2.Promise]:
    """Pickup (from stock, or once what it lacks arrives from an announced delivery) at a pickup
    store, and delivery from a location that ships and has every item; `can` is what the channel
    may take here from the shelf now (incoming units not counted, even for a SKU that allows
    backorder), `incoming` the announced units and their earliest arrival per SKU."""
    calendar = calendar_of(location.promise_settings)
    complete = all(can.get(sku, 0) >= quantity for sku, quantity in wanted.items())
    found = []
    if location.pickup:
        if complete:
            found.append(promising.pickup(calendar, now, location_id=location.location_id, place=location.name))
        else:
            arrival = _arrival(wanted, can, incoming)
            if arrival is not None:
                found.append(
                    promising.pickup(
                        calendar,
                        now,
                        location_id=location.location_id,
                        place=location.name,
                        arrival=arrival,
                        kind=promising.Kind.PICKUP_ON_RECEIPT,
                    )
                )
    if location.ships and complete:
        found.append(
            promising.delivery(
                calendar, now, location_id=location.location_id, lead_days=calendar.lead_for(region, _country(region))
            )
        )
    return [promise_message(promise) for promise in found]


def via_transfer(store: pb.Location, origin: pb.Location, *, arrival: datetime, now: datetime) -> common_pb2.Promise:
    """Pickup at `store` once a transfer from `origin` expected at `arrival` has brought the items and
    they are prepared: the promise a ship-to-store reservation made at `now` commits."""
    return promise_message(
        promising.pickup(
            calendar_of(store.promise_settings),
            now,
            location_id=store.location_id,
            place=store.name,
            arrival=arrival,
            kind=promising.Kind.PICKUP_VIA_TRANSFER,
            via=origin.name,
        )
    )


def _arrival(
    wanted: Mapping[str, int], can: Mapping[str, int], incoming: Mapping[str, tuple[int, datetime | None]]
) -> datetime | None:
    """When announced deliveries bring every unit the location lacks; None when they do not."""
    latest: datetime | None = None
    for sku, quantity in wanted.items():
        lacking = quantity - can.get(sku, 0)
        if lacking <= 0:
            continue
        units, at = incoming.get(sku, (0, None))
        if units < lacking or at is None:
            return None
        latest = at if latest is None else max(latest, at)
    return latest


def _country(region: str) -> str:
    """The country of an ISO 3166-2 region ("DE-BE" -> "DE"), for a lead time set per country."""
    return region.split("-", 1)[0] if "-" in region else ""
