"""FindAvailability's promises, kept per location version and time bucket: a location's calendar is
built once, a promise computed once per bucket as at the bucket's end, so never earlier than the
exact one and at most one bucket later (docs/promises.md, "How fresh a promise is")."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters.changes import Changes, Snapshot
from omnistock_inventory.service_layer import promises
from omnistock_inventory.service_layer.promises import (
    BUCKET,
    LocationPromises,
    PromiseQuestion,
    after_hold,
    location_promises,
    via_transfer,
)
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.settings import InventorySettings
from omnistock_platform import promising
from omnistock_platform.promise_messages import Awaited, calendar_of

# Monday 7 Dec 2026, 11:00 in Berlin: the end of a bucket.
MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
BERLIN = pb.PromiseSettings(
    time_zone="Europe/Berlin",
    opening_hours=[pb.OpeningHours(weekday=day, opens="09:00", closes="20:00") for day in range(1, 7)],
    pickup_preparation_minutes=90,
    carrier_lead_times=[pb.CarrierLeadTime(region="DE-BE", business_days=1)],
)


def store(settings: pb.PromiseSettings = BERLIN, name: str = "Mitte") -> pb.Location:
    return pb.Location(location_id="STORE-MITTE", name=name, pickup=True, ships=True, promise_settings=settings)


# One sofa asked, two on the shelf, delivery to Berlin: what a test does not say it asks.
ONE_SOFA = PromiseQuestion(wanted={"SOFA": 1}, can={"SOFA": 2}, incoming={}, region="DE-BE")


def ask(kept: LocationPromises, location: pb.Location, now: datetime, **question: Any) -> list[common_pb2.Promise]:
    return kept.of(location, replace(ONE_SOFA, **question), now=now)


def exact(location: pb.Location, now: datetime, **question: Any) -> list[common_pb2.Promise]:
    return location_promises(location, replace(ONE_SOFA, **question), now=now)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[object]:
    """Count the calls of `module.name` (still doing what it did)."""
    calls: list[object] = []
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_locations_calendar_is_built_once_for_many_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    built = counting(monkeypatch, promises, "calendar_of")
    kept = LocationPromises()
    location = store()
    for minute in range(30):  # many buckets, the same message (the view's) or an equal one (the database's)
        ask(kept, location, MONDAY + timedelta(minutes=minute))
        ask(kept, store(), MONDAY + timedelta(minutes=minute), region="FR")
    assert len(built) == 1
    # New settings under the same id: a calendar of its own, and promises from it.
    later = pb.PromiseSettings()
    later.CopyFrom(BERLIN)
    later.pickup_preparation_minutes = 30
    [ready, _] = ask(kept, store(later), MONDAY)
    assert len(built) == 2
    assert ready.local_time == "11:30"


def test_a_promise_is_computed_once_per_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    pickups = counting(monkeypatch, promising, "pickup")
    deliveries = counting(monkeypatch, promising, "delivery")
    kept = LocationPromises()
    location = store()
    bucket_end = datetime(2026, 12, 7, 10, 1, tzinfo=UTC)
    answers = [ask(kept, location, MONDAY + timedelta(seconds=second)) for second in range(1, 60, 2)]
    # Once as at the bucket's end, once as at its start (to know the end's is at most a bucket later).
    assert (len(pickups), len(deliveries)) == (2, 2)
    assert all(answer == answers[0] for answer in answers)
    assert answers[0] == exact(location, bucket_end)  # as at the bucket's end: a minute later at most
    assert answers[0][0].local_time == "12:31"
    assert exact(location, MONDAY + timedelta(seconds=1))[0].local_time == "12:30"
    pickups.clear()
    deliveries.clear()
    # Another question in the same bucket is its own promise; the next bucket computes again.
    ask(kept, location, bucket_end, region="FR")
    assert (len(pickups), len(deliveries)) == (2, 2)
    ask(kept, location, bucket_end + timedelta(seconds=1))
    assert (len(pickups), len(deliveries)) == (4, 4)


def test_the_wording_and_time_come_from_the_location_as_it_is_now() -> None:
    kept = LocationPromises()
    [before, _] = ask(kept, store(name="Mitte"), MONDAY)
    [after, _] = ask(kept, store(name="Berlin Mitte"), MONDAY)
    assert before.wording == "ready for pickup at Mitte today from 12:30"
    assert after.wording == "ready for pickup at Berlin Mitte today from 12:30"


def test_the_view_forgets_a_location_whose_row_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    built = counting(monkeypatch, promises, "calendar_of")
    view = StockView(None, InventorySettings())  # type: ignore[arg-type]
    location = store()
    ask(view.promises, location, MONDAY)
    ask(view.promises, location, MONDAY)
    assert len(built) == 1
    row = {"location_id": location.location_id, "change_seq": 7}
    view._apply(Changes(Snapshot.parse("1:1:"), MONDAY, [row], [], []), unasked=False)  # type: ignore[list-item]
    ask(view.promises, location, MONDAY)
    assert len(built) == 2


def test_an_answer_that_changes_its_copy_leaves_the_kept_promise_alone() -> None:
    kept = LocationPromises()
    answer = pb.LocationAvailability(promises=ask(kept, store(), MONDAY))
    answer.promises[0].wording = "changed"
    answer.promises.append(kept.via_transfer(store(), store(name="Spandau"), arrival=MONDAY, now=MONDAY))
    answer.promises[-1].location_id = "changed"
    assert ask(kept, store(), MONDAY)[0].wording == "ready for pickup at Mitte today from 12:30"
    again = kept.via_transfer(store(), store(name="Spandau"), arrival=MONDAY, now=MONDAY)
    assert again.location_id == "STORE-MITTE"


def test_a_bucket_across_the_locations_midnight_is_answered_exactly() -> None:
    # 23:59:30 in Berlin: open around the clock, ready at once, "today"; at the bucket's end (midnight)
    # it would be "today" of the next day, which the customer hears as today.
    always = pb.PromiseSettings(time_zone="Europe/Berlin")
    late = datetime(2026, 12, 7, 22, 59, 30, tzinfo=UTC)
    kept = LocationPromises()
    answer = ask(kept, store(always), late)
    assert answer == exact(store(always), late)
    assert answer[0].wording == "ready for pickup at Mitte today from 23:59"
    assert answer[0].local_date == "2026-12-07"


def test_the_last_minute_before_closing_or_the_cut_off_is_answered_exactly() -> None:
    # 19:59:30 in Berlin, the store closes at 20:00: ready now, not tomorrow at 09:00 (the bucket's end).
    closing = datetime(2026, 12, 7, 18, 59, 30, tzinfo=UTC)
    quick = pb.PromiseSettings()
    quick.CopyFrom(BERLIN)
    quick.pickup_preparation_minutes = 0
    kept = LocationPromises()
    for moment in (closing, closing + timedelta(seconds=10)):
        [ready, delivered] = ask(kept, store(quick), moment)
        assert [ready, delivered] == exact(store(quick), moment)
        assert ready.wording == "ready for pickup at Mitte today from 19:59"
    # A cut-off at 17:00 (16:00 UTC): an order at 16:59:45 is still dispatched today.
    cutoff = pb.PromiseSettings()
    cutoff.CopyFrom(quick)
    cutoff.order_cutoff = "17:00"
    before_cutoff = datetime(2026, 12, 7, 15, 59, 45, tzinfo=UTC)
    [_, delivered] = ask(kept, store(cutoff), before_cutoff)
    assert delivered == exact(store(cutoff), before_cutoff)[1]
    assert delivered.local_date == "2026-12-08"  # dispatched Monday, one business day to DE-BE


def test_regions_with_the_same_lead_but_other_carrier_days_never_share_a_promise() -> None:
    # Friday 11 Dec 2026, 10:00 in Berlin: one business day to both, but Berlin's carrier delivers on
    # Saturdays and Bavaria's does not; Monday 14 Dec is a holiday in Bavaria only.
    friday = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)
    regional = pb.PromiseSettings(
        time_zone="Europe/Berlin",
        carrier_lead_times=[
            pb.CarrierLeadTime(region="DE-BE", business_days=1, delivery_weekdays=[1, 2, 3, 4, 5, 6]),
            pb.CarrierLeadTime(region="DE-BY", business_days=1, closed_dates=["2026-12-14"]),
            pb.CarrierLeadTime(region="DE", business_days=1),
        ],
    )
    kept = LocationPromises()
    answers = {region: ask(kept, store(regional), friday, region=region)[1] for region in ("DE-BE", "DE-BY", "DE-HH")}
    assert {region: answer.local_date for region, answer in answers.items()} == {
        "DE-BE": "2026-12-12",
        "DE-BY": "2026-12-15",
        "DE-HH": "2026-12-14",
    }
    for region, answer in answers.items():
        assert (
            answer
            == ask(kept, store(regional), friday, region=region)[1]
            == exact(store(regional), friday, region=region)[1]
        )


# --- the bound, as a property ----------------------------------------------------------------

ZONES = st.sampled_from(["", "UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"])
DAYS = st.dates(min_value=date(2023, 12, 25), max_value=date(2031, 2, 1))
NOW = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def promise_settings(draw: st.DrawFn) -> pb.PromiseSettings:
    """Settings UpsertLocation accepts: weekly and special hours, a cut-off, closures, carrier days."""
    settings = pb.PromiseSettings(
        time_zone=draw(ZONES),
        pickup_preparation_minutes=draw(st.integers(0, 3 * 24 * 60)),
        order_cutoff=draw(st.just("") | st.integers(0, 24 * 60 - 1).map(clock)),
        closed_dates=sorted(day.isoformat() for day in draw(st.sets(DAYS, max_size=20))),
        carrier_delivery_weekdays=sorted(draw(st.sets(st.integers(1, 7), max_size=7))),
        carrier_closed_dates=sorted(day.isoformat() for day in draw(st.sets(DAYS, max_size=20))),
        carrier_lead_times=[
            # Often the same lead time for several regions, some with carrier days of their own.
            pb.CarrierLeadTime(
                region=region,
                business_days=draw(st.integers(0, 2) | st.integers(0, 10)),
                delivery_weekdays=sorted(draw(st.sets(st.integers(1, 7), max_size=7))),
                closed_dates=sorted(day.isoformat() for day in draw(st.sets(DAYS, max_size=5))),
            )
            for region in draw(st.sets(st.sampled_from(["DE-BE", "DE", "FR"])))
        ],
    )
    if draw(st.booleans()):
        settings.default_carrier_lead_days = draw(st.integers(0, 10))
    if draw(st.booleans()):
        for weekday in sorted(draw(st.sets(st.integers(1, 7), min_size=1))):
            bounds = sorted(draw(st.sets(st.integers(0, 96), min_size=2, max_size=4)))
            for index in range(0, len(bounds) - 1, 2):
                settings.opening_hours.add(
                    weekday=weekday, opens=clock(bounds[index] * 15), closes=clock(bounds[index + 1] * 15)
                )
    for day in sorted(draw(st.sets(DAYS, max_size=3)) - {date.fromisoformat(d) for d in settings.closed_dates}):
        opens, closes = sorted(draw(st.sets(st.integers(0, 96), min_size=2, max_size=2)))
        settings.special_hours.add(date=day.isoformat(), opens=clock(opens * 15), closes=clock(closes * 15))
    return settings


def moment(promise: common_pb2.Promise) -> datetime:
    return promise.at.ToDatetime(tzinfo=UTC)


def says_the_right_day(promise: common_pb2.Promise, now: datetime) -> bool:
    """Whether the wording says "today" and "tomorrow" of the caller's own day at the location."""
    today = now.astimezone(calendar_of(pb.PromiseSettings(time_zone=promise.time_zone)).zone).date()
    day = date.fromisoformat(promise.local_date)
    return ("today" in promise.wording) == (day == today) and ("tomorrow" in promise.wording) == (
        day == today + timedelta(days=1)
    )


