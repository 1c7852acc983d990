"""Promise dates: when a customer can have an option, from a location's calendar (docs/promises.md).

Pure: no I/O and no clock of its own (``now`` is passed in, so tests freeze it). Inventory
(FindAvailability), orders (QuoteRouting, CreateOrder, re-routes) and reservations
(CreateReservation) all compute their promises here, so the same state and clock give the same
date wherever it is asked.

- **Handling** of an order placed at ``now`` starts at the first opening moment from ``now``;
  placed at or after the location's order cut-off (local time), from its next opening day.
- **Pickup from stock**: ready once ``preparation`` of opening time has passed after handling
  starts; always inside an opening interval, never at its closing moment.
- **Pickup via transfer or on receipt**: the same, counted from the first opening moment at or
  after the units' arrival (or handling, whichever is later); arrivals have no cut-off.
- **Delivery**: the ship-from location dispatches on the local day handling starts; the carrier
  takes its lead business days (its delivery weekdays, Monday to Friday unless set, less the dates
  it does not deliver) for the destination region from there. A region's lead entry may name its
  own delivery weekdays and closed dates; unset, the location's apply.
- **Closed dates** (holidays, one-off closures) have no opening time, so nothing is handled,
  dispatched or ready for pickup on one; a date with special hours has those instead of its
  weekday's.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

MINUTES_PER_DAY = 24 * 60
DEFAULT_LEAD_DAYS = 2
MONDAY_TO_FRIDAY = frozenset(range(1, 6))


class Kind(Enum):
    PICKUP = "pickup"
    PICKUP_VIA_TRANSFER = "pickup_via_transfer"
    PICKUP_ON_RECEIPT = "pickup_on_receipt"
    DELIVERY = "delivery"


def valid_time_zone(name: str) -> bool:
    """An IANA zone name this machine's zone database knows ("UTC" included)."""
    if not name or name != name.strip() or name.startswith("/") or ".." in name:
        return False
    if name in available_timezones() or name == "UTC":
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_clock(value: str, *, allow_midnight: bool = False) -> int | None:
    """Minutes after midnight of "HH:MM" (00:00 to 23:59; "24:00" where allowed), None when malformed."""
    hours, sep, minutes = value.partition(":")
    # ASCII digits only, as parse_date reads dates: isdigit() alone also takes "²", which int() cannot read.
    digits = hours + minutes
    if not sep or len(hours) != 2 or len(minutes) != 2 or not (digits.isascii() and digits.isdigit()):
        return None
    total = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60:
        return None
    if total < MINUTES_PER_DAY or (allow_midnight and total == MINUTES_PER_DAY):
        return total
    return None


