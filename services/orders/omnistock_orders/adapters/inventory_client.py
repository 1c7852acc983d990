"""What orders asks of inventory: stock, locations, prices, and holds."""

from __future__ import annotations

import asyncio
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
# The largest page ListLocations answers.
MAX_LIST_PAGE = 500


MAX_TRANSFER_PAGES = 4


class InventoryClient:
    def __init__(self, channel: grpc.aio.Channel, *, location_ttl: float = LOCATION_CACHE_SECONDS) -> None:
        self._stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        self._location_ttl = location_ttl
        self._locations: dict[str, tuple[float, inventory_pb2.Location | None]] = {}
        # Every location, listed at most once per `location_ttl` whoever asks meanwhile.
        self._all: tuple[float, Mapping[str, inventory_pb2.Location]] | None = None
        self._listing = asyncio.Lock()

    async def stock(
        self,
        skus: Iterable[str],
        channel: common_pb2.Channel.ValueType,
        *,
        selling_location_id: str = "",
        location_ids: Iterable[str] = (),
        consistency_token: str = "",
    ) -> list[inventory_pb2.StockLevel]:
        request = inventory_pb2.BatchGetStockRequest(
            skus=sorted(set(skus)),
            location_ids=sorted(set(location_ids)),
            channel=channel,
            selling_location_id=selling_location_id,
            min_consistency_token=consistency_token,
        )
        response = await remote_call("inventory", self._stub.BatchGetStock(request))
        return list(response.levels)

    async def first_stock(
        self,
        skus: Iterable[str],
        channel: common_pb2.Channel.ValueType,
        ranked: Iterable[str],
        count: int,
        *,
        selling_location_id: str = "",
    ) -> tuple[list[inventory_pb2.StockLevel], list[str]]:
        """The stock rows of the SKUs at the first `count` of the `ranked` locations that stock any
        of them, and the locations not ranked that stock any (those a stale list does not know)."""
        request = inventory_pb2.BatchGetStockRequest(
            skus=sorted(set(skus)),
            location_ids=ranked,
            channel=channel,
            selling_location_id=selling_location_id,
            first_locations=count,
        )
        response = await remote_call("inventory", self._stub.BatchGetStock(request))
        return list(response.levels), list(response.unlisted_location_ids)

    async def location(self, location_id: str) -> inventory_pb2.Location | None:
        """The location, or None when inventory does not know it."""
        return (await self._cached_locations([location_id])).get(location_id)

    async def knows_location(self, location_id: str) -> bool:
        """Whether inventory has the location: a known one from the cache, an unknown one asked now
        (the cache may remember it unknown from before it was created)."""
        cached = self._locations.get(location_id)
        if cached is not None and cached[1] is not None and cached[0] > time.monotonic():
            return True
        request = inventory_pb2.BatchGetLocationsRequest(location_ids=[location_id])
        response = await remote_call("inventory", self._stub.BatchGetLocations(request))
        return any(location.location_id == location_id for location in response.locations)

    async def locations(self, location_ids: Iterable[str]) -> dict[str, inventory_pb2.Location]:
        """The known ones among the given locations: what the cache lacks comes in one call."""
        return await self._cached_locations(sorted(set(location_ids)))

    async def all_locations(
        self, *, outdated: Mapping[str, inventory_pb2.Location] | None = None
    ) -> Mapping[str, inventory_pb2.Location]:
        """Every location inventory knows, by id, as listed at most `location_ttl` ago, and listed
        anew when it is still the `outdated` listing: the same mapping object until the next one."""
        async with self._listing:
            if self._all is None or self._all[0] <= time.monotonic() or self._all[1] is outdated:
                listed: dict[str, inventory_pb2.Location] = {}
                request = inventory_pb2.ListLocationsRequest(page_size=MAX_LIST_PAGE)
                while True:
                    response = await remote_call("inventory", self._stub.ListLocations(request))
                    listed.update((location.location_id, location) for location in response.locations)
                    if not response.next_page_token:
                        break
                    request.page_token = response.next_page_token
                expires = time.monotonic() + self._location_ttl
                self._all = (expires, listed)
                for location_id, location in listed.items():
                    self._locations[location_id] = (expires, location)
            return self._all[1]

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

    async def transfers_on_the_way(self, location_id: str) -> list[inventory_pb2.Transfer]:
        """Shipped transfers from or to the location, not yet received (at most MAX_TRANSFER_PAGES pages)."""
        found: list[inventory_pb2.Transfer] = []
        token = ""
        for _ in range(MAX_TRANSFER_PAGES):
            request = inventory_pb2.ListTransfersRequest(
                location_id=location_id,
                status=inventory_pb2.TRANSFER_STATUS_SHIPPED,
                page_size=500,
                page_token=token,
            )
            response = await remote_call("inventory", self._stub.ListTransfers(request))
            found.extend(response.transfers)
            token = response.next_page_token
            if not token:
                break
        return found

    async def hold(self, request: inventory_pb2.HoldRequest) -> inventory_pb2.Hold:
        response = await remote_call("inventory", self._stub.Hold(request))
        return in_order_terms(response.hold)

    async def get_hold(self, hold_id: str) -> inventory_pb2.Hold:
        return (await self.read_hold(hold_id))[0]

    async def read_hold(self, hold_id: str) -> tuple[inventory_pb2.Hold, str]:
        """The hold, and a consistency token: a stock read passing it sees the hold's changes so far."""
        response = await remote_call("inventory", self._stub.GetHold(inventory_pb2.GetHoldRequest(hold_id=hold_id)))
        return in_order_terms(response.hold), response.consistency_token

    async def extend(self, request_id: str, hold_id: str, expires_at: datetime) -> inventory_pb2.Hold:
        request = inventory_pb2.ExtendHoldRequest(request_id=request_id, hold_id=hold_id)
        request.expires_at.FromDatetime(expires_at)
        response = await remote_call("inventory", self._stub.ExtendHold(request))
        return in_order_terms(response.hold)

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
        return in_order_terms(response.hold)

    async def adjust_stock(
        self,
        request_id: str,
        location_id: str,
        sku: str,
        delta: int,
        reason: inventory_pb2.AdjustmentReason.ValueType,
        note: str,
        document_ref: str,
    ) -> inventory_pb2.StockLevel:
        """Move on hand by `delta` with a reason the ledger keeps (returns come back this way)."""
        request = inventory_pb2.AdjustStockRequest(
            request_id=request_id,
            location_id=location_id,
            sku=sku,
            reason=reason,
            delta=delta,
            note=note,
            document_ref=document_ref,
        )
        response = await remote_call("inventory", self._stub.AdjustStock(request))
        return response.level

    async def adjust_holds(
        self,
        request_id: str,
        changes: Mapping[str, Mapping[tuple[str, str], tuple[int, int]]],
        reason: str,
    ) -> str:
        """Change holds in place, all or nothing: hold id -> (location, sku) -> (open after, open now).
        The consistency token of the change (a read passing it sees it)."""
        request = inventory_pb2.AdjustHoldRequest(
            request_id=request_id,
            adjustments=[
                inventory_pb2.HoldAdjustment(
                    hold_id=hold_id,
                    lines=[
                        inventory_pb2.HoldLineChange(location_id=location_id, sku=sku, open=after, expected_open=before)
                        for (location_id, sku), (after, before) in sorted(lines.items())
                    ],
                )
                for hold_id, lines in sorted(changes.items())
                if lines
            ],
            reason=reason,
        )
        response = await remote_call("inventory", self._stub.AdjustHold(request))
        return response.consistency_token


