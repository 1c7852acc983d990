"""Helpers for the reservations tests: a catalogue of unique stores and SKUs, and requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id

# Two points in the same city, a few kilometres apart.
CENTRE = (52.5200, 13.4050)
NEARBY = (52.5000, 13.4500)


def duration(value: timedelta) -> Duration:
    found = Duration()
    found.FromTimedelta(value)
    return found


def create_request(
    store_id: str,
    lines: list[tuple[str, int]],
    *,
    customer_id: str | None = None,
    channel: int = common_pb2.CHANNEL_CHAT,
    hold_for: timedelta | None = None,
    request_id: str | None = None,
) -> pb.CreateReservationRequest:
    request = pb.CreateReservationRequest(
        request_id=request_id or unique_id(),
        channel=channel,  # type: ignore[arg-type]
        customer=pb.Customer(
            customer_id=customer_id or unique_id("CUST-"),
            name="Ada Lovelace",
            email="ada@example.com",
            phone="+49 30 1234567",
        ),
        store_id=store_id,
        lines=[common_pb2.SkuQuantity(sku=sku, quantity=quantity) for sku, quantity in lines],
    )
    if hold_for is not None:
        request.hold_for.CopyFrom(duration(hold_for))
    return request


def shortfall_of(error: grpc.aio.AioRpcError) -> common_pb2.Shortfall:
    (found,) = details_of(error, common_pb2.Shortfall)
    return found  # type: ignore[no-any-return]


def field_violations(error: grpc.aio.AioRpcError) -> list[str]:
    from google.rpc import error_details_pb2

    return [v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations]


@dataclass
class World:
    """Inventory's catalogue as an admin sets it up, and reservations as channels call it."""

    stack: Stack
    inventory: Any = None
    reservations: Any = None
    _stubs: dict[tuple[str, tuple[str, ...]], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inventory = self.stack.stub("inventory", role="admin")
        self.reservations = self.as_role("chat_agent")

    def as_role(self, role: str, locations: list[str] | None = None) -> Any:
        key = (role, tuple(locations or ()))
        if key not in self._stubs:
            self._stubs[key] = self.stack.stub("reservations", role=role, locations=locations)
        return self._stubs[key]

    async def store(
        self,
        *,
        point: tuple[float, float] = CENTRE,
        city: str = "Berlin",
        pickup: bool = True,
        name: str = "",
    ) -> str:
        location_id = unique_id("STORE-")
        await self.inventory.UpsertLocation(
            inv.UpsertLocationRequest(
                request_id=unique_id(),
                location=inv.Location(
                    location_id=location_id,
                    name=name or f"Store {location_id}",
                    kind=inv.LOCATION_KIND_STORE,
                    city=city,
                    point=common_pb2.GeoPoint(latitude=point[0], longitude=point[1]),
                    routing_rank=10,
                    ships=False,
                    pickup=pickup,
                    till_sales=True,
                    active=True,
                ),
            )
        )
        return location_id

    async def sku(self, title: str = "Velvet sofa", **attributes: str) -> str:
        sku = unique_id("SKU-")
        await self.inventory.UpsertSku(
            inv.UpsertSkuRequest(
                request_id=unique_id(),
                sku=inv.Sku(sku=sku, title=title, attributes=attributes, price_minor=129900, currency="EUR"),
            )
        )
        return sku

    async def receive(self, location_id: str, sku: str, quantity: int) -> None:
        await self.inventory.ReceiveStock(
            inv.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=quantity)
        )

    async def level(self, location_id: str, sku: str) -> inv.StockLevel:
        response = await self.inventory.GetStock(
            inv.GetStockRequest(sku=sku, location_id=location_id, channel=common_pb2.CHANNEL_WEB)
        )
        (found,) = response.levels
        return found  # type: ignore[no-any-return]

    async def hold(self, hold_id: str) -> inv.Hold:
        return (await self.inventory.GetHold(inv.GetHoldRequest(hold_id=hold_id))).hold  # type: ignore[no-any-return]

    async def reserve(self, store_id: str, lines: list[tuple[str, int]], **fields: Any) -> pb.Reservation:
        response = await self.reservations.CreateReservation(create_request(store_id, lines, **fields))
        return response.reservation  # type: ignore[no-any-return]

    async def extend(self, reservation_id: str, by: timedelta) -> pb.Reservation:
        request = pb.ExtendReservationRequest(
            request_id=unique_id(), reservation_id=reservation_id, extend_by=duration(by)
        )
        return (await self.reservations.ExtendReservation(request)).reservation  # type: ignore[no-any-return]

    async def get(self, reservation_id: str) -> pb.Reservation:
        response = await self.as_role("admin").GetReservation(pb.GetReservationRequest(reservation_id=reservation_id))
        return response.reservation  # type: ignore[no-any-return]
