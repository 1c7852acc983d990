"""Shared set-up for inventory tests: a catalogue of unique locations and SKUs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.testing.stack import Stack, unique_id


@dataclass
class Catalogue:
    admin: Any
    stack: Stack

    async def location(
        self,
        *,
        kind: int = pb.LOCATION_KIND_STORE,
        city: str = "Berlin",
        lat: float = 52.52,
        lon: float = 13.405,
        ships: bool = True,
        pickup: bool = True,
        till_sales: bool = True,
        rank: int = 10,
    ) -> str:
        location_id = unique_id("LOC-")
        await self.admin.UpsertLocation(
            pb.UpsertLocationRequest(
                request_id=unique_id(),
                location=pb.Location(
                    location_id=location_id,
                    name=f"Store {location_id}",
                    kind=kind,
                    city=city,
                    point=common_pb2.GeoPoint(latitude=lat, longitude=lon),
                    routing_rank=rank,
                    ships=ships,
                    pickup=pickup,
                    till_sales=till_sales,
                    active=True,
                ),
            )
        )
        return location_id

    async def sku(self, title: str = "Velvet sofa", **attributes: str) -> str:
        sku = unique_id("SKU-")
        await self.admin.UpsertSku(
            pb.UpsertSkuRequest(
                request_id=unique_id(),
                sku=pb.Sku(sku=sku, title=title, attributes=attributes, price_minor=129900, currency="EUR"),
            )
        )
        return sku

    async def receive(self, location_id: str, sku: str, quantity: int) -> pb.StockLevel:
        response = await self.admin.ReceiveStock(
            pb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=quantity)
        )
        return response.level


@pytest_asyncio.fixture
async def catalogue(stack: Stack) -> Catalogue:
    return Catalogue(stack.stub("inventory", role="admin"), stack)
