"""Promises to and from their messages: a location's PromiseSettings, the common Promise."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock_platform import promising
from omnistock_platform.promising import DEFAULT_LEAD_DAYS, MONDAY_TO_FRIDAY, Calendar, Kind, Lead, Promise, parse_clock
from omnistock_platform.sets import Definitions, expand

KINDS = {
    Kind.PICKUP: common_pb2.PROMISE_KIND_PICKUP,
    Kind.PICKUP_VIA_TRANSFER: common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER,
    Kind.PICKUP_ON_RECEIPT: common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT,
    Kind.DELIVERY: common_pb2.PROMISE_KIND_DELIVERY,
}


def calendar_of(settings: inventory_pb2.PromiseSettings) -> Calendar:
    """The calendar of settings UpsertLocation validated (unset settings: the defaults)."""
    return _calendar(settings.SerializeToString(deterministic=True))


@functools.lru_cache(maxsize=4096)
def _calendar(serialized: bytes) -> Calendar:
    """Made once per distinct settings: a read answers promises for every location it returns."""
    settings = inventory_pb2.PromiseSettings.FromString(serialized)
    hours: dict[int, list[tuple[int, int]]] = {}
    for interval in settings.opening_hours:
        opens = parse_clock(interval.opens)
        closes = parse_clock(interval.closes, allow_midnight=True)
        if opens is None or closes is None:
            raise ValueError(f"opening hours {interval.opens}-{interval.closes} are not HH:MM")
        hours.setdefault(interval.weekday, []).append((opens, closes))
    special: dict[date, list[tuple[int, int]]] = {}
    for day_hours in settings.special_hours:
        opens = parse_clock(day_hours.opens)
        closes = parse_clock(day_hours.closes, allow_midnight=True)
        if opens is None or closes is None:
            raise ValueError(f"special hours {day_hours.opens}-{day_hours.closes} are not HH:MM")
        special.setdefault(date.fromisoformat(day_hours.date), []).append((opens, closes))
    return Calendar(
        time_zone=settings.time_zone or "UTC",
        hours={weekday: tuple(sorted(spans)) for weekday, spans in hours.items()},
        preparation=timedelta(minutes=settings.pickup_preparation_minutes),
        cutoff=parse_clock(settings.order_cutoff) if settings.order_cutoff else None,
        lead_days={lead.region.upper(): lead.business_days for lead in settings.carrier_lead_times},
        default_lead_days=(
            settings.default_carrier_lead_days if settings.HasField("default_carrier_lead_days") else DEFAULT_LEAD_DAYS
        ),
        closed=frozenset(date.fromisoformat(day) for day in settings.closed_dates),
        special={day: tuple(sorted(spans)) for day, spans in special.items()},
        delivery_weekdays=frozenset(settings.carrier_delivery_weekdays) or MONDAY_TO_FRIDAY,
        carrier_closed=frozenset(date.fromisoformat(day) for day in settings.carrier_closed_dates),
        region_weekdays={
            lead.region.upper(): frozenset(lead.delivery_weekdays)
            for lead in settings.carrier_lead_times
            if lead.delivery_weekdays
        },
        region_closed={
            lead.region.upper(): frozenset(date.fromisoformat(day) for day in lead.closed_dates)
            for lead in settings.carrier_lead_times
            if lead.closed_dates
        },
    )


def promise_to_json(promise: Promise | None) -> dict[str, Any] | None:
    """A promise as a service keeps it in a JSON column."""
    if promise is None:
        return None
    return {
        "kind": promise.kind.value,
        "at": promise.at.isoformat(),
        "location_id": promise.location_id,
        "time_zone": promise.time_zone,
        "local_date": promise.local_date.isoformat(),
        "local_time": promise.local_time,
        "wording": promise.wording,
    }


def promise_from_json(data: dict[str, Any] | None) -> Promise | None:
    if not data:
        return None
    return Promise(
        kind=Kind(data["kind"]),
        at=datetime.fromisoformat(data["at"]),
        location_id=data["location_id"],
        time_zone=data["time_zone"],
        local_date=date.fromisoformat(data["local_date"]),
        local_time=data["local_time"],
        wording=data["wording"],
    )


def promise_message(promise: Promise) -> common_pb2.Promise:
    at = Timestamp()
    at.FromDatetime(promise.at)
    return common_pb2.Promise(
        kind=KINDS[promise.kind],
        at=at,
        location_id=promise.location_id,
        time_zone=promise.time_zone,
        local_date=promise.local_date.isoformat(),
        local_time=promise.local_time,
        wording=promise.wording,
    )


def clock() -> datetime:
    return datetime.now(UTC)


def said_now(kept: common_pb2.Promise) -> common_pb2.Promise:
    """A promise kept with a reservation or an order as it is said now: "tomorrow" when it was
    made is "today" the next day (`promising.wording_on`, on the promise's own local day)."""
    if not kept.wording or not kept.local_date:
        return kept
    today = clock().astimezone(ZoneInfo(kept.time_zone or "UTC")).date()
    wording = promising.wording_on(
        kept.wording, local_date=date.fromisoformat(kept.local_date), local_time=kept.local_time, today=today
    )
    if wording == kept.wording:
        return kept
    said = common_pb2.Promise()
    said.CopyFrom(kept)
    said.wording = wording
    return said


@dataclass(frozen=True)
class Awaited:
    """Units held at a location beyond what is on its shelf (a pool's units in transit, a backorder):
    when what is on its way brings them. ``arrival`` None: nothing on its way says when."""

    arrival: datetime | None
    origin_location_id: str = ""  # the transfer's origin; empty for an announced delivery

    @property
    def kind(self) -> Kind:
        return Kind.PICKUP_VIA_TRANSFER if self.origin_location_id else Kind.PICKUP_ON_RECEIPT


def plain_levels(levels: Iterable[inventory_pb2.StockLevel]) -> list[inventory_pb2.StockLevel]:
    """The levels of plain SKUs: a set's level (``bundle``) as its components' levels, each SKU once
    (a component also asked for alone, or in two sets, is one row)."""
    found: dict[str, inventory_pb2.StockLevel] = {}
    for level in levels:
        if not level.bundle:
            found[level.sku] = level
    for level in levels:
        for part in level.components if level.bundle else ():
            found.setdefault(part.sku, part)
    return list(found.values())


def sets_on_the_way(levels: Iterable[inventory_pb2.StockLevel], lines: Iterable[str]) -> list[str]:
    """The sets among ``lines`` of which a component may be held beyond its shelf at the location of
    ``levels`` (units in transit a channel may take, or announced ones): only for those does a plan
    need their definitions to say when they can be had (``beyond_shelf``)."""
    asked = set(lines)
    return sorted(
        level.sku
        for level in levels
        if level.bundle
        and level.sku in asked
        and any(part.incoming > 0 or part.in_transit > part.in_transit_reserved for part in level.components)
    )


def beyond_shelf(
    levels: Iterable[inventory_pb2.StockLevel], adding: Mapping[str, int], definitions: Definitions | None = None
) -> dict[str, int]:
    """Units of each SKU held at a location beyond its on hand once ``adding`` more are held there
    (``levels``: the location's rows before; a row already counting them: ``adding`` empty). Such
    units are promised on their way, never from the shelf. A set is judged by its components' rows:
    a set's level by its components' levels, and a set among ``adding`` as its components by
    ``definitions``."""
    found: dict[str, int] = {}
    adding = expand(adding, definitions or {})
    for level in plain_levels(levels):
        over = level.held + adding.get(level.sku, 0) - level.on_hand
        if over > 0:
            found[level.sku] = over
    return found


def awaited(
    location_id: str,
    missing: Mapping[str, int],
    levels: Iterable[inventory_pb2.StockLevel],
    transfers: Iterable[inventory_pb2.Transfer],
) -> Awaited | None:
    """When the units ``missing`` from the location's shelf (``beyond_shelf``) get there: the first
    shipped transfers to it (earliest expected arrival first) that bring them, then its announced
    deliveries; the last SKU to arrive decides. None when nothing is missing. Units a ship-to-store
    transfer brings for its own reservation are not counted: they are never promised to another."""
    if not missing:
        return None
    incoming = {level.sku: level for level in plain_levels(levels)}
    on_the_way = sorted(
        (
            transfer
            for transfer in transfers
            if transfer.destination_location_id == location_id
            and transfer.status == inventory_pb2.TRANSFER_STATUS_SHIPPED
            and not transfer.hold_owner
        ),
        key=lambda transfer: (
            not transfer.HasField("expected_arrival_at"),
            transfer.expected_arrival_at.ToDatetime(tzinfo=UTC) if transfer.HasField("expected_arrival_at") else None,
            transfer.transfer_id,
        ),
    )
    last: Awaited | None = None
    for sku, units in sorted(missing.items()):
        found = Awaited(None)
        for transfer in on_the_way:
            units -= sum(
                line.quantity - line.received - line.damaged - line.short for line in transfer.lines if line.sku == sku
            )
            if units <= 0:
                arrival = (
                    transfer.expected_arrival_at.ToDatetime(tzinfo=UTC)
                    if transfer.HasField("expected_arrival_at")
                    else None
                )
                found = Awaited(arrival, transfer.origin_location_id)
                break
        level = incoming.get(sku)
        if units > 0 and level is not None and level.incoming >= units and level.HasField("next_incoming_at"):
            found = Awaited(level.next_incoming_at.ToDatetime(tzinfo=UTC))
        if found.arrival is None:
            return found
        if last is None or (last.arrival is not None and found.arrival > last.arrival):
            last = found
    return last


def awaited_once_held(
    location_id: str,
    levels: Iterable[inventory_pb2.StockLevel],
    transfers: Iterable[inventory_pb2.Transfer],
    adding: Mapping[str, int] | None = None,
    definitions: Definitions | None = None,
) -> Awaited | None:
    """The one rule of what a hold at a location waits for: the units held there beyond its shelf
    once ``adding`` more are held (``beyond_shelf``), brought by what is on its way (``awaited``).
    A reservation asks it of the rows as its hold left them (``adding`` empty); FindAvailability of
    the rows before, adding the items asked, so that both give the same answer for the same state.
    None when every unit is on the shelf."""
    return awaited(location_id, beyond_shelf(levels, adding or {}, definitions), levels, transfers)


def pickup_once_arrived(
    calendar: Calendar, now: datetime, *, location_id: str, place: str, waiting: Awaited | None, via: str = ""
) -> Promise | None:
    """Ready at the store for a hold made at ``now``: once prepared from the shelf when it waits for
    nothing (``waiting`` None), else once what it waits for has arrived (``via``: the name of the
    transfer's origin); None when nothing on its way says when."""
    if waiting is None:
        return promising.pickup(calendar, now, location_id=location_id, place=place)
    if waiting.arrival is None:
        return None
    return promising.pickup(
        calendar, now, location_id=location_id, place=place, arrival=waiting.arrival, kind=waiting.kind, via=via
    )


def delivery_once_arrived(
    calendar: Calendar, now: datetime, *, location_id: str, lead: Lead, waiting: Awaited | None
) -> Promise | None:
    """Delivered from the location for a hold made at ``now``: dispatched on the day handling starts,
    or, when it waits for units on their way, at the first handling moment after their arrival; None
    when nothing on its way says when (an order's plan promises its allocations so)."""
    if waiting is None:
        return promising.delivery(calendar, now, location_id=location_id, lead_days=lead)
    if waiting.arrival is None:
        return None
    return promising.delivery(calendar, now, location_id=location_id, lead_days=lead, arrival=waiting.arrival)
