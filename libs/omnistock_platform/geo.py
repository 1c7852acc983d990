"""Points on the earth and the great-circle distance between them: one rule for every service
that ranks locations by distance (orders routing, inventory's availability search)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# IUGG mean earth radius; the error against the ellipsoid stays well under 0.5 %, plenty to rank locations.
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Point:
    """A WGS 84 position in decimal degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude {self.lat} is outside -90..90")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"longitude {self.lon} is outside -180..180")


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance by the haversine formula, which stays accurate for short distances."""
    lat_a, lat_b = math.radians(a.lat), math.radians(b.lat)
    half_dlat = (lat_b - lat_a) / 2
    half_dlon = math.radians(b.lon - a.lon) / 2
    h = math.sin(half_dlat) ** 2 + math.cos(lat_a) * math.cos(lat_b) * math.sin(half_dlon) ** 2
    # Rounding can push h a hair above 1 for antipodal points; asin would then fail.
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))