def parse_date(value: str) -> date | None:
    """The date of "YYYY-MM-DD" (exactly that form), None when malformed or not a real date."""
    if len(value) != 10 or value[4] != "-" or value[7] != "-" or not (value[:4] + value[5:7] + value[8:]).isdigit():
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Lead:
    """What a delivery to one destination depends on besides the dispatch day: the carrier's
    business days there, the ISO weekdays it delivers on and the dates it does not."""

    days: int
    weekdays: frozenset[int] = MONDAY_TO_FRIDAY
    closed: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Calendar:
    """A location's calendar and lead times. Empty ``hours``: open every day around the clock."""

    time_zone: str = "UTC"
    # ISO weekday (1 Monday .. 7 Sunday) -> opening intervals in minutes after local midnight.
    hours: Mapping[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    preparation: timedelta = timedelta(0)
    cutoff: int | None = None  # minutes after local midnight; None: no cut-off
    lead_days: Mapping[str, int] = field(default_factory=dict)  # region (upper-case) -> business days
    default_lead_days: int = DEFAULT_LEAD_DAYS
    # Local dates without opening time (holidays, one-off closures); finitely many, so the weekly
    # hours open again after them and every search for an opening stops.
    closed: frozenset[date] = frozenset()
    # Local dates with their own opening intervals instead of their weekday's (reduced hours).
    special: Mapping[date, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    # ISO weekdays the carrier delivers on, and dates it does not (public holidays).
    delivery_weekdays: frozenset[int] = MONDAY_TO_FRIDAY
    carrier_closed: frozenset[date] = frozenset()
    # Region (upper-case) -> its own carrier weekdays / closed dates, where its lead entry sets
    # them; None (or absent): the location's above.
    region_weekdays: Mapping[str, frozenset[int]] = field(default_factory=dict)
    region_closed: Mapping[str, frozenset[date]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.hours and not any(self.hours.values()):
            raise ValueError("a calendar with opening hours needs at least one interval")
        for weekday, intervals in self.hours.items():
            if not 1 <= weekday <= 7:
                raise ValueError(f"weekday {weekday} is not 1 to 7")
            for opens, closes in intervals:
                if not 0 <= opens < closes <= MINUTES_PER_DAY:
                    raise ValueError(f"interval {opens}-{closes} on weekday {weekday} is empty or beyond the day")
        for day, intervals in self.special.items():
            for opens, closes in intervals:
                if not 0 <= opens < closes <= MINUTES_PER_DAY:
                    raise ValueError(f"interval {opens}-{closes} on {day} is empty or beyond the day")
        for weekdays in (self.delivery_weekdays, *self.region_weekdays.values()):
            if not weekdays or not weekdays <= frozenset(range(1, 8)):
                raise ValueError("delivery weekdays must be some of 1 to 7")
        if self.preparation < timedelta(0):
            raise ValueError("preparation must not be negative")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone or "UTC")

    def lead_for(self, region: str = "", country: str = "") -> int:
        """Business days to the region, else to the country, else the default."""
        for key in (region, country):
            if key and key.upper() in self.lead_days:
                return self.lead_days[key.upper()]
        return self.default_lead_days

    def carrier_lead(self, region: str = "", country: str = "") -> Lead:
        """The lead to the region, else to the country, else the default, with the carrier days of
        the entry that matched (its own weekdays and closed dates where set, else the location's)."""
        for key in (region, country):
            if key and key.upper() in self.lead_days:
                key = key.upper()
                return Lead(
                    self.lead_days[key],
                    self.region_weekdays.get(key, self.delivery_weekdays),
                    self.region_closed.get(key, self.carrier_closed),
                )
        return Lead(self.default_lead_days, self.delivery_weekdays, self.carrier_closed)

    def intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Opening intervals (UTC) from the local day of ``start`` on, in order, without end: every
        week has opening time (``__post_init__``) and closed dates are finitely many, so a search
        for an opening or for the end of finite work stops."""
        zone = self.zone
        first = start.astimezone(zone).date()
        for offset in itertools.count():
            day = first + timedelta(days=offset)
            for opens, closes in self.spans(day):
                yield _moment(day, opens, zone), _moment(day, closes, zone)

    def spans(self, day: date) -> tuple[tuple[int, int], ...]:
        """The opening intervals of one local date, in minutes after its midnight, in order."""
        if day in self.closed:
            return ()
        if day in self.special:
            return tuple(sorted(self.special[day]))
        if not self.hours:
            return ((0, MINUTES_PER_DAY),)
        return tuple(sorted(self.hours.get(day.isoweekday(), ())))

    def open_at(self, moment: datetime) -> bool:
        """Inside an opening interval (its closing moment excluded)."""
        for opens, closes in self.intervals(moment - timedelta(days=1)):
            if opens > moment:
                return False
            if moment < closes:
                return True
        raise AssertionError("unreachable: intervals never end")

    def first_open(self, moment: datetime) -> datetime:
        """The first moment at or after ``moment`` inside an opening interval."""
        for opens, closes in self.intervals(moment - timedelta(days=1)):
            if closes > moment:
                return max(opens, moment)
        raise AssertionError("unreachable: intervals never end")

    def handling_start(self, now: datetime) -> datetime:
        """When work on an order placed at ``now`` begins: the cut-off moves it to the next day.
        The cut-off has passed once the clock has shown it: by the local time, or by the moment it
        first struck (in the hour repeated when clocks go back, the second pass reads earlier on the
        clock but is later, so a later order is never handled sooner)."""
        local = now.astimezone(self.zone)
        if self.cutoff is not None and (
            local.hour * 60 + local.minute >= self.cutoff or now >= _moment(local.date(), self.cutoff, self.zone)
        ):
            now = _moment(local.date() + timedelta(days=1), 0, self.zone)
        return self.first_open(now)

    def after_work(self, start: datetime, work: timedelta) -> datetime:
        """The moment ``work`` of opening time is done when begun at ``start`` (an opening moment);
        strictly before an interval's close, so the result is always open."""
        remaining = work
        for opens, closes in self.intervals(start - timedelta(days=1)):
            if closes <= start:
                continue
            begin = max(opens, start)
            if remaining < closes - begin:
                return begin + remaining
            remaining -= closes - begin
        raise AssertionError("unreachable: intervals never end")


@functools.lru_cache(maxsize=65536)
def _moment(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """Local ``day`` at ``minutes`` after midnight (1440: the next midnight), in UTC."""
    extra, minutes = divmod(minutes, MINUTES_PER_DAY)
    local = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Promise:
    kind: Kind
    at: datetime  # UTC
    location_id: str
    time_zone: str
    local_date: date
    local_time: str  # "HH:MM"; empty for a delivery
    wording: str


def pickup(
    calendar: Calendar,
    now: datetime,
    *,
    location_id: str,
    place: str,
    arrival: datetime | None = None,
    kind: Kind = Kind.PICKUP,
    via: str = "",
) -> Promise:
    """Ready for pickup: preparation after handling starts, or after the units arrive if later."""
    _aware(now)
    start = calendar.handling_start(now)
    if arrival is not None:
        start = max(start, calendar.first_open(max(_aware(arrival), now)))
    ready = calendar.after_work(start, calendar.preparation)
    local = ready.astimezone(calendar.zone)
    clock = local.strftime("%H:%M")
    day = _day_words(local.date(), now.astimezone(calendar.zone).date(), preposition=True)
    wording = f"ready for pickup at {place} {day} from {clock}"
    if kind is Kind.PICKUP_VIA_TRANSFER:
        wording += f" via transfer from {via}" if via else " via transfer"
    elif kind is Kind.PICKUP_ON_RECEIPT:
        wording += " once the expected delivery arrives"
    return Promise(kind, ready, location_id, calendar.time_zone or "UTC", local.date(), clock, wording)


def delivery(
    calendar: Calendar, now: datetime, *, location_id: str, lead_days: int | Lead, arrival: datetime | None = None
) -> Promise:
    """Delivered ``lead_days`` business days after the ship-from location's dispatch day: the day
    handling starts, from ``now`` or, for units still on their way there, from their ``arrival``.
    A ``Lead`` (``Calendar.carrier_lead``) brings the destination's carrier days; a bare number of
    days counts the location's."""
    lead = (
        lead_days
        if isinstance(lead_days, Lead)
        else Lead(lead_days, calendar.delivery_weekdays, calendar.carrier_closed)
    )
    if lead.days < 0:
        raise ValueError("lead_days must not be negative")
    _aware(now)
    zone = calendar.zone
    ready = max(now, _aware(arrival)) if arrival is not None else now
    dispatched = calendar.handling_start(ready).astimezone(zone).date()
    day = add_business_days(dispatched, lead.days, weekdays=lead.weekdays, closed=lead.closed)
    at = _moment(day, 0, zone)
    wording = f"delivered {_day_words(day, now.astimezone(zone).date(), preposition=False)}"
    return Promise(Kind.DELIVERY, at, location_id, calendar.time_zone or "UTC", day, "", wording)


def add_business_days(
    day: date, count: int, *, weekdays: frozenset[int] = MONDAY_TO_FRIDAY, closed: frozenset[date] = frozenset()
) -> date:
    """``count`` carrier delivery days after ``day``: dates on one of ``weekdays`` and not in
    ``closed`` (a dispatch on a day without delivery counts from the next delivery day). With no
    days to count (a same-day carrier) it is the first delivery day from ``day`` on: a carrier that
    does not deliver on the dispatch day delivers on its next delivery day, never that day."""
    if not weekdays:
        raise ValueError("a carrier needs at least one delivery weekday")

    def delivers(on: date) -> bool:
        return on.isoweekday() in weekdays and on not in closed

    if count == 0:
        while not delivers(day):
            day += timedelta(days=1)
        return day
    while count > 0:
        day += timedelta(days=1)
        if delivers(day):
            count -= 1
    return day


def wording_on(wording: str, *, local_date: date, local_time: str, today: date) -> str:
    """A kept promise's wording as said on the local date ``today``: its day ("today", "tomorrow",
    "on Thursday 10 Dec") was said of the day it was made, and a customer who reads it on another
    day must hear the day it names. A pickup (``local_time`` set) says its day just before "from"
    and the time, a delivery after "delivered"; a wording of any other shape is kept as it is."""
    said_then = ("today", "tomorrow", _absolute(local_date))
    if local_time:
        for said in (*said_then[:2], f"on {said_then[2]}"):
            head, found, tail = wording.partition(f" {said} from {local_time}")
            if found and head.startswith("ready for pickup at "):
                return f"{head} {_day_words(local_date, today, preposition=True)} from {local_time}{tail}"
    elif wording.startswith("delivered ") and wording.removeprefix("delivered ") in said_then:
        return f"delivered {_day_words(local_date, today, preposition=False)}"
    return wording


def latest(promises: list[Promise]) -> Promise | None:
    """The promise of a whole made of parts: the last part's (ties: the first such location)."""
    return max(promises, key=lambda promise: promise.at, default=None)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("promises need time-zone aware moments")
    return moment


def _day_words(day: date, today: date, *, preposition: bool) -> str:
    if day == today:
        return "today"
    if day == today + timedelta(days=1):
        return "tomorrow"
    return f"on {_absolute(day)}" if preposition else _absolute(day)


def _absolute(day: date) -> str:
    return f"{day.strftime('%A')} {day.day} {day.strftime('%b')}"


__all__ = [
    "MONDAY_TO_FRIDAY",
    "Calendar",
    "Kind",
    "Lead",
    "Promise",
    "add_business_days",
    "delivery",
    "latest",
    "parse_clock",
    "parse_date",
    "pickup",
    "valid_time_zone",
    "wording_on",
]
