"""The promise calculator on a frozen clock: examples in Berlin, and the rules as properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock.inventory.v1 import inventory_pb2
from omnistock_platform.promise_messages import Awaited, awaited, beyond_shelf, calendar_of, promise_message
from omnistock_platform.promising import (
    Calendar,
    Kind,
    Lead,
    Promise,
    add_business_days,
    delivery,
    parse_clock,
    parse_date,
    pickup,
    valid_time_zone,
    wording_on,
)

BERLIN = "Europe/Berlin"
WEEKDAYS_10_TO_20 = {weekday: ((600, 1200),) for weekday in range(1, 7)}  # Mon-Sat 10:00-20:00, Sunday closed
MITTE = Calendar(time_zone=BERLIN, hours=WEEKDAYS_10_TO_20, preparation=timedelta(hours=2), cutoff=18 * 60)


def berlin(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Berlin wall-clock time in December (UTC+1) as a UTC moment."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=1)


def test_pickup_today_after_preparation() -> None:
    # Monday 7 Dec 2026, 14:00 in Berlin.
    promise = pickup(MITTE, berlin(2026, 12, 7, 14), location_id="STORE-MITTE", place="Mitte")
    assert promise.at == berlin(2026, 12, 7, 16)
    assert promise.wording == "ready for pickup at Mitte today from 16:00"
    assert (promise.local_date, promise.local_time, promise.time_zone) == (date(2026, 12, 7), "16:00", BERLIN)


def test_pickup_before_opening_starts_at_opening() -> None:
    promise = pickup(MITTE, berlin(2026, 12, 7, 6), location_id="S", place="Mitte")
    assert promise.at == berlin(2026, 12, 7, 12)


def test_preparation_running_past_closing_finishes_the_next_opening_day() -> None:
    # Saturday 12 Dec at 19:00, no cut-off: 1 h left today, one more hour Monday (Sunday closed).
    no_cutoff = Calendar(time_zone=BERLIN, hours=WEEKDAYS_10_TO_20, preparation=timedelta(hours=2))
    promise = pickup(no_cutoff, berlin(2026, 12, 12, 19), location_id="S", place="Mitte")
    assert promise.at == berlin(2026, 12, 14, 11)
    assert promise.wording == "ready for pickup at Mitte on Monday 14 Dec from 11:00"


def test_after_the_cut_off_handling_starts_the_next_opening_day() -> None:
    promise = pickup(MITTE, berlin(2026, 12, 7, 18, 30), location_id="S", place="Mitte")
    assert promise.at == berlin(2026, 12, 8, 12)
    assert promise.wording == "ready for pickup at Mitte tomorrow from 12:00"


def test_the_cut_off_in_the_hour_clocks_go_back_holds_for_its_second_pass() -> None:
    # 25 Oct 2026: Berlin goes from 03:00 CEST back to 02:00 CET, so 02:00-03:00 is shown twice.
    night = Calendar(time_zone=BERLIN, preparation=timedelta(minutes=30), cutoff=2 * 60 + 30)
    first_pass = datetime(2026, 10, 25, 0, 40, tzinfo=UTC)  # 02:40 CEST: past the cut-off
    second_pass = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET: later, though the clock reads earlier
    assert night.handling_start(first_pass) == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # 26 Oct 00:00 CET
    assert night.handling_start(second_pass) == night.handling_start(first_pass)


def test_pickup_via_transfer_counts_from_the_arrival() -> None:
    arrival = berlin(2026, 12, 10, 9)  # Thursday, before opening
    promise = pickup(
        MITTE,
        berlin(2026, 12, 7, 14),
        location_id="S",
        place="Mitte",
        arrival=arrival,
        kind=Kind.PICKUP_VIA_TRANSFER,
        via="the warehouse",
    )
    assert promise.at == berlin(2026, 12, 10, 12)
    assert promise.wording == "ready for pickup at Mitte on Thursday 10 Dec from 12:00 via transfer from the warehouse"


def test_delivery_in_business_days_from_dispatch() -> None:
    warehouse = Calendar(time_zone=BERLIN, cutoff=15 * 60, lead_days={"DE-BE": 1, "DE": 2}, default_lead_days=4)
    monday_noon = berlin(2026, 12, 7, 12)
    assert delivery(warehouse, monday_noon, location_id="WH", lead_days=warehouse.lead_for("DE-BE")).local_date == date(
        2026, 12, 8
    )
    assert warehouse.lead_for("de-by", "de") == 2
    assert warehouse.lead_for("", "FR") == 4
    # Thursday after the cut-off: dispatched Friday, 2 business days: Tuesday.
    late = delivery(warehouse, berlin(2026, 12, 10, 16), location_id="WH", lead_days=2)
    assert late.local_date == date(2026, 12, 15)
    assert late.wording == "delivered Tuesday 15 Dec"
    assert late.local_time == ""
    # Wednesday noon, 2 days: Friday.
    assert delivery(warehouse, berlin(2026, 12, 9, 12), location_id="WH", lead_days=2).wording == (
        "delivered Friday 11 Dec"
    )


def test_time_zones_are_the_locations() -> None:
    new_york = Calendar(time_zone="America/New_York", hours={d: ((540, 1020),) for d in range(1, 8)})
    # 14:00 UTC is 09:00 in New York in December: open.
    promise = pickup(new_york, datetime(2026, 12, 7, 14, tzinfo=UTC), location_id="NY", place="Soho")
    assert (promise.local_time, promise.at) == ("09:00", datetime(2026, 12, 7, 14, tzinfo=UTC))


def test_settings_message_to_calendar_and_promise_message() -> None:
    settings_message = inventory_pb2.PromiseSettings(
        time_zone=BERLIN,
        opening_hours=[inventory_pb2.OpeningHours(weekday=1, opens="10:00", closes="24:00")],
        pickup_preparation_minutes=30,
        order_cutoff="17:30",
        carrier_lead_times=[inventory_pb2.CarrierLeadTime(region="de-be", business_days=1)],
    )
    calendar = calendar_of(settings_message)
    assert calendar.hours == {1: ((600, 1440),)}
    assert calendar.cutoff == 17 * 60 + 30
    assert calendar.lead_for("DE-BE") == 1 and calendar.default_lead_days == 2
    message = promise_message(pickup(calendar, berlin(2026, 12, 7, 9), location_id="S", place="Mitte"))
    assert (message.local_date, message.local_time, message.location_id) == ("2026-12-07", "10:30", "S")
    assert message.at.ToDatetime(tzinfo=UTC) == berlin(2026, 12, 7, 10, 30)


def test_clock_and_zone_validation() -> None:
    assert parse_clock("09:05") == 545
    assert parse_clock("24:00") is None and parse_clock("24:00", allow_midnight=True) == 1440
    for bad in ("9:00", "12:60", "ab:cd", "1200", ""):
        assert parse_clock(bad) is None
    assert valid_time_zone("Europe/Berlin") and valid_time_zone("UTC")
    assert not valid_time_zone("Mars/Olympus") and not valid_time_zone("../etc/passwd") and not valid_time_zone("")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        pickup(MITTE, datetime(2026, 12, 7, 12), location_id="S", place="Mitte")


def test_no_pickup_or_dispatch_on_closed_dates() -> None:
    # Wednesday 23 Dec 2026, 19:00: Christmas Eve and Day closed, Saturday 26 Dec from 12:00 only.
    christmas = Calendar(
        time_zone=BERLIN,
        hours=WEEKDAYS_10_TO_20,
        preparation=timedelta(hours=2),
        closed=frozenset({date(2026, 12, 24), date(2026, 12, 25)}),
        special={date(2026, 12, 26): ((720, 960),)},
    )
    promise = pickup(christmas, berlin(2026, 12, 23, 19), location_id="S", place="Mitte")
    # One hour on the 23rd, the second on the 26th from its late opening.
    assert promise.at == berlin(2026, 12, 26, 13)
    assert promise.wording == "ready for pickup at Mitte on Saturday 26 Dec from 13:00"
    assert not christmas.open_at(berlin(2026, 12, 24, 12)) and christmas.open_at(berlin(2026, 12, 26, 12))
    assert not christmas.open_at(berlin(2026, 12, 26, 11))
    # Dispatched on the 26th, then two carrier days: Monday 28, Tuesday 29.
    shipped = delivery(christmas, berlin(2026, 12, 23, 21), location_id="S", lead_days=2)
    assert christmas.handling_start(berlin(2026, 12, 23, 21)) == berlin(2026, 12, 26, 12)
    assert shipped.local_date == date(2026, 12, 29)


def test_carrier_delivery_days_are_the_locations() -> None:
    # Friday 11 Dec 2026, dispatched at once.
    saturdays = Calendar(time_zone=BERLIN, delivery_weekdays=frozenset(range(1, 7)))
    assert delivery(saturdays, berlin(2026, 12, 11, 9), location_id="W", lead_days=1).local_date == date(2026, 12, 12)
    weekdays = Calendar(time_zone=BERLIN)
    assert delivery(weekdays, berlin(2026, 12, 11, 9), location_id="W", lead_days=1).local_date == date(2026, 12, 14)
    holiday = Calendar(time_zone=BERLIN, carrier_closed=frozenset({date(2026, 12, 14)}))
    assert delivery(holiday, berlin(2026, 12, 11, 9), location_id="W", lead_days=1).local_date == date(2026, 12, 15)
    assert add_business_days(
        date(2026, 12, 24), 1, weekdays=frozenset({1, 2, 3, 4, 5}), closed=frozenset({date(2026, 12, 25)})
    ) == date(2026, 12, 28)
    with pytest.raises(ValueError, match="weekday"):
        Calendar(delivery_weekdays=frozenset())


def test_a_same_day_carrier_delivers_on_its_next_delivery_day_after_a_dispatch_without_one() -> None:
    # A warehouse open on Saturdays dispatches on Saturday 12 Dec 2026; its courier delivers the same
    # day, Monday to Friday, and not on Monday 14 Dec (a holiday of its own).
    warehouse = Calendar(time_zone=BERLIN, carrier_closed=frozenset({date(2026, 12, 14)}))
    saturday = berlin(2026, 12, 12, 9)
    promise = delivery(warehouse, saturday, location_id="W", lead_days=0)
    assert promise.local_date == date(2026, 12, 15)
    assert promise.wording == "delivered Tuesday 15 Dec"
    # On a delivery day it is that day.
    assert delivery(warehouse, berlin(2026, 12, 11, 9), location_id="W", lead_days=0).wording == "delivered today"


def test_a_regions_own_carrier_days_move_its_delivery_and_unset_falls_back() -> None:
    # Friday 11 Dec 2026, dispatched at once; the location's carrier delivers Monday to Friday.
    warehouse = Calendar(
        time_zone=BERLIN,
        lead_days={"DE-BE": 1, "DE-BY": 1, "DE": 1},
        default_lead_days=1,
        region_weekdays={"DE-BE": frozenset(range(1, 7))},
        region_closed={"DE-BY": frozenset({date(2026, 12, 14)})},
        carrier_closed=frozenset({date(2026, 12, 15)}),
    )
    friday = berlin(2026, 12, 11, 9)

    def delivered(region: str, country: str = "DE") -> date:
        lead = warehouse.carrier_lead(region, country)
        return delivery(warehouse, friday, location_id="W", lead_days=lead).local_date

    assert delivered("DE-BE") == date(2026, 12, 12)  # its carrier delivers on Saturdays
    assert delivered("DE-BY") == date(2026, 12, 15)  # its own holiday Monday; not the location's Tuesday
    assert delivered("DE-HH") == date(2026, 12, 14)  # the country's entry: the location's days
    assert delivered("", "FR") == date(2026, 12, 14)  # the default: the location's days
    assert warehouse.carrier_lead("de-be") == Lead(1, frozenset(range(1, 7)), frozenset({date(2026, 12, 15)}))
    assert warehouse.carrier_lead("DE-HH", "DE") == Lead(1, frozenset(range(1, 6)), frozenset({date(2026, 12, 15)}))
    # A bare number of days counts the location's carrier days.
    assert delivery(warehouse, friday, location_id="W", lead_days=1).local_date == date(2026, 12, 14)
    with pytest.raises(ValueError, match="weekday"):
        Calendar(lead_days={"DE": 1}, region_weekdays={"DE": frozenset({8})})


def test_a_regions_carrier_days_from_settings() -> None:
    calendar = calendar_of(
        inventory_pb2.PromiseSettings(
            carrier_lead_times=[
                inventory_pb2.CarrierLeadTime(
                    region="de-by", business_days=2, delivery_weekdays=[1, 2, 3, 4, 5, 6], closed_dates=["2026-08-15"]
                ),
                inventory_pb2.CarrierLeadTime(region="DE", business_days=3),
            ],
            carrier_closed_dates=["2026-12-25"],
        )
    )
    assert calendar.carrier_lead("DE-BY") == Lead(2, frozenset(range(1, 7)), frozenset({date(2026, 8, 15)}))
    assert calendar.carrier_lead("DE-NW", "DE") == Lead(3, frozenset(range(1, 6)), frozenset({date(2026, 12, 25)}))


def test_closed_dates_and_carrier_days_from_settings() -> None:
    settings_message = inventory_pb2.PromiseSettings(
        time_zone=BERLIN,
        closed_dates=["2026-12-24", "2026-12-25"],
        special_hours=[inventory_pb2.DateHours(date="2026-12-31", opens="10:00", closes="14:00")],
        carrier_delivery_weekdays=[1, 2, 3, 4, 5, 6],
        carrier_closed_dates=["2027-01-01"],
    )
    calendar = calendar_of(settings_message)
    assert calendar.closed == {date(2026, 12, 24), date(2026, 12, 25)}
    assert calendar.special == {date(2026, 12, 31): ((600, 840),)}
    assert calendar.delivery_weekdays == frozenset(range(1, 7))
    assert calendar.carrier_closed == {date(2027, 1, 1)}
    assert calendar_of(inventory_pb2.PromiseSettings()).delivery_weekdays == frozenset(range(1, 6))
    assert parse_date("2026-12-24") == date(2026, 12, 24)
    for bad in ("20261224", "2026-02-30", "2026-1-05", "", "2026-12-24T00:00"):
        assert parse_date(bad) is None


# --- properties -------------------------------------------------------------------------------

ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"])


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    hours: dict[int, tuple[tuple[int, int], ...]] = {}
    if draw(st.booleans()):
        for weekday in draw(st.sets(st.integers(1, 7), min_size=1)):
            bounds = sorted(draw(st.sets(st.integers(0, 96), min_size=2, max_size=4)))
            spans = [(bounds[i] * 15, bounds[i + 1] * 15) for i in range(0, len(bounds) - 1, 2)]
            hours[weekday] = tuple(spans)
    cutoff = draw(st.none() | st.integers(0, 24 * 60 - 1))
    # Closures and special hours near the clocks drawn below (NOW, and the weeks after it).
    days = st.dates(min_value=date(2023, 12, 25), max_value=date(2031, 2, 1))
    special: dict[date, tuple[tuple[int, int], ...]] = {}
    for day in draw(st.lists(days, max_size=3)):
        bounds = sorted(draw(st.sets(st.integers(0, 96), min_size=2, max_size=2)))
        special[day] = ((bounds[0] * 15, bounds[1] * 15),)
    return Calendar(
        time_zone=draw(ZONES),
        hours=hours,
        preparation=timedelta(minutes=draw(st.integers(0, 3 * 24 * 60))),
        cutoff=cutoff,
        closed=frozenset(draw(st.lists(days, max_size=20))),
        special=special,
        delivery_weekdays=frozenset(draw(st.sets(st.integers(1, 7), min_size=1))),
        carrier_closed=frozenset(draw(st.lists(days, max_size=20))),
    )


@st.composite
def calendars_closed_near(draw: st.DrawFn, now: datetime) -> Calendar:
    """A calendar closed on several of the days right after ``now`` (in its zone)."""
    calendar = draw(calendars())
    today = now.astimezone(calendar.zone).date()
    offsets = draw(st.sets(st.integers(-1, 21), min_size=1, max_size=15))
    closed = calendar.closed | {today + timedelta(days=offset) for offset in offsets}
    return replace(calendar, closed=frozenset(closed))


NOW = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), now=NOW, arrival_in=st.none() | st.integers(-3 * 24 * 60, 20 * 24 * 60))
def test_pickup_is_never_before_now_and_always_within_opening_hours(
    calendar: Calendar, now: datetime, arrival_in: int | None
) -> None:
    arrival = None if arrival_in is None else now + timedelta(minutes=arrival_in)
    promise = pickup(calendar, now, location_id="S", place="S", arrival=arrival)
    assert promise.at >= now
    if arrival is not None:
        assert promise.at >= arrival
    assert calendar.open_at(promise.at)
    local = promise.at.astimezone(calendar.zone)
    assert local.date() not in calendar.closed
    assert any(opens <= local.hour * 60 + local.minute < closes for opens, closes in calendar.spans(local.date()))
    if calendar.hours and local.date() not in calendar.special:
        assert any(
            opens <= local.hour * 60 + local.minute < closes
            for opens, closes in calendar.hours.get(local.isoweekday(), ())
        )


@settings(max_examples=300, deadline=None)
@given(data=st.data(), now=NOW, arrival_in=st.none() | st.integers(-3 * 24 * 60, 20 * 24 * 60), lead=st.integers(0, 10))
def test_nothing_is_ready_or_dispatched_on_a_closed_date(
    data: st.DataObject, now: datetime, arrival_in: int | None, lead: int
) -> None:
    calendar = data.draw(calendars_closed_near(now))
    arrival = None if arrival_in is None else now + timedelta(minutes=arrival_in)
    for kind in (Kind.PICKUP, Kind.PICKUP_ON_RECEIPT):
        ready = pickup(calendar, now, location_id="S", place="S", arrival=arrival, kind=kind)
        assert ready.local_date not in calendar.closed
        assert ready.at.astimezone(calendar.zone).date() not in calendar.closed
    dispatched = calendar.handling_start(now).astimezone(calendar.zone).date()
    assert dispatched not in calendar.closed
    delivered = delivery(calendar, now, location_id="S", lead_days=lead)
    assert delivered.local_date >= dispatched
    assert delivered.local_date.isoweekday() in calendar.delivery_weekdays
    assert delivered.local_date not in calendar.carrier_closed


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), now=NOW)
def test_orders_after_the_cut_off_are_not_handled_today(calendar: Calendar, now: datetime) -> None:
    local_now = now.astimezone(calendar.zone)
    today = local_now.date()
    ready = pickup(calendar, now, location_id="S", place="S")
    dispatched = calendar.handling_start(now)
    assert dispatched >= now
    if calendar.cutoff is not None and local_now.hour * 60 + local_now.minute >= calendar.cutoff:
        assert ready.local_date > today
        assert dispatched.astimezone(calendar.zone).date() > today


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), now=NOW, later=st.integers(0, 3 * 60))
def test_a_later_order_is_never_handled_sooner(calendar: Calendar, now: datetime, later: int) -> None:
    # Minutes later, across cut-offs and the hours clocks skip or repeat.
    assert calendar.handling_start(now + timedelta(minutes=later)) >= calendar.handling_start(now)


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), now=NOW, shorter=st.integers(0, 30), extra=st.integers(0, 30))
def test_delivery_is_monotone_in_lead_time_and_never_before_today(
    calendar: Calendar, now: datetime, shorter: int, extra: int
) -> None:
    first = delivery(calendar, now, location_id="W", lead_days=shorter)
    second = delivery(calendar, now, location_id="W", lead_days=shorter + extra)
    assert first.local_date <= second.local_date
    assert first.local_date >= now.astimezone(calendar.zone).date()
    if shorter > 0:  # carriers deliver on their delivery days only
        assert first.local_date.isoweekday() in calendar.delivery_weekdays
        assert first.local_date not in calendar.carrier_closed


@settings(max_examples=300, deadline=None)
@given(
    calendar=calendars(),
    now=NOW,
    days=st.integers(0, 30),
    weekdays=st.none() | st.frozensets(st.integers(1, 7), min_size=1),
    closed=st.none() | st.frozensets(st.dates(min_value=date(2023, 12, 25), max_value=date(2031, 2, 1)), max_size=20),
)
def test_a_delivery_to_a_region_falls_on_its_carrier_days_else_the_locations(
    calendar: Calendar, now: datetime, days: int, weekdays: frozenset[int] | None, closed: frozenset[date] | None
) -> None:
    regional = replace(
        calendar,
        lead_days={"XX-1": days},
        region_weekdays={"XX-1": weekdays} if weekdays is not None else {},
        region_closed={"XX-1": closed} if closed is not None else {},
    )
    promise = delivery(regional, now, location_id="W", lead_days=regional.carrier_lead("XX-1", "XX"))
    on = weekdays if weekdays is not None else calendar.delivery_weekdays
    off = closed if closed is not None else calendar.carrier_closed
    expected = add_business_days(
        calendar.handling_start(now).astimezone(calendar.zone).date(), days, weekdays=on, closed=off
    )
    assert promise.local_date == expected
    if days > 0:
        assert promise.local_date.isoweekday() in on and promise.local_date not in off
    # Unset for the region: exactly the location's days.
    if weekdays is None and closed is None:
        assert promise == delivery(calendar, now, location_id="W", lead_days=days)


@settings(max_examples=200, deadline=None)
@given(calendar=calendars(), now=NOW, later=st.integers(0, 10 * 24 * 60))
def test_a_later_arrival_never_gives_an_earlier_pickup(calendar: Calendar, now: datetime, later: int) -> None:
    early = pickup(calendar, now, location_id="S", place="S", arrival=now)
    late = pickup(calendar, now, location_id="S", place="S", arrival=now + timedelta(minutes=later))
    assert early.at <= late.at


@given(day=st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 1, 1)), count=st.integers(1, 60))
def test_business_days(day: date, count: int) -> None:
    result = add_business_days(day, count)
    between = [day + timedelta(days=offset) for offset in range(1, (result - day).days + 1)]
    assert sum(1 for d in between if d.isoweekday() <= 5) == count


@given(
    day=st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 1, 1)),
    count=st.integers(0, 60),
    weekdays=st.sets(st.integers(1, 7), min_size=1),
    offsets=st.sets(st.integers(0, 120), max_size=30),
)
def test_carrier_days(day: date, count: int, weekdays: set[int], offsets: set[int]) -> None:
    closed = frozenset(day + timedelta(days=offset) for offset in offsets)
    result = add_business_days(day, count, weekdays=frozenset(weekdays), closed=closed)
    assert result.isoweekday() in weekdays and result not in closed  # always a delivery day
    if count == 0:  # a same-day carrier: the first delivery day from the dispatch on
        assert all(d.isoweekday() not in weekdays or d in closed for d in date_range(day, result))
        return
    between = [day + timedelta(days=offset) for offset in range(1, (result - day).days + 1)]
    delivering = [d for d in between if d.isoweekday() in weekdays and d not in closed]
    assert len(delivering) == count
    assert delivering[-1] == result  # the count ends on a delivery day


def date_range(first: date, end: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((end - first).days)]


def _transfer(
    transfer_id: str, units: int, arrival: datetime | None, *, sku: str = "LAMP", owner: str = ""
) -> inventory_pb2.Transfer:
    transfer = inventory_pb2.Transfer(
        transfer_id=transfer_id,
        origin_location_id=f"FROM-{transfer_id}",
        destination_location_id="S",
        status=inventory_pb2.TRANSFER_STATUS_SHIPPED,
        lines=[inventory_pb2.TransferLine(sku=sku, quantity=units)],
        hold_owner=owner,
    )
    if arrival is not None:
        transfer.expected_arrival_at.FromDatetime(arrival)
    return transfer


def test_units_beyond_the_shelf_wait_for_the_transfers_that_bring_them() -> None:
    monday = datetime(2026, 12, 7, 12, tzinfo=UTC)
    level = inventory_pb2.StockLevel(location_id="S", sku="LAMP", on_hand=1, held=1)
    assert beyond_shelf([level], {}) == {} and beyond_shelf([level], {"LAMP": 3}) == {"LAMP": 3}
    assert beyond_shelf([inventory_pb2.StockLevel(sku="SET", bundle=True, held=5)], {}) == {}
    transfers = [
        _transfer("LATE", 5, monday + timedelta(days=4)),
        _transfer("SOON", 2, monday + timedelta(days=1)),
        _transfer("RESERVED", 9, monday, owner="reservation:R"),  # never promised to another
        _transfer("UNSAID", 9, None),
    ]
    # Two units: the first transfer brings them. Three: the later one is needed too.
    assert awaited("S", {"LAMP": 2}, [level], transfers) == Awaited(monday + timedelta(days=1), "FROM-SOON")
    assert awaited("S", {"LAMP": 3}, [level], transfers) == Awaited(monday + timedelta(days=4), "FROM-LATE")
    assert awaited("S", {"LAMP": 8}, [level], transfers) == Awaited(None, "FROM-UNSAID")
    assert awaited("S", {"LAMP": 20}, [level], transfers) == Awaited(None)
    assert awaited("S", {}, [level], transfers) is None
    # What no transfer brings, an announced delivery may; the last SKU to arrive decides.
    vase = inventory_pb2.StockLevel(location_id="S", sku="VASE", incoming=4)
    vase.next_incoming_at.FromDatetime(monday + timedelta(days=6))
    found = awaited("S", {"LAMP": 1, "VASE": 2}, [level, vase], transfers)
    assert found == Awaited(monday + timedelta(days=6)) and found.kind is Kind.PICKUP_ON_RECEIPT
    assert awaited("S", {"LAMP": 1}, [level], transfers).kind is Kind.PICKUP_VIA_TRANSFER  # type: ignore[union-attr]


def test_a_delivery_of_units_on_their_way_is_dispatched_once_they_arrive() -> None:
    warehouse = Calendar(time_zone=BERLIN, cutoff=15 * 60)
    monday_noon = berlin(2026, 12, 7, 12)
    assert delivery(warehouse, monday_noon, location_id="W", lead_days=1).local_date == date(2026, 12, 8)
    # Arriving Wednesday after the cut-off: dispatched Thursday, delivered Friday.
    late = delivery(warehouse, monday_noon, location_id="W", lead_days=1, arrival=berlin(2026, 12, 9, 16))
    assert late.local_date == date(2026, 12, 11) and late.wording == "delivered Friday 11 Dec"
    # An arrival already past changes nothing.
    early = delivery(warehouse, monday_noon, location_id="W", lead_days=1, arrival=monday_noon - timedelta(days=1))
    assert early.local_date == date(2026, 12, 8)


def test_a_kept_promise_names_its_day_as_said_on_the_day_it_is_read() -> None:
    # Made on Monday 7 Dec after the cut-off: tomorrow, Tuesday. Read on Tuesday it is today; read
    # on Wednesday, a day gone by; read on Sunday before, two days ahead.
    made = pickup(MITTE, berlin(2026, 12, 7, 18, 30), location_id="S", place="Mitte", via="Spandau")
    assert made.wording == "ready for pickup at Mitte tomorrow from 12:00"

    def read_on(day: int, promise: Promise = made) -> str:
        return _read_on(promise, date(2026, 12, day))

    assert read_on(7) == made.wording
    assert read_on(8) == "ready for pickup at Mitte today from 12:00"
    assert read_on(9) == "ready for pickup at Mitte on Tuesday 8 Dec from 12:00"
    assert read_on(6) == "ready for pickup at Mitte on Tuesday 8 Dec from 12:00"
    transfer = pickup(
        MITTE, berlin(2026, 12, 7, 14), location_id="S", place="Mitte", kind=Kind.PICKUP_VIA_TRANSFER, via="Spandau"
    )
    assert transfer.wording == "ready for pickup at Mitte today from 16:00 via transfer from Spandau"
    assert read_on(8, transfer) == "ready for pickup at Mitte on Monday 7 Dec from 16:00 via transfer from Spandau"
    shipped = delivery(Calendar(time_zone=BERLIN), berlin(2026, 12, 7, 9), location_id="W", lead_days=2)
    assert shipped.wording == "delivered Wednesday 9 Dec"
    assert read_on(8, shipped) == "delivered tomorrow"
    assert read_on(9, shipped) == "delivered today"
    assert wording_on("something else", local_date=date(2026, 12, 8), local_time="", today=date(2026, 12, 8)) == (
        "something else"
    )


def _read_on(promise: Promise, today: date, wording: str | None = None) -> str:
    kept = promise.wording if wording is None else wording
    return wording_on(kept, local_date=promise.local_date, local_time=promise.local_time, today=today)


@settings(max_examples=300, deadline=None)
@given(calendar=calendars(), now=NOW, days=st.integers(-2, 12), lead=st.integers(0, 5))
def test_a_kept_promise_read_later_says_its_day_as_one_made_then_would(
    calendar: Calendar, now: datetime, days: int, lead: int
) -> None:
    today = now.astimezone(calendar.zone).date()
    later = today + timedelta(days=days)
    for made in (
        pickup(calendar, now, location_id="S", place="Mitte"),
        pickup(calendar, now, location_id="S", place="Mitte", kind=Kind.PICKUP_VIA_TRANSFER, via="Spandau"),
        delivery(calendar, now, location_id="S", lead_days=lead),
    ):
        assert _read_on(made, today) == made.wording
        said = _read_on(made, later)
        # The words the calculator says of that date on the later day.
        words = {0: "today", 1: "tomorrow"}.get((made.local_date - later).days)
        absolute = f"{made.local_date:%A} {made.local_date.day} {made.local_date:%b}"
        if made.kind is Kind.DELIVERY:
            assert said == f"delivered {words or absolute}"
        else:
            assert said.startswith(f"ready for pickup at Mitte {words or 'on ' + absolute} from {made.local_time}")
        assert _read_on(made, today, said) == made.wording
