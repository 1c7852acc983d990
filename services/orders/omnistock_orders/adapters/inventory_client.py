"""What orders asks of inventory: stock, locations, prices, and holds."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from omnistock_platform.grpc.client import remote_call

# Locations change rarely (opening hours, not stock): a few seconds of staleness costs nothing
# and saves a call per location on every quote.
LOCATION_CACHE_SECONDS = 5.0
# What one BatchGetLocations call may ask for.
MAX_BATCH_LOCATIONS = 1000


class InventoryClient:
    def __init__(self, channel: grpc.aio.Channel, *, location_ttl: float = LOCATION_CACHE_SECONDS) -> None:
        self._stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        self._location_ttl = location_ttl
        self._locations: dict[str, tuple[float, inventory_pb2.Location | None]] = {}

    async def stock(
        self,
        skus: Iterable[str],
        channel: common_pb2.Channel.ValueType,
        *,
        selling_location_id: str = "",
        location_ids: Iterable[str] = (),
    ) -> list[inventory_pb2.StockLevel]:
        request = inventory_pb2.BatchGetStockRequest(
            skus=sorted(set(skus)),
            location_ids=sorted(set(location_ids)),
            channel=channel,
            selling_location_id=selling_location_id,
        )
        response = await remote_call("inventory", self._stub.BatchGetStock(request))
        return list(response.levels)

    async def location(self, location_id: str) -> inventory_pb2.Location | None:
        """The location, or None when inventory does not know it."""
        return (await self._cached_locations([location_id])).get(location_id)

    async def locations(self, location_ids: Iterable[str]) -> dict[str, inventory_pb2.Location]:
        """The known ones among the given locations: what the cache lacks comes in one call."""
        return await self._cached_locations(sorted(set(location_ids)))

    async def _cached_locations(self, wanted: list[str]) -> dict[str, inventory_pb2.Location]:
        now = time.monotonic()
        found: dict[str, inventory_pb2.Location | None] = {}
        missing = []
        for location_id in wanted:
            cached = self._locations.get(location_id)
            if cached is not None and cached[0] > now:
                found[location_id] = cached[1]
            else:
                missing.append(location_id)
        for start in range(0, len(missing), MAX_BATCH_LOCATIONS):
            chunk = missing[start : start + MAX_BATCH_LOCATIONS]
            response = await remote_call(
                "inventory", self._stub.BatchGetLocations(inventory_pb2.BatchGetLocationsRequest(location_ids=chunk))
            )
            fetched = {location.location_id: location for location in response.locations}
            for location_id in chunk:
                found[location_id] = fetched.get(location_id)  # None: unknown, remembered as such
                self._locations[location_id] = (now + self._location_ttl, found[location_id])
        return {location_id: location for location_id, location in found.items() if location is not None}

    async def skus(self, skus: Iterable[str]) -> dict[str, inventory_pb2.Sku]:
        """The known ones among the given SKUs (at most an order's 100 lines), in one call."""
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        response = await remote_call(
            "inventory", self._stub.BatchGetSkus(inventory_pb2.BatchGetSkusRequest(skus=wanted))
        )
        return {sku.sku: sku for sku in response.skus}

    async def hold(self, request: inventory_pb2.HoldRequest) -> inventory_pb2.Hold:
        response = await remote_call("inventory", self._stub.Hold(request))
        return response.hold

    async def get_hold(self, hold_id: str) -> inventory_pb2.Hold:
        response = await remote_call("inventory", self._stub.GetHold(inventory_pb2.GetHoldRequest(hold_id=hold_id)))
        return response.hold

    async def extend(self, request_id: str, hold_id: str, expires_at: datetime) -> inventory_pb2.Hold:
        request = inventory_pb2.ExtendHoldRequest(request_id=request_id, hold_id=hold_id)
        request.expires_at.FromDatetime(expires_at)
        response = await remote_call("inventory", self._stub.ExtendHold(request))
        return response.hold

    async def release(
        self, request_id: str, hold_id: str, lines: Mapping[tuple[str, str], int], reason: str
    ) -> inventory_pb2.Hold:
        """Release the given (location, sku) quantities of a hold; all that is open when `lines` is empty."""
        request = inventory_pb2.ReleaseHoldRequest(
            request_id=request_id,
            hold_id=hold_id,
            lines=[
                inventory_pb2.HoldLineRequest(location_id=location_id, sku=sku, quantity=quantity)
                for (location_id, sku), quantity in sorted(lines.items())
                if quantity > 0
            ],
            reason=reason,
        )
        response = await remote_call("inventory", self._stub.ReleaseHold(request))
        return response.hold
