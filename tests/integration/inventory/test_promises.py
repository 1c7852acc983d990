"""Locations' promise settings, and the promises FindAvailability answers with them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.promises import BUCKET
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import unique_id
from tests.integration.promise_support import every_day, local_today, midday_zone


async def place(catalogue, location_id: str, settings: pb.PromiseSettings, **flags: bool) -> pb.Location:
    location = pb.Location(
        location_id=location_id,
        name=f"Store {location_id}",
        kind=pb.LOCATION_KIND_STORE if flags.get("pickup") else pb.LOCATION_KIND_WAREHOUSE,
        city="Berlin",
        point=common_pb2.GeoPoint(latitude=52.52, longitude=13.405),
        routing_rank=10,
        ships=flags.get("ships", False),
        pickup=flags.get("pickup", False),
        till_sales=flags.get("pickup", False),
        active=True,
        promise_settings=settings,
    )
    answer = await catalogue.admin.UpsertLocation(pb.UpsertLocationRequest(request_id=unique_id(), location=location))
    return answer.location


async def test_promise_settings_are_kept_and_shown(catalogue) -> None:
    settings = pb.PromiseSettings(
        time_zone="Europe/Berlin",
        opening_hours=[
            pb.OpeningHours(weekday=1, opens="10:00", closes="13:00"),
            pb.OpeningHours(weekday=1, opens="14:00", closes="20:00"),
            pb.OpeningHours(weekday=6, opens="10:00", closes="24:00"),
        ],
        pickup_preparation_minutes=90,
        order_cutoff="18:00",
        carrier_lead_times=[pb.CarrierLeadTime(region="DE-BE", business_days=1)],
        default_carrier_lead_days=3,
    )
    stored = await place(catalogue, unique_id("LOC-"), settings, pickup=True)
    assert stored.promise_settings == settings
    again = await catalogue.admin.GetLocation(pb.GetLocationRequest(location_id=stored.location_id))
    assert again.location.promise_settings == settings
    # Replacing the location without settings gives the defaults back.
    plain = await place(catalogue, stored.location_id, pb.PromiseSettings(), pickup=True)
    assert plain.promise_settings == pb.PromiseSettings()
    assert not plain.promise_settings.HasField("default_carrier_lead_days")


async def test_bad_promise_settings_name_each_field_and_change_nothing(catalogue) -> None:
    location_id = unique_id("LOC-")
    await place(catalogue, location_id, pb.PromiseSettings(time_zone="UTC"), pickup=True)
    bad = pb.PromiseSettings(
        time_zone="Mars/Olympus_Mons",
        opening_hours=[
            pb.OpeningHours(weekday=8, opens="10:00", closes="12:00"),
            pb.OpeningHours(weekday=2, opens="9:00", closes="12:00"),
            pb.OpeningHours(weekday=3, opens="12:00", closes="11:00"),
            pb.OpeningHours(weekday=4, opens="10:00", closes="14:00"),
            pb.OpeningHours(weekday=4, opens="13:00", closes="15:00"),
        ],
        pickup_preparation_minutes=-1,
        order_cutoff="25:00",
        carrier_lead_times=[
            pb.CarrierLeadTime(region="DE", business_days=61),
            pb.CarrierLeadTime(region="de", business_days=1),
        ],
        default_carrier_lead_days=-2,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await place(catalogue, location_id, bad, pickup=True)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [v.field for b in details_of(refused.value, error_details_pb2.BadRequest) for v in b.field_violations]
    prefix = "location.promise_settings."
    assert sorted(fields) == sorted(
        prefix + name
        for name in (
            "time_zone",
            "opening_hours[0].weekday",
            "opening_hours[1].opens",
            "opening_hours[2].closes",
            "opening_hours[4]",
            "pickup_preparation_minutes",
            "order_cutoff",
            "carrier_lead_times[0].business_days",
            "carrier_lead_times[1].region",
            "default_carrier_lead_days",
        )
    )
    kept = await catalogue.admin.GetLocation(pb.GetLocationRequest(location_id=location_id))
    assert kept.location.promise_settings == pb.PromiseSettings(time_zone="UTC")


async def test_find_availability_says_when_each_option_can_be_had(catalogue) -> None:
    zone = midday_zone()
    sku = await catalogue.sku()
    store = await place(
        catalogue,
        unique_id("LOC-"),
        pb.PromiseSettings(time_zone=zone, opening_hours=every_day("06:00", "22:00"), pickup_preparation_minutes=120),
        pickup=True,
    )
    waiting = await place(
        catalogue,
        unique_id("LOC-"),
        pb.PromiseSettings(time_zone=zone, opening_hours=every_day("09:00", "18:00"), pickup_preparation_minutes=30),
        pickup=True,
    )
    # Every order is past the warehouse's cut-off: it dispatches tomorrow, a business day to DE-BE.
    warehouse = await place(
        catalogue,
        unique_id("LOC-"),
        pb.PromiseSettings(
            time_zone=zone,
            order_cutoff="00:00",
            carrier_lead_times=[pb.CarrierLeadTime(region="DE-BE", business_days=1)],
            default_carrier_lead_days=5,
        ),
        ships=True,
    )
    await catalogue.receive(store.location_id, sku, 2)
    await catalogue.receive(warehouse.location_id, sku, 9)
    await catalogue.receive(waiting.location_id, sku, 1)
    expected_at = Timestamp()
    expected_at.FromDatetime(datetime.now(UTC) + timedelta(days=3))
    await catalogue.admin.ExpectStock(
        pb.ExpectStockRequest(
            request_id=unique_id(), location_id=waiting.location_id, sku=sku, quantity=5, expected_at=expected_at
        )
    )
    before = datetime.now(UTC)
    found = await catalogue.admin.FindAvailability(
        pb.FindAvailabilityRequest(items=[common_pb2.SkuQuantity(sku=sku, quantity=2)], ship_to_region="de-be")
    )
    after = datetime.now(UTC)
    promises = {entry.location.location_id: list(entry.promises) for entry in found.locations}
    local_today = before.astimezone(ZoneInfo(zone)).date()

    [ready] = promises[store.location_id]
    assert ready.kind == common_pb2.PROMISE_KIND_PICKUP
    at = ready.at.ToDatetime(tzinfo=UTC)
    # Never earlier than exact, at most one bucket later (docs/promises.md, "How fresh a promise is").
    assert before + timedelta(hours=2) - timedelta(seconds=1) <= at <= after + BUCKET + timedelta(hours=2)
    assert ready.local_date == local_today.isoformat() and ready.time_zone == zone
    assert ready.wording == f"ready for pickup at {store.name} today from {ready.local_time}"

    [on_receipt] = promises[waiting.location_id]
    assert on_receipt.kind == common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT
    assert on_receipt.at.ToDatetime(tzinfo=UTC) >= expected_at.ToDatetime(tzinfo=UTC)
    assert "09:00" <= on_receipt.local_time < "18:00"

    [delivered] = promises[warehouse.location_id]
    assert delivered.kind == common_pb2.PROMISE_KIND_DELIVERY
    dispatch = local_today + timedelta(days=1)
    first_business_day = next(
        dispatch + timedelta(days=n) for n in range(1, 8) if (dispatch + timedelta(days=n)).isoweekday() <= 5
    )
    assert delivered.local_date == first_business_day.isoformat()
    assert delivered.wording.startswith("delivered ")
    # Another region gets the default lead time: later.
    elsewhere = await catalogue.admin.FindAvailability(
        pb.FindAvailabilityRequest(items=[common_pb2.SkuQuantity(sku=sku, quantity=2)], ship_to_region="FR-75")
    )
    [far] = next(entry.promises for entry in elsewhere.locations if entry.location.location_id == warehouse.location_id)
    assert far.local_date > delivered.local_date


async def test_a_regions_own_carrier_days_give_its_delivery_date(catalogue) -> None:
    zone = midday_zone()
    sku = await catalogue.sku()
    # Past the cut-off: dispatched tomorrow; one business day to every region of Germany. The location's
    # carrier delivers every day; Berlin's only three days after dispatch's weekday, Bavaria's not the
    # day after dispatch (a holiday there).
    dispatch = local_today(zone) + timedelta(days=1)
    settings = pb.PromiseSettings(
        time_zone=zone,
        order_cutoff="00:00",
        carrier_delivery_weekdays=list(range(1, 8)),
        carrier_lead_times=[
            pb.CarrierLeadTime(
                region="DE-BE", business_days=1, delivery_weekdays=[(dispatch + timedelta(days=3)).isoweekday()]
            ),
            pb.CarrierLeadTime(
                region="DE-BY", business_days=1, closed_dates=[(dispatch + timedelta(days=1)).isoformat()]
            ),
            pb.CarrierLeadTime(region="DE", business_days=1),
        ],
    )
    warehouse = await place(catalogue, unique_id("LOC-"), settings, ships=True)
    assert warehouse.promise_settings == settings
    await catalogue.receive(warehouse.location_id, sku, 3)

    async def delivered(region: str) -> str:
        found = await catalogue.admin.FindAvailability(
            pb.FindAvailabilityRequest(items=[common_pb2.SkuQuantity(sku=sku, quantity=1)], ship_to_region=region)
        )
        [entry] = [entry for entry in found.locations if entry.location.location_id == warehouse.location_id]
        [promise] = entry.promises
        assert promise.kind == common_pb2.PROMISE_KIND_DELIVERY
        return promise.local_date

    assert await delivered("de-be") == (dispatch + timedelta(days=3)).isoformat()
    assert await delivered("DE-BY") == (dispatch + timedelta(days=2)).isoformat()
    assert await delivered("DE-HH") == (dispatch + timedelta(days=1)).isoformat()  # the location's days


async def test_bad_carrier_days_of_a_region_are_named_and_change_nothing(catalogue) -> None:
    location_id = unique_id("LOC-")
    await place(catalogue, location_id, pb.PromiseSettings(time_zone="UTC"), ships=True)
    bad = pb.PromiseSettings(
        carrier_lead_times=[
            pb.CarrierLeadTime(region="DE", business_days=1),
            pb.CarrierLeadTime(region="FR", business_days=2, delivery_weekdays=[0], closed_dates=["2026-13-01"]),
        ],
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await place(catalogue, location_id, bad, ships=True)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [v.field for b in details_of(refused.value, error_details_pb2.BadRequest) for v in b.field_violations]
    assert sorted(fields) == [
        "location.promise_settings.carrier_lead_times[1].closed_dates[0]",
        "location.promise_settings.carrier_lead_times[1].delivery_weekdays[0]",
    ]
    kept = await catalogue.admin.GetLocation(pb.GetLocationRequest(location_id=location_id))
    assert kept.location.promise_settings == pb.PromiseSettings(time_zone="UTC")


async def test_a_backorderable_sku_on_its_way_is_promised_on_receipt_not_from_the_shelf(catalogue) -> None:
    sku = unique_id("SKU-")
    await catalogue.admin.UpsertSku(
        pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sku, title="Made to order", allow_backorder=True))
    )
    store = await place(catalogue, unique_id("LOC-"), pb.PromiseSettings(time_zone="UTC"), pickup=True)
    expected_at = Timestamp()
    expected_at.FromDatetime(datetime.now(UTC) + timedelta(days=5))
    await catalogue.admin.ExpectStock(
        pb.ExpectStockRequest(
            request_id=unique_id(), location_id=store.location_id, sku=sku, quantity=3, expected_at=expected_at
        )
    )
    found = await catalogue.admin.FindAvailability(
        pb.FindAvailabilityRequest(items=[common_pb2.SkuQuantity(sku=sku, quantity=2)])
    )
    [entry] = [entry for entry in found.locations if entry.location.location_id == store.location_id]
    assert entry.complete  # the channel may take the incoming units of a backorderable SKU
    [promise] = entry.promises
    assert promise.kind == common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT
    assert promise.at.ToDatetime(tzinfo=UTC) == expected_at.ToDatetime(tzinfo=UTC)
    assert promise.wording.endswith("once the expected delivery arrives")


async def test_a_set_whose_component_is_announced_is_promised_on_its_receipt(catalogue) -> None:
    sofa, cushion, pair = unique_id("SKU-"), unique_id("SKU-"), unique_id("SET-")
    await catalogue.admin.UpsertSku(pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sofa, title="Sofa")))
    await catalogue.admin.UpsertSku(
        pb.UpsertSkuRequest(
            request_id=unique_id(), sku=pb.Sku(sku=cushion, title="Cushion made to order", allow_backorder=True)
        )
    )
    await define_set(catalogue.admin, {sofa: 1, cushion: 2}, sku=pair, title="Sofa with cushions")
    store = await place(catalogue, unique_id("LOC-"), pb.PromiseSettings(time_zone="UTC"), pickup=True)
    await catalogue.receive(store.location_id, sofa, 1)
    await catalogue.receive(store.location_id, cushion, 1)
    expected_at = Timestamp()
    expected_at.FromDatetime(datetime.now(UTC) + timedelta(days=4))
    await catalogue.admin.ExpectStock(
        pb.ExpectStockRequest(
            request_id=unique_id(), location_id=store.location_id, sku=cushion, quantity=3, expected_at=expected_at
        )
    )
    # The sofa is on the shelf, one of the two cushions only announced: the set is ready on its receipt.
    found = await catalogue.admin.FindAvailability(
        pb.FindAvailabilityRequest(items=[common_pb2.SkuQuantity(sku=pair, quantity=1)])
    )
    [entry] = [entry for entry in found.locations if entry.location.location_id == store.location_id]
    assert entry.complete  # the channel may take the incoming cushions
    [promise] = entry.promises
    assert promise.kind == common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT
    assert promise.at.ToDatetime(tzinfo=UTC) == expected_at.ToDatetime(tzinfo=UTC)


async def test_closed_dates_and_carrier_days_are_kept_and_bad_ones_named(catalogue) -> None:
    settings = pb.PromiseSettings(
        time_zone="Europe/Berlin",
        closed_dates=["2026-12-24", "2026-12-25"],
        special_hours=[pb.DateHours(date="2026-12-31", opens="10:00", closes="14:00")],
        carrier_delivery_weekdays=[1, 2, 3, 4, 5, 6],
        carrier_closed_dates=["2027-01-01"],
    )
    stored = await place(catalogue, unique_id("LOC-"), settings, pickup=True)
    again = await catalogue.admin.GetLocation(pb.GetLocationRequest(location_id=stored.location_id))
    assert again.location.promise_settings == settings
    bad = pb.PromiseSettings(
        closed_dates=["2026-12-24", "2026-12-24", "24.12.2026", "2026-02-30"],
        special_hours=[
            pb.DateHours(date="2026-12-24", opens="10:00", closes="14:00"),
            pb.DateHours(date="2026-13-01", opens="10:00", closes="14:00"),
            pb.DateHours(date="2026-12-31", opens="10:00", closes="09:00"),
        ],
        carrier_delivery_weekdays=[1, 1, 8],
        carrier_closed_dates=[(date(2027, 1, 1) + timedelta(days=n)).isoformat() for n in range(367)],  # > 366
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await place(catalogue, stored.location_id, bad, pickup=True)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [v.field for b in details_of(refused.value, error_details_pb2.BadRequest) for v in b.field_violations]
    prefix = "location.promise_settings."
    assert sorted(fields) == sorted(
        prefix + name
        for name in (
            "closed_dates[1]",
            "closed_dates[2]",
            "closed_dates[3]",
            "special_hours[0].date",
            "special_hours[1].date",
            "special_hours[2].closes",
            "carrier_delivery_weekdays[1]",
            "carrier_delivery_weekdays[2]",
            "carrier_closed_dates",
        )
    )
    kept = await catalogue.admin.GetLocation(pb.GetLocationRequest(location_id=stored.location_id))
    assert kept.location.promise_settings == settings


async def test_find_availability_skips_closed_dates_and_days_without_carriers(catalogue) -> None:
    zone = midday_zone()
    today = local_today(zone)
    sku = await catalogue.sku()
    closed = [(today + timedelta(days=n)).isoformat() for n in (0, 1)]
    store = await place(
        catalogue,
        unique_id("LOC-"),
        pb.PromiseSettings(time_zone=zone, closed_dates=closed, pickup_preparation_minutes=60),
        pickup=True,
    )
    # Closed today: dispatched tomorrow; the carrier delivers every day but the day after.
    warehouse = await place(
        catalogue,
        unique_id("LOC-"),
        pb.PromiseSettings(
            time_zone=zone,
            closed_dates=[today.isoformat()],
            default_carrier_lead_days=1,
            carrier_delivery_weekdays=range(1, 8),
            carrier_closed_dates=[(today + timedelta(days=2)).isoformat()],
        ),
        ships=True,
    )
    await catalogue.receive(store.location_id, sku, 1)
    await catalogue.receive(warehouse.location_id, sku, 1)
    found = await catalogue.admin.FindAvailability(
        pb.FindAvailabilityRequest(items=[common_pb2.SkuQuantity(sku=sku, quantity=1)], ship_to_region="DE-BE")
    )
    promises = {entry.location.location_id: list(entry.promises) for entry in found.locations}
    [ready] = promises[store.location_id]
    assert (ready.local_date, ready.local_time) == ((today + timedelta(days=2)).isoformat(), "01:00")
    [delivered] = promises[warehouse.location_id]
    assert delivered.local_date == (today + timedelta(days=3)).isoformat()
