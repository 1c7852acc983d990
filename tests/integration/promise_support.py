"""Calendars for promise tests whose dates cannot turn while a test runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from omnistock.inventory.v1 import inventory_pb2 as inv


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
