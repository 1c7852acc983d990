"""`omnistock locations promise / show`: a location's calendar and lead times from a terminal."""

from __future__ import annotations

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.cli.support import Cli, World
from tests.integration.promise_support import midday_zone

BERLIN = (52.52, 13.405)


async def test_promise_settings_are_set_piece_by_piece_and_shown(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Mitte-"), BERLIN)
    saved = await cli.json(
        "locations", "promise", store, "--time-zone", "Europe/Berlin",
        "--hours", "mon-fri=10:00-13:00,14:00-20:00", "--hours", "sat=10:00-16:00",
        "--preparation", "120", "--cutoff", "18:00", "--lead", "DE-BE=1", "--default-lead", "3",
    )  # fmt: skip
    settings = saved["promise_settings"]
    assert settings["time_zone"] == "Europe/Berlin" and settings["order_cutoff"] == "18:00"
    assert len(settings["opening_hours"]) == 11  # two intervals Monday to Friday, one on Saturday
    assert settings["carrier_lead_times"] == [
        {"region": "DE-BE", "business_days": 1, "delivery_weekdays": [], "closed_dates": []}
    ]
    # What is not given stays; the rest of the location too.
    await cli.run("locations", "promise", store, "--preparation", "30")
    location = (await world.inventory.GetLocation(ipb.GetLocationRequest(location_id=store))).location
    assert location.promise_settings.pickup_preparation_minutes == 30
    assert location.promise_settings.time_zone == "Europe/Berlin" and len(location.promise_settings.opening_hours) == 11
    assert location.pickup and location.name
    shown = await cli.run("locations", "show", store)
    assert "Europe/Berlin" in shown.stdout and "sat 10:00-16:00" in shown.stdout and "30 min" in shown.stdout

    refused = await cli.run("locations", "promise", store, "--time-zone", "Mars/Olympus", expect=1)
    assert "time_zone" in refused.stderr
    malformed = await cli.run("locations", "promise", store, "--hours", "someday=10:00-12:00", expect=1)
    assert "weekday" in malformed.stderr


async def test_closed_dates_and_carrier_days_are_set_shown_and_cleared(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    store = await world.location(unique_id("Mitte-"), BERLIN)
    saved = await cli.json(
        "locations", "promise", store, "--closed", "2026-12-24,2026-12-25", "--closed", "2027-01-01",
        "--hours-on", "2026-12-31=10:00-14:00", "--carrier-days", "mon-sat", "--carrier-closed", "2026-12-26",
    )  # fmt: skip
    settings = saved["promise_settings"]
    assert settings["closed_dates"] == ["2026-12-24", "2026-12-25", "2027-01-01"]
    assert settings["special_hours"] == [{"date": "2026-12-31", "opens": "10:00", "closes": "14:00"}]
    assert settings["carrier_delivery_weekdays"] == [1, 2, 3, 4, 5, 6]
    assert settings["carrier_closed_dates"] == ["2026-12-26"]
    shown = await cli.run("locations", "show", store)
    assert "2026-12-24, 2026-12-25, 2027-01-01" in shown.stdout
    assert "2026-12-31 10:00-14:00" in shown.stdout and "mon, tue, wed, thu, fri, sat" in shown.stdout
    refused = await cli.run("locations", "promise", store, "--closed", "2026-12-24,24.12.2026", expect=1)
    assert "closed_dates[1]" in refused.stderr
    await cli.run("locations", "promise", store, "--closed", "none", "--hours-on", "none", "--carrier-closed", "none")
    location = (await world.inventory.GetLocation(ipb.GetLocationRequest(location_id=store))).location
    assert not location.promise_settings.closed_dates and not location.promise_settings.special_hours
    assert not location.promise_settings.carrier_closed_dates
    assert list(location.promise_settings.carrier_delivery_weekdays) == [1, 2, 3, 4, 5, 6]


async def test_stock_quote_and_order_say_when(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    city = unique_id("Mitte-")
    store = await world.location(city, BERLIN)
    await cli.run(
        "locations", "promise", store, "--time-zone", midday_zone(), "--hours", "mon-sun=08:00-20:00",
        "--preparation", "60", "--cutoff", "00:00",
    )  # fmt: skip
    sofa = await world.sku("Sofa")
    await world.receive(store, sofa, 2)
    words = f"ready for pickup at {city} {store} tomorrow from 09:00"
    near = await cli.json("stock", sofa, "--near", f"{BERLIN[0]},{BERLIN[1]}")
    [entry] = [entry for entry in near["locations"] if entry["location_id"] == store]
    assert [promise["wording"] for promise in entry["promises"]] == [words]
    quoted = await cli.run("quote", f"{sofa}:1", "--store", store)
    assert "when:" in quoted.stdout and "tomorrow from 09:00" in quoted.stdout
    placed = await cli.json("order", f"{sofa}:1", "--store", store)
    assert placed["promise"]["local_time"] == "09:00"


async def test_a_regions_lead_carries_its_own_carrier_days(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    warehouse = await world.location(unique_id("Lager-"), BERLIN)
    saved = await cli.json(
        "locations", "promise", warehouse, "--carrier-days", "mon-fri",
        "--lead", "DE-BY=2;days=mon-sat;closed=2026-08-15,2026-11-01", "--lead", "DE=1",
    )  # fmt: skip
    assert saved["promise_settings"]["carrier_lead_times"] == [
        {
            "region": "DE-BY",
            "business_days": 2,
            "delivery_weekdays": [1, 2, 3, 4, 5, 6],
            "closed_dates": ["2026-08-15", "2026-11-01"],
        },
        {"region": "DE", "business_days": 1, "delivery_weekdays": [], "closed_dates": []},
    ]
    shown = await cli.run("locations", "show", warehouse)
    assert "closed 2026-08-15, 2026-11-01" in shown.stdout
    malformed = await cli.run("locations", "promise", warehouse, "--lead", "DE-BY=2;weekly=mon", expect=1)
    assert "days=WEEKDAYS or closed=DATES" in malformed.stderr
    refused = await cli.run("locations", "promise", warehouse, "--lead", "DE-BY=2;closed=2026-08-15,15.08.", expect=1)
    assert "carrier_lead_times[0].closed_dates[1]" in refused.stderr
    location = (await world.inventory.GetLocation(ipb.GetLocationRequest(location_id=warehouse))).location
    assert list(location.promise_settings.carrier_lead_times[0].closed_dates) == ["2026-08-15", "2026-11-01"]
