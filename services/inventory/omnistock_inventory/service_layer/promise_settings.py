"""Validating and storing a location's promise settings (docs/promises.md)."""

from __future__ import annotations

from collections.abc import Sequence

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.promising import parse_clock, parse_date, valid_time_zone
from omnistock_platform.validation import Validator

MAX_PREPARATION_MINUTES = 7 * 24 * 60
MAX_LEAD_DAYS = 60
MAX_INTERVALS_PER_DAY = 4
MAX_REGIONS = 200
MAX_DATES = 366
FIELD = "location.promise_settings"


def validate(check: Validator, settings: pb.PromiseSettings) -> None:
    """Every violation of `settings`, each naming its field."""
    if settings.time_zone and not valid_time_zone(settings.time_zone):
        check.fail(f"{FIELD}.time_zone", "is not an IANA time zone name (for example Europe/Berlin)")
    per_day: dict[int, list[tuple[int, int]]] = {}
    for index, interval in enumerate(settings.opening_hours):
        field = f"{FIELD}.opening_hours[{index}]"
        check.check(1 <= interval.weekday <= 7, f"{field}.weekday", "must be 1 (Monday) to 7 (Sunday)")
        span = _span(check, field, interval)
        if span is not None and 1 <= interval.weekday <= 7:
            _add_span(check, field, span, per_day.setdefault(interval.weekday, []), "weekday")
    check.check(
        0 <= settings.pickup_preparation_minutes <= MAX_PREPARATION_MINUTES,
        f"{FIELD}.pickup_preparation_minutes",
        f"must be between 0 and {MAX_PREPARATION_MINUTES}",
    )
    if settings.order_cutoff:
        check.check(parse_clock(settings.order_cutoff) is not None, f"{FIELD}.order_cutoff", "must be HH:MM")
    check.check(
        len(settings.carrier_lead_times) <= MAX_REGIONS, f"{FIELD}.carrier_lead_times", f"at most {MAX_REGIONS}"
    )
    regions: set[str] = set()
    for index, lead in enumerate(settings.carrier_lead_times[: MAX_REGIONS + 1]):
        field = f"{FIELD}.carrier_lead_times[{index}]"
        check.identifier(f"{field}.region", lead.region)
        check.check(len(lead.region) <= 64, f"{field}.region", "at most 64 characters")
        check.check(lead.region.upper() not in regions, f"{field}.region", "is given twice")
        regions.add(lead.region.upper())
        check.check(
            0 <= lead.business_days <= MAX_LEAD_DAYS, f"{field}.business_days", f"must be between 0 and {MAX_LEAD_DAYS}"
        )
        _weekdays(check, f"{field}.delivery_weekdays", lead.delivery_weekdays)
        _dates(check, f"{field}.closed_dates", lead.closed_dates)
    if settings.HasField("default_carrier_lead_days"):
        check.check(
            0 <= settings.default_carrier_lead_days <= MAX_LEAD_DAYS,
            f"{FIELD}.default_carrier_lead_days",
            f"must be between 0 and {MAX_LEAD_DAYS}",
        )
    _dates(check, f"{FIELD}.closed_dates", settings.closed_dates)
    _special_hours(check, settings)
    _weekdays(check, f"{FIELD}.carrier_delivery_weekdays", settings.carrier_delivery_weekdays)
    _dates(check, f"{FIELD}.carrier_closed_dates", settings.carrier_closed_dates)


def _weekdays(check: Validator, field: str, values: Sequence[int]) -> None:
    """A list of distinct ISO weekdays, at most 7."""
    check.check(len(values) <= 7, field, "at most 7")
    seen: set[int] = set()
    for index, weekday in enumerate(values[:8]):
        check.check(1 <= weekday <= 7, f"{field}[{index}]", "must be 1 (Monday) to 7 (Sunday)")
        check.check(weekday not in seen, f"{field}[{index}]", "is given twice")
        seen.add(weekday)


def _dates(check: Validator, field: str, values: Sequence[str]) -> None:
    """A list of distinct local dates, at most MAX_DATES."""
    check.check(len(values) <= MAX_DATES, field, f"at most {MAX_DATES} dates")
    seen: set[str] = set()
    for index, value in enumerate(values[: MAX_DATES + 1]):
        if parse_date(value) is None:
            check.fail(f"{field}[{index}]", "must be a date YYYY-MM-DD")
        elif value in seen:
            check.fail(f"{field}[{index}]", "is given twice")
        seen.add(value)


def _special_hours(check: Validator, settings: pb.PromiseSettings) -> None:
    """Opening intervals on single dates: like the weekly ones, never on a closed date."""
    check.check(len(settings.special_hours) <= MAX_DATES, f"{FIELD}.special_hours", f"at most {MAX_DATES} intervals")
    closed = set(settings.closed_dates)
    per_date: dict[str, list[tuple[int, int]]] = {}
    for index, interval in enumerate(settings.special_hours[: MAX_DATES + 1]):
        field = f"{FIELD}.special_hours[{index}]"
        day = parse_date(interval.date)
        check.check(day is not None, f"{field}.date", "must be a date YYYY-MM-DD")
        check.check(interval.date not in closed, f"{field}.date", "is a closed date")
        span = _span(check, field, interval)
        if span is not None and day is not None:
            _add_span(check, field, span, per_date.setdefault(interval.date, []), "date")


def _span(check: Validator, field: str, interval: pb.OpeningHours | pb.DateHours) -> tuple[int, int] | None:
    """An interval's opening and closing minutes of the day, None when either is not a clock time."""
    opens = parse_clock(interval.opens)
    closes = parse_clock(interval.closes, allow_midnight=True)
    check.check(opens is not None, f"{field}.opens", "must be HH:MM, 00:00 to 23:59")
    check.check(closes is not None, f"{field}.closes", "must be HH:MM, 00:01 to 24:00")
    return None if opens is None or closes is None else (opens, closes)


def _add_span(check: Validator, field: str, span: tuple[int, int], spans: list[tuple[int, int]], of: str) -> None:
    """One interval of a day (the same weekday, or the same date: `of`) among those before it: it closes
    after it opens, overlaps none of them, and there are at most MAX_INTERVALS_PER_DAY."""
    opens, closes = span
    if closes <= opens:
        check.fail(f"{field}.closes", "must be after opens")
        return
    if any(opens < other_closes and other_opens < closes for other_opens, other_closes in spans):
        check.fail(field, f"overlaps another interval of the same {of}")
    spans.append(span)
    if len(spans) == MAX_INTERVALS_PER_DAY + 1:
        check.fail(field, f"at most {MAX_INTERVALS_PER_DAY} intervals per {of}")
