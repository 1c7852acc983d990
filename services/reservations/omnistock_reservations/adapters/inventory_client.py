"""What reservations asks of inventory: the store, a hold for each reservation, and its settling.

Every failed call comes back as an Omnistock error (a shortfall stays a Shortfall); timeouts and
an absent inventory become Unavailable, which the caller may retry with the same request id.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_platform.errors import Alternative
from omnistock_platform.grpc.client import remote_call
from omnistock_platform.owners import reservation_owner
from omnistock_platform.promise_messages import Awaited, awaited_once_held, beyond_shelf
from omnistock_reservations.adapters.messages import channel_code
from omnistock_reservations.domain.holds import derived_request_id, hold_request_id
from omnistock_reservations.domain.reservation import Line, Reservation

T = TypeVar("T")
MAX_TRANSFER_PAGES = 4


@dataclass(frozen=True)
class Store:
    location_id: str
    name: str
    city: str
    latitude: float
    longitude: float
    pickup: bool
    active: bool
    # Its calendar, for promise dates (docs/promises.md).
    promise_settings: pb.PromiseSettings = field(default_factory=pb.PromiseSettings)


@dataclass(frozen=True)
class HoldView:
    """What reservations needs to know of a hold."""

    hold_id: str
    owner: str
    state: str  # active, released, committed, expired
    expires_at: datetime
    # The open units in the terms they were asked in: a set by its SKU in sets, a plain SKU in the
    # units held for it alone (its units held for sets are the sets').
    open: dict[str, int] = field(default_factory=dict)
    # The stock rows' SKUs (a set's components), and the state the answer reflects (a read passing
    # it sees the hold).
    rows: frozenset[str] = frozenset()
    consistency_token: str = ""
    # Its stock rows as taking it left them (Hold's answer; empty from other calls).
    levels: tuple[pb.StockLevel, ...] = ()


_STATES = {
    pb.HOLD_STATE_ACTIVE: "active",
    pb.HOLD_STATE_RELEASED: "released",
    pb.HOLD_STATE_COMMITTED: "committed",
    pb.HOLD_STATE_EXPIRED: "expired",
}


def _hold(hold: pb.Hold, consistency_token: str = "", levels: Iterable[pb.StockLevel] = ()) -> HoldView:
    units: dict[str, int] = {}
    for line in hold.lines:
        units[line.sku] = units.get(line.sku, 0) + line.open
    for bundle in hold.bundles:
        units[bundle.sku] = units.get(bundle.sku, 0) + bundle.open
        for part in bundle.components:
            units[part.sku] -= bundle.open * part.quantity
    return HoldView(
        hold_id=hold.hold_id,
        owner=hold.owner,
        state=_STATES.get(hold.state, "unknown"),
        expires_at=hold.expires_at.ToDatetime(tzinfo=UTC),
        open={sku: quantity for sku, quantity in units.items() if quantity > 0},
        rows=frozenset(line.sku for line in hold.lines),
        consistency_token=consistency_token,
        levels=tuple(levels),
    )


@dataclass(frozen=True)
class TransferView:
    """What reservations needs to know of a transfer that brings a reservation's units to its store."""

    transfer_id: str
    origin_id: str
    status: str  # draft, shipped, received, cancelled
    origin_hold_id: str
    arrival_hold_id: str
    expected_arrival_at: datetime | None
    received_at: datetime | None
    # SKU -> units received in good order
    received: dict[str, int]
    destination_id: str = ""


_TRANSFER_STATES = {
    pb.TRANSFER_STATUS_DRAFT: "draft",
    pb.TRANSFER_STATUS_SHIPPED: "shipped",
    pb.TRANSFER_STATUS_RECEIVED: "received",
    pb.TRANSFER_STATUS_CANCELLED: "cancelled",
}


def transfer_view(transfer: pb.Transfer) -> TransferView:
    return TransferView(
        transfer_id=transfer.transfer_id,
        origin_id=transfer.origin_location_id,
        status=_TRANSFER_STATES.get(transfer.status, "unknown"),
        origin_hold_id=transfer.origin_hold_id,
        arrival_hold_id=transfer.arrival_hold_id,
        expected_arrival_at=transfer.expected_arrival_at.ToDatetime(tzinfo=UTC)
        if transfer.HasField("expected_arrival_at")
        else None,
        received_at=transfer.received_at.ToDatetime(tzinfo=UTC) if transfer.HasField("received_at") else None,
        received={line.sku: line.received for line in transfer.lines},
        destination_id=transfer.destination_location_id,
    )


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


async def _call(pending: Awaitable[T]) -> T:
    return await remote_call("inventory", pending)


