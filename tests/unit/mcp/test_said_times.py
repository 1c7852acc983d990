"""The moments the chat agent passes on to a customer, in the store's time and naming its zone: at a
store in Auckland, 11:30 UTC on Monday is already Tuesday."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from omnistock_mcp.tools import _day, _local


def stamp(moment: datetime) -> Timestamp:
    found = Timestamp()
    found.FromDatetime(moment)
    return found


MONDAY_LATE_MORNING_UTC = stamp(datetime(2026, 12, 7, 11, 30, tzinfo=UTC))


def test_the_day_a_transfer_arrives_is_the_stores_day() -> None:
    assert _day(MONDAY_LATE_MORNING_UTC, "Pacific/Auckland") == "Tuesday 8 December"
    assert _day(MONDAY_LATE_MORNING_UTC, "America/Los_Angeles") == "Monday 7 December"
    assert _day(MONDAY_LATE_MORNING_UTC, "") == "Monday 7 December"


def test_a_moment_is_said_on_the_stores_clock_with_its_zone() -> None:
    assert _local(MONDAY_LATE_MORNING_UTC, "Pacific/Auckland") == "Tuesday 8 December at 00:30 Pacific/Auckland time"
    assert _local(MONDAY_LATE_MORNING_UTC, "") == "Monday 7 December at 11:30 UTC time"
    assert _local(Timestamp(), "Pacific/Auckland") == ""
