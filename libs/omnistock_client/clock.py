"""Moments as people read them: on a location's clock (its IANA time zone, the one its promises are
made in), always with the zone's name, and each location's zone read once, not once per row."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import grpc

from omnistock.inventory.v1 import inventory_pb2
from omnistock_client.client import OmnistockClient

# BatchGetLocations answers at most this many ids at once.
BATCH = 1000
# A location's zone is set seldom: kept this long, a changed one is seen without a restart.
KEEP_SECONDS = 600.0


def time_zone(zone: str) -> tuple[tzinfo, str]:
    """The clock of `zone` and the name to say with it: UTC when there is none or it is not an IANA name
    (a moment is never shown on a clock it does not name)."""
    try:
        return (ZoneInfo(zone), zone) if zone else (UTC, "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC, "UTC"


def on_clock(moment: datetime, zone: str) -> tuple[datetime, str]:
    """`moment` on the clock of `zone`, and the zone's name to say with it (see `time_zone`)."""
    clock, name = time_zone(zone)
    return moment.astimezone(clock), name


def local_today(zone: str, now: datetime | None = None) -> str:
    """Today's date (ISO) on the clock of `zone`: the day a person there calls today."""
    return (now or datetime.now(UTC)).astimezone(time_zone(zone)[0]).date().isoformat()


class Zones:
    """Each location's time zone by location id ("" when it has none, or does not exist), read with one
    BatchGetLocations for those not known yet and kept for `keep` seconds."""

    def __init__(self, keep: float = KEEP_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.keep = keep
        self.clock = clock
        self._known: dict[str, tuple[str, float]] = {}

    def known(self, location_ids: Iterable[str]) -> dict[str, str] | None:
        """The zones of `location_ids` when each was read lately; None when one is to be read."""
        wanted = sorted({location_id for location_id in location_ids if location_id})
        return None if self._missing(wanted) else {location_id: self._known[location_id][0] for location_id in wanted}

    def _missing(self, wanted: list[str]) -> list[str]:
        now = self.clock()
        return [i for i in wanted if i not in self._known or now - self._known[i][1] > self.keep]

    async def of(self, client: OmnistockClient, location_ids: Iterable[str]) -> dict[str, str]:
        """The zones of `location_ids`; one that cannot be read now is "" (UTC) and asked again next time."""
        wanted = sorted({location_id for location_id in location_ids if location_id})
        now = self.clock()
        missing = self._missing(wanted)
        for start in range(0, len(missing), BATCH):
            chunk = missing[start : start + BATCH]
            try:
                reply = await client.call(
                    client.inventory.BatchGetLocations, inventory_pb2.BatchGetLocationsRequest(location_ids=chunk)
                )
            except grpc.aio.AioRpcError:
                continue
            found = {location.location_id: location.promise_settings.time_zone for location in reply.locations}
            for location_id in chunk:
                self._known[location_id] = (found.get(location_id, ""), now)
        return {location_id: self._known.get(location_id, ("", now))[0] for location_id in wanted}

    async def zone(self, client: OmnistockClient, location_id: str) -> str:
        return (await self.of(client, [location_id])).get(location_id, "")