def in_order_terms(hold: inventory_pb2.Hold) -> inventory_pb2.Hold:
    """The hold as the order asked for it: each bundle line as a line of the bundle SKU (in sets),
    and its components' lines without the units held for it (a line left empty goes). Releasing
    or committing a bundle SKU's line at its location moves its components together."""
    if not hold.bundles:
        return hold
    taken: dict[tuple[str, str], list[int]] = {}
    for bundle in hold.bundles:
        for component in bundle.components:
            counts = taken.setdefault((bundle.location_id, component.sku), [0, 0, 0])
            counts[0] += bundle.quantity * component.quantity
            counts[1] += bundle.committed * component.quantity
            counts[2] += bundle.released * component.quantity
    lines = []
    for line in hold.lines:
        quantity, committed, released = taken.get((line.location_id, line.sku), [0, 0, 0])
        if line.quantity > quantity:
            lines.append(
                inventory_pb2.HoldLine(
                    location_id=line.location_id,
                    sku=line.sku,
                    quantity=line.quantity - quantity,
                    committed=line.committed - committed,
                    released=line.released - released,
                    open=line.open - (quantity - committed - released),
                )
            )
    for bundle in hold.bundles:
        lines.append(
            inventory_pb2.HoldLine(
                location_id=bundle.location_id,
                sku=bundle.sku,
                quantity=bundle.quantity,
                committed=bundle.committed,
                released=bundle.released,
                open=bundle.open,
            )
        )
    seen = inventory_pb2.Hold()
    seen.CopyFrom(hold)
    del seen.lines[:]
    seen.lines.extend(sorted(lines, key=lambda line: (line.location_id, line.sku)))
    return seen
