"""A task's due time as staff read it: on the store's clock, and marked overdue while work owed the
customer is past it (a pickup ready at the desk waits for the customer, not for staff)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from jinja2 import Environment, FileSystemLoader
from omnistock_console.queue import Row
from omnistock_console.web import TEMPLATES, clock, zone_name

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def row(status: int, due: datetime, zone: str = "America/New_York") -> Row:
    task = fpb.Task(task_id="T-1", location_id="ST-1", kind=fpb.TASK_KIND_PICK, order_id="O-1", status=status)  # type: ignore[arg-type]
    task.promise_at.FromDatetime(due)
    return Row(task, [], zone=zone)


@pytest.mark.parametrize(
    ("status", "due", "overdue"),
    [
        (fpb.TASK_STATUS_OPEN, NOW - timedelta(minutes=1), True),
        (fpb.TASK_STATUS_PICKING, NOW - timedelta(hours=3), True),
        (fpb.TASK_STATUS_PACKED, NOW, True),
        (fpb.TASK_STATUS_OPEN, NOW + timedelta(minutes=1), False),
        (fpb.TASK_STATUS_READY_FOR_PICKUP, NOW - timedelta(hours=3), False),
    ],
)
def test_overdue_is_work_still_owed_past_its_due_time(status: int, due: datetime, overdue: bool) -> None:
    assert row(status, due).overdue(NOW) is overdue


def test_the_queue_shows_the_due_time_on_the_stores_clock_and_marks_it_overdue() -> None:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    env.filters.update(clock=clock, zone_name=zone_name)
    late = row(fpb.TASK_STATUS_OPEN, datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    html = env.get_template("_queue.html").render(rows=[late], live=True, staff=SimpleNamespace(location_id="ST-1"))
    # 09:00 UTC is 04:00 in New York, where the store is: not the server's or the device's clock.
    assert "Mon 07 Dec 04:00 America/New_York" in html
    assert 'data-zone="America/New_York"' in html
    assert 'data-due="2026-12-07T09:00:00+00:00"' in html
    assert "card status-open overdue" in html


def test_a_store_without_a_time_zone_is_read_in_utc() -> None:
    assert clock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "") == "Mon 07 Dec 09:00 UTC"
    assert clock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "Not/AZone") == "Mon 07 Dec 09:00 UTC"


def test_a_moment_late_in_the_utc_day_is_the_next_day_at_a_store_in_auckland() -> None:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    env.filters.update(clock=clock, zone_name=zone_name)
    moment = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)
    assert clock(moment, "Pacific/Auckland") == "Tue 08 Dec 00:30 Pacific/Auckland"
    macro = env.get_template("_macros.html").module.moment  # type: ignore[attr-defined]
    assert 'data-zone="Pacific/Auckland">Tue 08 Dec 00:30 Pacific/Auckland</time>' in str(
        macro(moment, "Pacific/Auckland")
    )
    # Without a zone the page says UTC, and the browser keeps it in UTC (not the device's zone).
    assert 'data-zone="UTC">Mon 07 Dec 11:30 UTC</time>' in str(macro(moment, ""))
