"""A moment on a location's clock, naming the zone; and each location's zone read once, not once per
row: a list of a hundred reservations at one store asks inventory once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import grpc
from omnistock_client import OmnistockClient
from omnistock_client.clock import Zones, local_today, on_clock

from omnistock.inventory.v1 import inventory_pb2 as ipb

# 11:30 UTC on Monday 7 December is already Tuesday 8 December in Auckland (UTC+13 in summer).
MOMENT = datetime(2026, 12, 7, 11, 30, tzinfo=UTC)


def test_a_moment_is_on_the_zones_clock_and_named() -> None:
    local, name = on_clock(MOMENT, "Pacific/Auckland")
    assert (f"{local:%Y-%m-%d %H:%M}", name) == ("2026-12-08 00:30", "Pacific/Auckland")
    local, name = on_clock(MOMENT, "America/Los_Angeles")
    assert (f"{local:%Y-%m-%d %H:%M}", name) == ("2026-12-07 03:30", "America/Los_Angeles")


def test_without_a_zone_or_with_one_that_is_not_iana_the_moment_is_in_utc_and_says_so() -> None:
    for zone in ("", "Not/AZone", "../etc/passwd"):
        local, name = on_clock(MOMENT, zone)
        assert (f"{local:%Y-%m-%d %H:%M}", name) == ("2026-12-07 11:30", "UTC")


def test_today_is_the_day_at_the_location() -> None:
    assert local_today("Pacific/Auckland", MOMENT) == "2026-12-08"
    assert local_today("America/Los_Angeles", MOMENT) == "2026-12-07"
    assert local_today("", datetime(2026, 12, 7, 23, 59, tzinfo=UTC)) == "2026-12-07"


class Inventory:
    """BatchGetLocations over a fixed set of locations, counting the calls (or refusing them)."""

    def __init__(self, zones: dict[str, str]) -> None:
        self.zones = zones
        self.asked: list[list[str]] = []
        self.down = False

    async def BatchGetLocations(self, request: ipb.BatchGetLocationsRequest, timeout: float) -> Any:
        self.asked.append(list(request.location_ids))
        if self.down:
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata())
        found = [
            ipb.Location(location_id=i, promise_settings=ipb.PromiseSettings(time_zone=self.zones[i]))
            for i in request.location_ids
            if i in self.zones
        ]
        return ipb.BatchGetLocationsResponse(locations=found)


class Client:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    async def call(self, method: Any, request: Any) -> Any:
        return await method(request, timeout=1.0)


async def test_zones_are_read_once_for_many_rows_and_again_after_a_while() -> None:
    inventory = Inventory({"ST-AKL": "Pacific/Auckland", "ST-LAX": "America/Los_Angeles", "ST-UTC": ""})
    client = cast(OmnistockClient, Client(inventory))
    now = [0.0]
    zones = Zones(keep=600, clock=lambda: now[0])

    rows = ["ST-AKL", "ST-LAX", "ST-AKL", "ST-UTC", "ST-GONE"] * 20
    assert await zones.of(client, rows) == {
        "ST-AKL": "Pacific/Auckland",
        "ST-LAX": "America/Los_Angeles",
        "ST-UTC": "",
        "ST-GONE": "",
    }
    assert await zones.zone(client, "ST-AKL") == "Pacific/Auckland"
    assert zones.known(["ST-AKL", "ST-LAX"]) == {"ST-AKL": "Pacific/Auckland", "ST-LAX": "America/Los_Angeles"}
    assert inventory.asked == [["ST-AKL", "ST-GONE", "ST-LAX", "ST-UTC"]]

    inventory.zones["ST-UTC"] = "Europe/Berlin"  # set later: seen once what was read has aged
    now[0] = 601
    assert zones.known(["ST-UTC"]) is None
    assert await zones.zone(client, "ST-UTC") == "Europe/Berlin"
    assert len(inventory.asked) == 2


async def test_a_zone_that_cannot_be_read_now_is_utc_and_asked_again_next_time() -> None:
    inventory = Inventory({"ST-AKL": "Pacific/Auckland"})
    inventory.down = True
    client = cast(OmnistockClient, Client(inventory))
    zones = Zones()
    assert await zones.zone(client, "ST-AKL") == ""
    inventory.down = False
    assert await zones.zone(client, "ST-AKL") == "Pacific/Auckland"
    assert len(inventory.asked) == 2