@settings(max_examples=300, deadline=None)
@given(
    settings_=promise_settings(),
    now=NOW,
    earlier=st.integers(0, 2 * 60 * 10**6),
    bucket=st.sampled_from([BUCKET, timedelta(seconds=1), timedelta(minutes=15), timedelta(hours=1)]),
    flags=st.sampled_from([(True, False), (False, True), (True, True)]),
    wanted=st.integers(1, 3),
    can=st.integers(0, 3),
    arrival_in=st.none() | st.integers(-3 * 24 * 60, 20 * 24 * 60),
    region=st.sampled_from(["", "DE-BE", "DE-BY", "FR-75"]),
    warm_region=st.sampled_from(["", "DE-BE", "DE-BY", "FR-75"]),
    transfer_minutes=st.integers(0, 10 * 24 * 60),
)
def test_a_kept_promise_is_never_earlier_and_at_most_a_bucket_later(
    settings_: pb.PromiseSettings,
    now: datetime,
    earlier: int,
    bucket: timedelta,
    flags: tuple[bool, bool],
    wanted: int,
    can: int,
    arrival_in: int | None,
    region: str,
    warm_region: str,
    transfer_minutes: int,
) -> None:
    pickup, ships = flags
    location = pb.Location(location_id="L", name="Mitte", pickup=pickup, ships=ships, promise_settings=settings_)
    origin = pb.Location(location_id="W", name="Spandau")
    arrival = None if arrival_in is None else now + timedelta(minutes=arrival_in)
    question: dict[str, Any] = dict(
        wanted={"SOFA": wanted}, can={"SOFA": can}, incoming={"SOFA": (wanted, arrival)}, region=region
    )
    kept = LocationPromises(bucket)
    # An earlier answer (in this bucket or one before) is kept; this one may be answered from it.
    warm = now - timedelta(microseconds=earlier)
    lead = timedelta(minutes=transfer_minutes)
    ask(kept, location, warm, **question)
    ask(kept, location, warm, **(question | {"region": warm_region}))  # another region's answer kept too
    kept.via_transfer(location, origin, arrival=warm + lead, now=warm)
    # A hold on units on their way (a transfer's, expected at `arrival`), or on the shelf when None.
    waiting: dict[str, Any] = dict(waiting=None if arrival is None else Awaited(arrival, "W"), via="Spandau")
    kept.after_hold(location, now=warm, region=warm_region, **waiting)
    # Other holds' answers kept too: a later arrival, the same one announced rather than shipped.
    if arrival is not None:
        later = Awaited(arrival + timedelta(days=2), "W")
        kept.after_hold(location, now=warm, region=region, waiting=later, via="Spandau")
        kept.after_hold(location, now=warm, region=region, waiting=Awaited(arrival), via="Spandau")
    answer = ask(kept, location, now, **question)
    first, last = exact(location, now, **question), exact(location, now + bucket, **question)
    assert [p.kind for p in answer] == [p.kind for p in first] == [p.kind for p in last]
    for promise, lower, upper in zip(answer, first, last, strict=True):
        assert moment(lower) <= moment(promise) <= min(moment(upper), moment(lower) + bucket)
        assert (promise.location_id, promise.time_zone) == (lower.location_id, lower.time_zone)
        assert says_the_right_day(promise, now)
    via = kept.via_transfer(location, origin, arrival=now + lead, now=now)
    lower = via_transfer(location, origin, arrival=now + lead, now=now)
    upper = via_transfer(location, origin, arrival=now + bucket + lead, now=now + bucket)
    assert moment(lower) <= moment(via) <= min(moment(upper), moment(lower) + bucket)
    assert via.wording.endswith(" via transfer from Spandau") and says_the_right_day(via, now)
    # Units held on their way: their arrival is a fixed moment. The pickup and the delivery to the
    # region asked, never another region's kept before.
    held = kept.after_hold(location, now=now, region=region, **waiting)
    first = after_hold(location, now=now, region=region, **waiting)
    last = after_hold(location, now=now + bucket, region=region, **waiting)
    assert [p.kind for p in held] == [p.kind for p in first] == [p.kind for p in last]
    assert len(held) == pickup + ships
    for promise, lower, upper in zip(held, first, last, strict=True):
        assert moment(lower) <= moment(promise) <= min(moment(upper), moment(lower) + bucket)
        assert says_the_right_day(promise, now)
        if arrival is not None:  # never before what it waits for (a delivery: a day is promised)
            zone = calendar_of(pb.PromiseSettings(time_zone=promise.time_zone)).zone
            assert date.fromisoformat(promise.local_date) >= arrival.astimezone(zone).date()
    if pickup and arrival is not None:
        assert held[0].wording.endswith(" via transfer from Spandau")