def hold_request(reservation: Reservation) -> pb.HoldRequest:
    """The reservation's one Hold request; built only from what is stored, so a retry is identical."""
    ttl = Duration()
    ttl.FromTimedelta(reservation.hold_for)
    return pb.HoldRequest(
        request_id=hold_request_id(reservation.reservation_id),
        owner=reservation_owner(reservation.reservation_id),
        channel=channel_code(reservation.channel),
        lines=[
            pb.HoldLineRequest(location_id=reservation.store_id, sku=line.sku, quantity=line.quantity)
            for line in reservation.lines
        ],
        ttl=ttl,
        # A till reserving at its own store may use the shelf's safety stock, as a till sale may.
        selling_location_id=reservation.store_id if reservation.channel == "pos" else "",
    )


# A store's description (open, offering pickup, where it is) changes rarely. It is remembered until
# inventory says it changed (location.changed) and at most a few seconds, so an announcement missed
# while NATS was away costs no more than orders allows itself. Holds never rely on it.
STORE_CACHE_SECONDS = 5.0
# SKUs known to inventory, remembered: inventory never deletes a SKU, so one known stays known.
MAX_KNOWN_SKUS = 100_000
# SKUs per ListSkus page when the catalogue is learnt at start.
SKU_PAGE = 500


class InventoryClient:
    def __init__(self, channel: grpc.aio.Channel, *, store_ttl: float = STORE_CACHE_SECONDS) -> None:
        self._stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        self._store_ttl = store_ttl
        self._stores: dict[str, tuple[float, Store]] = {}
        # Grows with every store forgotten: an answer asked for before it is not remembered.
        self._forgotten = 0
        self._known_skus: set[str] = set()

    async def store(self, location_id: str) -> Store:
        """The store as inventory described it at most STORE_CACHE_SECONDS ago, or since it last said the
        store changed; NotFound is never remembered."""
        now = time.monotonic()
        cached = self._stores.get(location_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        forgotten = self._forgotten
        response = await _call(self._stub.GetLocation(pb.GetLocationRequest(location_id=location_id)))
        location = response.location
        store = Store(
            location_id=location.location_id,
            name=location.name,
            city=location.city,
            latitude=location.point.latitude,
            longitude=location.point.longitude,
            pickup=location.pickup,
            active=location.active,
            promise_settings=location.promise_settings,
        )
        if self._forgotten == forgotten:  # no change was announced while inventory answered
            self._stores[location_id] = (now + self._store_ttl, store)
        return store

    def forget_store(self, location_id: str) -> None:
        """Inventory said the location changed (location.changed): the next check asks it again."""
        self._forgotten += 1
        self._stores.pop(location_id, None)

    def forget_stores(self) -> None:
        self._forgotten += 1
        self._stores.clear()

    async def unknown_skus(self, skus: list[str]) -> list[str]:
        """Those of the SKUs inventory does not know: no call when all are known already, else one."""
        wanted = sorted(set(skus) - self._known_skus)
        if not wanted:
            return []
        response = await _call(self._stub.BatchGetSkus(pb.BatchGetSkusRequest(skus=wanted)))
        unknown = list(response.not_found)
        if len(self._known_skus) + len(wanted) > MAX_KNOWN_SKUS:
            self._known_skus.clear()
        self._known_skus.update(set(wanted) - set(unknown))
        return unknown

    async def learn_skus(self) -> int:
        """Remembers the catalogue's SKUs page by page, up to half of MAX_KNOWN_SKUS, so that a
        process that has just started asks nothing for them; the number remembered. One created
        since, or beyond the pages learnt, is asked for once, as before (`unknown_skus`)."""
        token = ""
        while len(self._known_skus) + SKU_PAGE <= MAX_KNOWN_SKUS // 2:
            page = await _call(self._stub.ListSkus(pb.ListSkusRequest(page_size=SKU_PAGE, page_token=token)))
            self._known_skus.update(sku.sku for sku in page.skus)
            token = page.next_page_token
            if not token:
                break
        return len(self._known_skus)

    async def hold(self, reservation: Reservation) -> HoldView:
        response = await _call(self._stub.Hold(hold_request(reservation)))
        return _hold(response.hold, response.consistency_token, response.levels)

    async def on_the_way(self, location_id: str, hold: HoldView) -> Awaited | None:
        """When the units the hold took at the location beyond its shelf get there (a pool's units
        in transit, a backorder); None when every unit held there is on the shelf. Transfers are
        asked only then, so a hold on stock that is there costs one stock read, and none when the
        hold's answer gave every row it took at the location as the hold left it."""
        given = [level for level in hold.levels if level.location_id == location_id]
        if given and len(given) == len(hold.rows) and not beyond_shelf(given, {}):
            return None
        request = pb.BatchGetStockRequest(
            skus=sorted(hold.rows), location_ids=[location_id], min_consistency_token=hold.consistency_token
        )
        levels = list((await _call(self._stub.BatchGetStock(request))).levels)
        missing = beyond_shelf(levels, {})
        if not missing:
            return None
        transfers: list[pb.Transfer] = []
        token = ""
        for _ in range(MAX_TRANSFER_PAGES):
            listed = await _call(
                self._stub.ListTransfers(
                    pb.ListTransfersRequest(
                        location_id=location_id, status=pb.TRANSFER_STATUS_SHIPPED, page_size=500, page_token=token
                    )
                )
            )
            transfers.extend(listed.transfers)
            token = listed.next_page_token
            if not token:
                break
        return awaited_once_held(location_id, levels, transfers)

    async def get_hold(self, hold_id: str) -> HoldView:
        response = await _call(self._stub.GetHold(pb.GetHoldRequest(hold_id=hold_id)))
        return _hold(response.hold, response.consistency_token)

    # `owner`: the reservation's (`reservation_owner`). Its hold may have passed to an order since the
    # reservation was read (converted): inventory then refuses, and the order's units stay the order's.

    async def release(self, request_id: str, hold_id: str, reason: str, *, owner: str) -> HoldView:
        request = pb.ReleaseHoldRequest(request_id=request_id, hold_id=hold_id, reason=reason, expected_owner=owner)
        return _hold((await _call(self._stub.ReleaseHold(request))).hold)

    async def commit(self, request_id: str, hold_id: str, *, owner: str) -> HoldView:
        request = pb.CommitHoldRequest(request_id=request_id, hold_id=hold_id, document_ref=owner, expected_owner=owner)
        return _hold((await _call(self._stub.CommitHold(request))).hold)

    async def extend(self, request_id: str, hold_id: str, expires_at: datetime, *, owner: str) -> HoldView:
        request = pb.ExtendHoldRequest(
            request_id=request_id, hold_id=hold_id, expires_at=_timestamp(expires_at), expected_owner=owner
        )
        return _hold((await _call(self._stub.ExtendHold(request))).hold)

    async def transfer(self, request_id: str, hold_id: str, expected_owner: str, new_owner: str) -> HoldView:
        request = pb.TransferHoldRequest(
            request_id=request_id, hold_id=hold_id, expected_owner=expected_owner, new_owner=new_owner
        )
        return _hold((await _call(self._stub.TransferHold(request))).hold)

    async def origins(self, store: Store, lines: list[Line], channel: str, *, limit: int = 3) -> list[str]:
        """The nearest other locations (warehouses or stores) that have every line, for ship to store."""
        request = pb.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=line.sku, quantity=line.quantity) for line in lines],
            channel=channel_code(channel),
            near=common_pb2.GeoPoint(latitude=store.latitude, longitude=store.longitude),
            complete_only=True,
            page_size=limit + 1,
        )
        response = await _call(self._stub.FindAvailability(request))
        return [
            entry.location.location_id
            for entry in response.locations
            if entry.location.location_id != store.location_id
        ][:limit]

    async def ship_to_store(self, reservation: Reservation) -> TransferView:
        """A transfer from the reservation's chosen origin to its store, its units held at the origin for
        it now and at the store on arrival. The request id names the origin: a retry finds the same one."""
        hold_for = Duration()
        hold_for.FromTimedelta(reservation.hold_for)
        request = pb.CreateTransferRequest(
            request_id=derived_request_id(reservation.reservation_id, "ship-to-store", reservation.transfer_origin_id),
            origin_location_id=reservation.transfer_origin_id,
            destination_location_id=reservation.store_id,
            lines=[pb.TransferLineRequest(sku=line.sku, quantity=line.quantity) for line in reservation.lines],
            note=f"ship to store for reservation {reservation.reservation_id} ({reservation.pickup_code})",
            hold_owner=reservation_owner(reservation.reservation_id),
            hold_for=hold_for,
        )
        return transfer_view((await _call(self._stub.CreateTransfer(request))).transfer)

    async def cancel_transfer(self, request_id: str, transfer_id: str, reason: str) -> TransferView:
        request = pb.CancelTransferRequest(request_id=request_id, transfer_id=transfer_id, reason=reason)
        return transfer_view((await _call(self._stub.CancelTransfer(request))).transfer)

    async def alternatives(self, store: Store, lines: list[Line], channel: str, *, limit: int = 5) -> list[Alternative]:
        """The nearest other stores that can serve every line for pickup, with what they have."""
        request = pb.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=line.sku, quantity=line.quantity) for line in lines],
            channel=channel_code(channel),
            near=common_pb2.GeoPoint(latitude=store.latitude, longitude=store.longitude),
            method=common_pb2.FULFILMENT_METHOD_PICKUP,
            complete_only=True,
            page_size=limit + 1,
        )
        response = await _call(self._stub.FindAvailability(request))
        wanted = {line.sku for line in lines}
        return [
            Alternative(
                location_id=entry.location.location_id,
                location_name=entry.location.name,
                city=entry.location.city,
                distance_km=entry.distance_km,
                available={level.sku: level.available for level in entry.levels if level.sku in wanted},
            )
            for entry in response.locations
            if entry.location.location_id != store.location_id
        ][:limit]
