"""GetChannelInsights: the figures of a date range, by period, channel and location."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

from omnistock.insights.v1 import insights_pb2
from omnistock_insights.adapters import report
from omnistock_insights.adapters.events import CHANNELS, channel_name
from omnistock_insights.adapters.messages import insights_row
from omnistock_insights.adapters.report import ReportFilter, RowKey
from omnistock_insights.domain.periods import DateRange, Grouping, parse_day
from omnistock_platform.auth import current_principal, require_location
from omnistock_platform.db import Database
from omnistock_platform.errors import InvalidArgument, PermissionDenied, Reason
from omnistock_platform.paging import parts_token, token_parts
from omnistock_platform.validation import Validator

EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)
_GROUPINGS = {
    insights_pb2.GROUP_BY_UNSPECIFIED: Grouping.DAY,
    insights_pb2.GROUP_BY_DAY: Grouping.DAY,
    insights_pb2.GROUP_BY_WEEK: Grouping.WEEK,
    insights_pb2.GROUP_BY_RANGE: Grouping.RANGE,
}
# (by channel, by location) for each breakdown.
_BREAKDOWNS = {
    insights_pb2.BREAKDOWN_UNSPECIFIED: (True, True),
    insights_pb2.BREAKDOWN_CHANNEL_AND_LOCATION: (True, True),
    insights_pb2.BREAKDOWN_CHANNEL: (True, False),
    insights_pb2.BREAKDOWN_LOCATION: (False, True),
    insights_pb2.BREAKDOWN_NONE: (False, False),
}


class ChannelInsightsReport:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, request: insights_pb2.GetChannelInsightsRequest) -> insights_pb2.GetChannelInsightsResponse:
        where, page_size = _validated(request)
        principal = current_principal()
        if principal.location_scoped:
            if not where.location_id:
                raise PermissionDenied(
                    f"{principal.role} staff see the figures of one of their locations: name it",
                    reason=Reason.LOCATION_NOT_ALLOWED,
                )
            require_location(where.location_id)
        after = _after(request.page_token, where)
        rows = await report.rows(self.db.pool, where, after, page_size + 1)
        response = insights_pb2.GetChannelInsightsResponse(
            rows=[insights_row(row, where.dates, where.grouping) for row in rows[:page_size]]
        )
        if len(rows) > page_size:
            response.next_page_token = _token(rows[page_size - 1].key, where)
        return response


def _validated(request: insights_pb2.GetChannelInsightsRequest) -> tuple[ReportFilter, int]:
    check = Validator()
    check.check(request.channel in CHANNELS, "channel", f"unknown value {request.channel}")
    check.identifier("location_id", request.location_id, required=False)
    check.check(request.group_by in _GROUPINGS, "group_by", f"unknown value {request.group_by}")
    check.check(request.breakdown in _BREAKDOWNS, "breakdown", f"unknown value {request.breakdown}")
    page_size = check.page_size("page_size", request.page_size)
    days: dict[str, date | None] = {}
    for name in ("from_date", "to_date"):
        text = getattr(request, name)
        try:
            days[name] = parse_day(text) if text else None
        except ValueError:
            check.fail(name, "must be a day as YYYY-MM-DD")
            days[name] = None
        found = days[name]
        if found is not None and not EARLIEST_DAY <= found <= LATEST_DAY:
            # Dates near the ends of the calendar overflow the default span and the week arithmetic.
            check.fail(name, f"must be between {EARLIEST_DAY} and {LATEST_DAY}")
            days[name] = None
    dates = DateRange.of(days["from_date"], days["to_date"], datetime.now(UTC).date())
    check.check(dates.first <= dates.last, "from_date", "must not be after to_date")
    check.raise_if_invalid()
    by_channel, by_location = _BREAKDOWNS[request.breakdown]
    where = ReportFilter(
        dates=dates,
        grouping=_GROUPINGS[request.group_by],
        channel=channel_name(request.channel) if request.channel else "",
        location_id=request.location_id,
        by_channel=by_channel,
        by_location=by_location,
    )
    return where, page_size


def _fingerprint(where: ReportFilter) -> str:
    described: list[object] = [where.dates.first.isoformat(), where.dates.last.isoformat(), where.grouping]
    described += [where.channel, where.location_id, [where.by_channel, where.by_location]]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]


def _token(key: RowKey, where: ReportFilter) -> str:
    return parts_token(key[0].isoformat(), key[1], key[2], _fingerprint(where))


def _after(token: str, where: ReportFilter) -> RowKey | None:
    """Where the previous page stopped. A token is only good for the query that made it: besides the
    request (`paging`), the dates it stood for (a range left open ends today, so it moves at midnight)."""
    if not token:
        return None
    day, channel, location, query = token_parts(token, 4)
    try:
        key: RowKey = (date.fromisoformat(day), channel, location)
    except ValueError as error:
        raise InvalidArgument.of("page_token", "is not a token this service made") from error
    if query != _fingerprint(where):
        raise InvalidArgument.of("page_token", "belongs to a different query")
    return key
