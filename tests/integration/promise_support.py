"""Calendars for promise tests whose dates cannot turn while a test runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock_platform.testing.stack import Stack, unique_id


def midday_zone() -> str:
    """An IANA zone where it is now about midday (Etc/GMT-N is N hours east of UTC), so that a
    test's "today" and "tomorrow" cannot turn while it runs."""
    offset = 12 - datetime.now(UTC).hour
    if offset == 0:
        return "UTC"
    return f"Etc/GMT-{offset}" if offset > 0 else f"Etc/GMT+{-offset}"


def local_today(zone: str) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


def every_day(opens: str, closes: str) -> list[inv.OpeningHours]:
    return [inv.OpeningHours(weekday=weekday, opens=opens, closes=closes) for weekday in range(1, 8)]


def next_business_day(after: date, count: int = 1) -> date:
    day = after
    while count:
        day += timedelta(days=1)
        if day.isoweekday() <= 5:
            count -= 1
    return day


# Zones far from UTC, both ways: whatever the hour, in one of them a moment falls on another day
# than in UTC (Kiritimati from 10:00 UTC on, Pago Pago before 11:00 UTC).
FAR_ZONES = ("Pacific/Auckland", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago")


def far_zone(moment: datetime) -> str:
    """A zone far from UTC where `moment` falls on another day than in UTC: a time shown on the wrong
    clock then shows the wrong day too."""
    for zone in FAR_ZONES:
        if moment.astimezone(ZoneInfo(zone)).date() != moment.astimezone(UTC).date():
            return zone
    raise AssertionError(f"no zone of {FAR_ZONES} puts {moment} on another day")


def at_utc_hour(hour: int, *, after: timedelta) -> datetime:
    """The first moment at `hour`:00 UTC at least `after` from now (a hold that ends then ends at a
    known time of day, whenever the test runs)."""
    start = datetime.now(UTC) + after
    moment = start.replace(hour=hour, minute=0, second=0, microsecond=0)
    return moment if moment >= start else moment + timedelta(days=1)


async def set_time_zone(stack: Stack, location_id: str, zone: str) -> None:
    """The location's promises (and the times people there read) on the clock of `zone`."""
    inventory = stack.stub("inventory", role="admin")
    location = (await inventory.GetLocation(inv.GetLocationRequest(location_id=location_id))).location
    location.promise_settings.time_zone = zone
    await inventory.UpsertLocation(inv.UpsertLocationRequest(request_id=unique_id("zone-"), location=location))
