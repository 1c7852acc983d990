"""The promises FindAvailability answers per location (docs/promises.md).

`location_promises`, `via_transfer` and `after_hold` compute them exactly, as of `now`.
FindAvailability asks `LocationPromises` (one per process, kept by the stock view), which computes a
location's promises once per time bucket (`BUCKET`) as of the bucket's end: a promise is monotone in
`now` (never earlier for a later clock), so the kept answer is never earlier than the exact one; it
is kept only where it is at most one bucket later than the answer as of the bucket's start, so it is
at most one bucket later than the exact one too (docs/promises.md, "How fresh a promise is").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform import promising
from omnistock_platform.promise_messages import (
    Awaited,
    calendar_of,
    delivery_once_arrived,
    pickup_once_arrived,
    promise_message,
)
from omnistock_platform.sets import Definitions, expand

# How fresh a promise is: computed once per bucket of this length, as at the bucket's end.
BUCKET = timedelta(seconds=60)
# Promises kept per location and bucket (each kind, lead and carrier days, arrival and origin asked for);
# past it the bucket's are dropped and made again, so a flood of distinct arrivals costs no memory.
MAX_KEPT = 1024

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PromiseQuestion:
    """What FindAvailability asks of a location's promises: pickup (from stock, or once what it lacks
    arrives from an announced delivery) at a pickup store, and delivery to `region` from a location
    that ships and has every item. `wanted` the items asked; `can` what the channel may take here
    from the shelf now (incoming units not counted, even for a SKU that allows backorder), per SKU
    asked and per component of the sets asked; `incoming` the announced units and their earliest
    arrival per stocked SKU; `sets` the definitions of the sets among `wanted` (a set arrives when
    the announced units of its components do)."""

    wanted: Mapping[str, int]
    can: Mapping[str, int]
    incoming: Mapping[str, tuple[int, datetime | None]]
    region: str
    sets: Definitions | None = None


def location_promises(location: pb.Location, question: PromiseQuestion, *, now: datetime) -> list[common_pb2.Promise]:
    """The promises `question` asks of `location`, exactly as of `now`."""
    calendar = calendar_of(location.promise_settings)
    complete, arrival, lead = _depends_on(location, calendar, question)
    return _promises(location, calendar, complete, arrival, lead, now)


def via_transfer(store: pb.Location, origin: pb.Location, *, arrival: datetime, now: datetime) -> common_pb2.Promise:
    """Pickup at `store` once a transfer from `origin` expected at `arrival` has brought the items and
    they are prepared: the promise a ship-to-store reservation made at `now` commits."""
    return _via(store, calendar_of(store.promise_settings), origin.name, arrival=arrival, now=now)


def after_hold(
    location: pb.Location, *, waiting: Awaited | None, via: str, region: str, now: datetime
) -> list[common_pb2.Promise]:
    """The promises of a hold of the items at `location` made at `now` that waits for `waiting`
    (`promise_messages.awaited_once_held`; None: every unit is on the shelf, `via` the name of the
    transfer's origin): pickup at a pickup store, as a reservation made then commits, and delivery
    to `region` from a location that ships, as an order's plan there commits. Neither where nothing
    on its way says when."""
    calendar = calendar_of(location.promise_settings)
    return _held(location, calendar, waiting, via, _lead(location, calendar, region), now)


@dataclass
class _Known:
    """A location's calendar, made once for the version of its message, and its promises of one bucket."""

    location: pb.Location
    calendar: promising.Calendar
    end_us: int = -1  # the bucket kept: its end, in microseconds after the epoch
    at: datetime | None = None  # the moment its promises are computed at; None: each exactly
    # Per question: the promises as at the bucket's end, or None where they would be more than a
    # bucket later than at its start (a cut-off, a closing or a break inside the bucket): exact then.
    kept: dict[tuple[object, ...], tuple[common_pb2.Promise, ...] | None] = field(default_factory=dict)
    # The kept promises of a question as an answer's location carries them, serialized once: a page
    # parses them in, which costs less than copying the messages (cleared with `kept`).
    encoded: dict[tuple[object, ...], bytes] = field(default_factory=dict)


class LocationPromises:
    """FindAvailability's promises, made once per location version and time bucket.

    A location's calendar is built once per version of its message (the stock view makes one per
    version of the location's row, and `forget` drops it when the view learns the row changed; a
    message read from the database counts as the same version when equal). Its promises for one
    question (which kind, the lead time and carrier days to the region, the arrival, the transfer's
    origin, what a hold waits for) are computed once per bucket, as at the bucket's end: never
    earlier than the exact answer. They are kept only when at most one bucket later than as at the
    bucket's start, so never more than a bucket later than exact; where a cut-off, a closing or a
    break falls inside the bucket (the end's promise is much later than the start's), that question
    is answered exactly in that bucket. So is a bucket that crosses the location's local midnight,
    or a change of its UTC offset: "today" and "tomorrow" are said of the caller's own day.

    The messages are shared between answers: a caller copies them into its own (a repeated field
    copies what it is given) and never changes them."""

    def __init__(self, bucket: timedelta = BUCKET) -> None:
        if not _MICROSECOND <= bucket <= timedelta(hours=1):
            raise ValueError("a promise bucket is between a microsecond and an hour")
        self.bucket = bucket
        self._step = bucket // _MICROSECOND
        self._known: dict[str, _Known] = {}

    def forget(self, location_id: str) -> None:
        """The location changed: its calendar and promises are made again when next asked."""
        self._known.pop(location_id, None)

    def of(self, location: pb.Location, question: PromiseQuestion, *, now: datetime) -> list[common_pb2.Promise]:
        """`location_promises`, as at the end of `now`'s bucket."""
        known = self._location(location)
        complete, arrival, lead = _depends_on(location, known.calendar, question)

        def make(moment: datetime) -> list[common_pb2.Promise]:
            return _promises(location, known.calendar, complete, arrival, lead, moment)

        found = self._kept(known, now, (complete, arrival, lead), make)
        return list(found) if found is not None else make(now)

    def add_to(
        self, answer: pb.LocationAvailability, location: pb.Location, question: PromiseQuestion, *, now: datetime
    ) -> None:
        """`of`'s promises at `location` (the answer's), added to the answer's: where they are kept,
        from their bytes, serialized once per bucket and question."""
        known = self._location(location)
        key = _depends_on(location, known.calendar, question)
        complete, arrival, lead = key

        def make(moment: datetime) -> list[common_pb2.Promise]:
            return _promises(location, known.calendar, complete, arrival, lead, moment)

        found = self._kept(known, now, key, make)
        if found is None:
            answer.promises.extend(make(now))
            return
        encoded = known.encoded.get(key)
        if encoded is None:
            encoded = known.encoded[key] = pb.LocationAvailability(promises=found).SerializeToString()
        answer.MergeFromString(encoded)

    def via_transfer(
        self, store: pb.Location, origin: pb.Location, *, arrival: datetime, now: datetime
    ) -> common_pb2.Promise:
        """`via_transfer` for a transfer that takes `arrival - now`, as at the end of `now`'s bucket
        (the transfer then arrives as much later)."""
        known = self._location(store)
        lead = arrival - now

        def make(moment: datetime) -> list[common_pb2.Promise]:
            return [_via(store, known.calendar, origin.name, arrival=moment + lead, now=moment)]

        found = self._kept(known, now, ("via", origin.name, lead), make)
        return found[0] if found is not None else make(now)[0]

    def after_hold(
        self, location: pb.Location, *, waiting: Awaited | None, via: str, region: str, now: datetime
    ) -> list[common_pb2.Promise]:
        """`after_hold`, as at the end of `now`'s bucket (what the hold waits for arrives at a fixed
        moment: a later clock never gives an earlier promise)."""
        if waiting is not None and waiting.arrival is None:
            return []  # nothing on its way says when: nothing to compute, nothing to keep
        known = self._location(location)
        lead = _lead(location, known.calendar, region)

        def make(moment: datetime) -> list[common_pb2.Promise]:
            return _held(location, known.calendar, waiting, via, lead, moment)

        found = self._kept(known, now, ("held", waiting, via, lead), make)
        return list(found) if found is not None else make(now)

    def _location(self, location: pb.Location) -> _Known:
        known = self._known.get(location.location_id)
        if known is None or (known.location is not location and known.location != location):
            known = _Known(location, calendar_of(location.promise_settings))
            self._known[location.location_id] = known
        return known

    def _at(self, known: _Known, now: datetime) -> datetime | None:
        """The end of `now`'s bucket, when the whole bucket is one local day at one UTC offset at
        the location; None otherwise (then promises are computed exactly)."""
        end_us = -(-((now - _EPOCH) // _MICROSECOND) // self._step) * self._step
        if end_us != known.end_us:
            end = _EPOCH + timedelta(microseconds=end_us)
            known.end_us = end_us
            known.at = end if _one_day(known.calendar.zone, end - self.bucket, end) else None
            known.kept.clear()
            known.encoded.clear()
        return known.at

    def _kept(
        self,
        known: _Known,
        now: datetime,
        key: tuple[object, ...],
        make: Callable[[datetime], Sequence[common_pb2.Promise]],
    ) -> tuple[common_pb2.Promise, ...] | None:
        """The question's promises as at the end of `now`'s bucket, made once per bucket; None where
        they are computed exactly: the bucket is not one local day at one offset, or one of them as at
        the bucket's end is more than a bucket later than as at its start (decided once per bucket)."""
        at = self._at(known, now)
        if at is None:
            return None
        if key not in known.kept:
            late = tuple(make(at))
            early = make(at - self.bucket)
            step_ns = self._step * 1000
            close = len(early) == len(late) and all(
                b.at.ToNanoseconds() - a.at.ToNanoseconds() <= step_ns for a, b in zip(early, late, strict=True)
            )
            if len(known.kept) >= MAX_KEPT:
                known.kept.clear()
                known.encoded.clear()
            known.kept[key] = late if close else None
        return known.kept[key]


def _one_day(zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Are `start` and `end` on the same local date, at the same UTC offset (so every moment between)."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    return first.date() == last.date() and first.utcoffset() == last.utcoffset()


def _depends_on(
    location: pb.Location, calendar: promising.Calendar, question: PromiseQuestion
) -> tuple[bool, datetime | None, promising.Lead | None]:
    """What the promises depend on besides the calendar and the clock: whether the location has
    every item, when what a pickup store lacks arrives (a set's by its components), and the lead
    of a delivery: its business days and the carrier's days to the region (two regions with the
    same lead time but other carrier days never share kept promises)."""
    can = question.can
    complete = all(can.get(sku, 0) >= quantity for sku, quantity in question.wanted.items())
    arrival = None
    if location.pickup and not complete:
        arrival = _arrival(expand(question.wanted, question.sets or {}), can, question.incoming)
    lead = _lead(location, calendar, question.region) if complete else None
    return complete, arrival, lead


def _promises(
    location: pb.Location,
    calendar: promising.Calendar,
    complete: bool,
    arrival: datetime | None,
    lead: promising.Lead | None,
    now: datetime,
) -> list[common_pb2.Promise]:
    found = []
    if location.pickup:
        if complete:
            found.append(promising.pickup(calendar, now, location_id=location.location_id, place=location.name))
        elif arrival is not None:
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
    if lead is not None:
        found.append(promising.delivery(calendar, now, location_id=location.location_id, lead_days=lead))
    return [promise_message(promise) for promise in found]


def _via(
    store: pb.Location, calendar: promising.Calendar, origin_name: str, *, arrival: datetime, now: datetime
) -> common_pb2.Promise:
    return promise_message(
        promising.pickup(
            calendar,
            now,
            location_id=store.location_id,
            place=store.name,
            arrival=arrival,
            kind=promising.Kind.PICKUP_VIA_TRANSFER,
            via=origin_name,
        )
    )


def _held(
    location: pb.Location,
    calendar: promising.Calendar,
    waiting: Awaited | None,
    via: str,
    lead: promising.Lead | None,
    now: datetime,
) -> list[common_pb2.Promise]:
    found = []
    if location.pickup:
        found.append(
            pickup_once_arrived(
                calendar, now, location_id=location.location_id, place=location.name, waiting=waiting, via=via
            )
        )
    if lead is not None:
        found.append(delivery_once_arrived(calendar, now, location_id=location.location_id, lead=lead, waiting=waiting))
    return [promise_message(promise) for promise in found if promise is not None]


def _lead(location: pb.Location, calendar: promising.Calendar, region: str) -> promising.Lead | None:
    """The lead time and carrier days of a delivery from the location to the region; None where it
    does not ship."""
    return calendar.carrier_lead(region, _country(region)) if location.ships else None


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
