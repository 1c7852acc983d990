"""The demo catalogue, kept as data in `data/*.csv`: four German cities, their
stores and warehouses, furniture and apparel, and the stock that tells the story
of the last green velvet sofa (only one, at the Berlin city branch)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

DEMO_STORE = "STORE-BER-MITTE"
DEMO_WAREHOUSE = "WH-BER"
DEMO_SKU = "SOFA-VELVET-GREEN"


@dataclass(frozen=True)
class DemoLocation:
    location_id: str
    name: str
    kind: Literal["store", "warehouse"]
    city: str
    latitude: float
    longitude: float
    routing_rank: int
    ships: bool
    pickup: bool
    till_sales: bool


@dataclass(frozen=True)
class DemoSku:
    sku: str
    title: str
    category: str
    colour: str
    size: str
    material: str
    price_minor: int
    currency: str

    @property
    def attributes(self) -> dict[str, str]:
        return {"category": self.category, "colour": self.colour, "size": self.size, "material": self.material}


@dataclass(frozen=True)
class DemoStock:
    location_id: str
    sku: str
    on_hand: int
    safety_stock: int


@dataclass(frozen=True)
class Catalogue:
    locations: tuple[DemoLocation, ...]
    skus: tuple[DemoSku, ...]
    stock: tuple[DemoStock, ...]

    def location(self, location_id: str) -> DemoLocation:
        return next(location for location in self.locations if location.location_id == location_id)


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("omnistock_cli").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _flag(value: str) -> bool:
    return value.strip().lower() in {"true", "yes", "1"}


@cache
def demo_catalogue() -> Catalogue:
    locations = tuple(
        DemoLocation(
            location_id=row["location_id"],
            name=row["name"],
            kind="warehouse" if row["kind"] == "warehouse" else "store",
            city=row["city"],
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            routing_rank=int(row["routing_rank"]),
            ships=_flag(row["ships"]),
            pickup=_flag(row["pickup"]),
            till_sales=_flag(row["till_sales"]),
        )
        for row in _rows("locations.csv")
    )
    skus = tuple(
        DemoSku(
            sku=row["sku"],
            title=row["title"],
            category=row["category"],
            colour=row["colour"],
            size=row["size"],
            material=row["material"],
            price_minor=int(row["price_minor"]),
            currency=row["currency"],
        )
        for row in _rows("skus.csv")
    )
    stock = tuple(
        DemoStock(row["location_id"], row["sku"], int(row["on_hand"]), int(row["safety_stock"]))
        for row in _rows("stock.csv")
    )
    return Catalogue(locations, skus, stock)
