"""What reservations asks of inventory: the store, a hold for each reservation, and its settling.

Every failed call comes back as an Omnistock error (a shortfall stays a Shortfall); timeouts and
an absent inventory become Unavailable, which the caller may retry with the same request id.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
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
from omnistock_reservations.adapters.messages import channel_code
from omnistock_reservations.domain.holds import hold_request_id
from omnistock_reservations.domain.reservation import Line, Reservation

T = TypeVar("T")


@dataclass(frozen=True)
class Store:
    location_id: str
    name: str
    city: str
    latitude: float
    longitude: float
    pickup: bool
    active: bool


@dataclass(frozen=True)
class HoldView:
    """What reservations needs to know of a hold."""

    hold_id: str
    owner: str
    state: str  # active, released, committed, expired
    expires_at: datetime


_STATES = {
    pb.HOLD_STATE_ACTIVE: "active",
    pb.HOLD_STATE_RELEASED: "released",
    pb.HOLD_STATE_COMMITTED: "committed",
    pb.HOLD_STATE_EXPIRED: "expired",
}


def _hold(hold: pb.Hold) -> HoldView:
    return HoldView(
        hold_id=hold.hold_id,
        owner=hold.owner,
        state=_STATES.get(hold.state, "unknown"),
        expires_at=hold.expires_at.ToDatetime(tzinfo=UTC),
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


class InventoryClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = inventory_pb2_grpc.InventoryServiceStub(channel)

    async def store(self, location_id: str) -> Store:
        response = await _call(self._stub.GetLocation(pb.GetLocationRequest(location_id=location_id)))
        location = response.location
        return Store(
            location_id=location.location_id,
            name=location.name,
            city=location.city,
            latitude=location.point.latitude,
            longitude=location.point.longitude,
            pickup=location.pickup,
            active=location.active,
        )

    async def unknown_skus(self, skus: list[str]) -> list[str]:
        """Those of the SKUs inventory does not know, in one call."""
        response = await _call(self._stub.BatchGetSkus(pb.BatchGetSkusRequest(skus=sorted(set(skus)))))
        return list(response.not_found)

    async def hold(self, reservation: Reservation) -> HoldView:
        response = await _call(self._stub.Hold(hold_request(reservation)))
        return _hold(response.hold)

    async def get_hold(self, hold_id: str) -> HoldView:
        response = await _call(self._stub.GetHold(pb.GetHoldRequest(hold_id=hold_id)))
        return _hold(response.hold)

    async def release(self, request_id: str, hold_id: str, reason: str) -> HoldView:
        request = pb.ReleaseHoldRequest(request_id=request_id, hold_id=hold_id, reason=reason)
        return _hold((await _call(self._stub.ReleaseHold(request))).hold)

    async def commit(self, request_id: str, hold_id: str, document_ref: str) -> HoldView:
        request = pb.CommitHoldRequest(request_id=request_id, hold_id=hold_id, document_ref=document_ref)
        return _hold((await _call(self._stub.CommitHold(request))).hold)

    async def extend(self, request_id: str, hold_id: str, expires_at: datetime) -> HoldView:
        request = pb.ExtendHoldRequest(request_id=request_id, hold_id=hold_id, expires_at=_timestamp(expires_at))
        return _hold((await _call(self._stub.ExtendHold(request))).hold)

    async def transfer(self, request_id: str, hold_id: str, expected_owner: str, new_owner: str) -> HoldView:
        request = pb.TransferHoldRequest(
            request_id=request_id, hold_id=hold_id, expected_owner=expected_owner, new_owner=new_owner
        )
        return _hold((await _call(self._stub.TransferHold(request))).hold)

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
