"""What orders asks of inventory: stock, locations, prices, and holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from datetime import datetime

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from omnistock_orders.adapters.remote import call
from omnistock_platform.errors import NotFound

# Locations change rarely (opening hours, not stock): a few seconds of staleness costs nothing
# and saves a call per location on every quote.
LOCATION_CACHE_SECONDS = 5.0


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
        response = await call("inventory", self._stub.BatchGetStock(request))
        return list(response.levels)

    async def location(self, location_id: str) -> inventory_pb2.Location | None:
        """The location, or None when inventory does not know it."""
        cached = self._locations.get(location_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            response = await call(
                "inventory", self._stub.GetLocation(inventory_pb2.GetLocationRequest(location_id=location_id))
            )
            found: inventory_pb2.Location | None = response.location
        except NotFound:
            found = None
        self._locations[location_id] = (now + self._location_ttl, found)
        return found

    async def locations(self, location_ids: Iterable[str]) -> dict[str, inventory_pb2.Location]:
        wanted = sorted(set(location_ids))
        found = await asyncio.gather(*(self.location(location_id) for location_id in wanted))
        return {location.location_id: location for location in found if location is not None}

    async def sku(self, sku: str) -> inventory_pb2.Sku | None:
        try:
            response = await call("inventory", self._stub.GetSku(inventory_pb2.GetSkuRequest(sku=sku)))
        except NotFound:
            return None
        return response.sku

    async def skus(self, skus: Iterable[str]) -> dict[str, inventory_pb2.Sku]:
        wanted = sorted(set(skus))
        found = await asyncio.gather(*(self.sku(sku) for sku in wanted))
        return {sku.sku: sku for sku in found if sku is not None}

    async def hold(self, request: inventory_pb2.HoldRequest) -> inventory_pb2.Hold:
        response = await call("inventory", self._stub.Hold(request))
        return response.hold

    async def get_hold(self, hold_id: str) -> inventory_pb2.Hold:
        response = await call("inventory", self._stub.GetHold(inventory_pb2.GetHoldRequest(hold_id=hold_id)))
        return response.hold

    async def extend(self, request_id: str, hold_id: str, expires_at: datetime) -> inventory_pb2.Hold:
        request = inventory_pb2.ExtendHoldRequest(request_id=request_id, hold_id=hold_id)
        request.expires_at.FromDatetime(expires_at)
        response = await call("inventory", self._stub.ExtendHold(request))
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
        response = await call("inventory", self._stub.ReleaseHold(request))
        return response.hold
