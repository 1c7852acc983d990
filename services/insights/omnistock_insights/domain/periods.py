"""Days and weeks of a report, in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_SPAN = timedelta(days=29)


class Grouping(StrEnum):
    DAY = "day"
    # ISO weeks: Monday to Sunday.
    WEEK = "week"
    # The whole range as one period.
    RANGE = "range"


def parse_day(text: str) -> date:
    """A YYYY-MM-DD day; ValueError otherwise."""
    if not _DAY.match(text):
        raise ValueError(f"{text!r} is not a YYYY-MM-DD day")
    return date.fromisoformat(text)


@dataclass(frozen=True)
class DateRange:
    first: date
    last: date

    @classmethod
    def of(cls, first: date | None, last: date | None, today: date) -> DateRange:
        end = last or today
        return cls(first or end - DEFAULT_SPAN, end)

    def period_key(self, day: date, grouping: Grouping) -> date:
        """The day a period is known by: itself, the Monday of its week, or the range's first day."""
        if grouping is Grouping.RANGE:
            return self.first
        return day - timedelta(days=day.weekday()) if grouping is Grouping.WEEK else day

    def period_span(self, key: date, grouping: Grouping) -> tuple[date, date]:
        """The days of the period that lie within the range."""
        if grouping is Grouping.DAY:
            return key, key
        if grouping is Grouping.RANGE:
            return self.first, self.last
        return max(key, self.first), min(key + timedelta(days=6), self.last)
