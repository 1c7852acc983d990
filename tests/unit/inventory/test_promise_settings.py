"""A location's promise settings: weekly and dated opening intervals are checked by one rule."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.promise_settings import FIELD, validate
from omnistock_platform.validation import Validator


def violations(settings: pb.PromiseSettings) -> list[tuple[str, str]]:
    check = Validator()
    validate(check, settings)
    return [(v.field.removeprefix(FIELD + "."), v.description) for v in check.violations]


def weekly(*spans: tuple[str, str]) -> pb.PromiseSettings:
    return pb.PromiseSettings(opening_hours=[pb.OpeningHours(weekday=1, opens=o, closes=c) for o, c in spans])


def dated(*spans: tuple[str, str]) -> pb.PromiseSettings:
    return pb.PromiseSettings(special_hours=[pb.DateHours(date="2026-12-31", opens=o, closes=c) for o, c in spans])


@pytest.mark.parametrize(
    ("settings", "field", "of"), [(weekly, "opening_hours", "weekday"), (dated, "special_hours", "date")]
)
def test_weekly_and_dated_intervals_follow_the_same_rule(
    settings: Callable[..., pb.PromiseSettings], field: str, of: str
) -> None:
    assert violations(settings(("09:00", "13:00"), ("14:00", "24:00"))) == []
    assert violations(settings(("9am", "25:00"))) == [
        (f"{field}[0].opens", "must be HH:MM, 00:00 to 23:59"),
        (f"{field}[0].closes", "must be HH:MM, 00:01 to 24:00"),
    ]
    # Digits that are not ASCII ("²" cannot even be read as a number): not HH:MM either.
    assert violations(settings(("²³:00", "\uff12\uff13:\uff13\uff10"))) == [  # fullwidth 23:30 closes
        (f"{field}[0].opens", "must be HH:MM, 00:00 to 23:59"),
        (f"{field}[0].closes", "must be HH:MM, 00:01 to 24:00"),
    ]
    assert violations(settings(("13:00", "09:00"))) == [(f"{field}[0].closes", "must be after opens")]
    assert violations(settings(("09:00", "13:00"), ("12:00", "18:00"))) == [
        (f"{field}[1]", f"overlaps another interval of the same {of}")
    ]
    five = [(f"{h:02d}:00", f"{h:02d}:30") for h in range(8, 13)]
    assert violations(settings(*five)) == [(f"{field}[4]", f"at most 4 intervals per {of}")]


def test_a_bad_weekday_or_date_is_named_beside_its_times() -> None:
    bad_day = pb.PromiseSettings(opening_hours=[pb.OpeningHours(weekday=8, opens="13:00", closes="09:00")])
    assert violations(bad_day) == [("opening_hours[0].weekday", "must be 1 (Monday) to 7 (Sunday)")]
    closed = pb.PromiseSettings(
        closed_dates=["2026-12-31"], special_hours=[pb.DateHours(date="2026-12-31", opens="09:00", closes="12:00")]
    )
    assert violations(closed) == [("special_hours[0].date", "is a closed date")]
    assert violations(pb.PromiseSettings(order_cutoff="1⁴:00")) == [("order_cutoff", "must be HH:MM")]
    bad_date = pb.PromiseSettings(special_hours=[pb.DateHours(date="31.12.", opens="13:00", closes="09:00")])
    assert violations(bad_date) == [("special_hours[0].date", "must be a date YYYY-MM-DD")]


def test_a_regions_carrier_days_are_checked_like_the_locations() -> None:
    lead = pb.CarrierLeadTime(
        region="DE-BY",
        business_days=2,
        delivery_weekdays=[1, 8, 1],
        closed_dates=["2026-08-15", "15.08.", "2026-08-15"],
    )
    settings = pb.PromiseSettings(
        carrier_lead_times=[pb.CarrierLeadTime(region="DE-BE", business_days=1), lead],
        carrier_delivery_weekdays=[0],
        carrier_closed_dates=["2026-02-30"],
    )
    assert violations(settings) == [
        ("carrier_lead_times[1].delivery_weekdays[1]", "must be 1 (Monday) to 7 (Sunday)"),
        ("carrier_lead_times[1].delivery_weekdays[2]", "is given twice"),
        ("carrier_lead_times[1].closed_dates[1]", "must be a date YYYY-MM-DD"),
        ("carrier_lead_times[1].closed_dates[2]", "is given twice"),
        ("carrier_delivery_weekdays[0]", "must be 1 (Monday) to 7 (Sunday)"),
        ("carrier_closed_dates[0]", "must be a date YYYY-MM-DD"),
    ]
    eight = pb.CarrierLeadTime(region="DE", business_days=1, delivery_weekdays=[1, 2, 3, 4, 5, 6, 7, 1])
    assert ("carrier_lead_times[0].delivery_weekdays", "at most 7") in violations(
        pb.PromiseSettings(carrier_lead_times=[eight])
    )
    fine = pb.CarrierLeadTime(region="DE", business_days=1, delivery_weekdays=[6, 1], closed_dates=["2026-12-24"])
    assert violations(pb.PromiseSettings(carrier_lead_times=[fine])) == []
