"""FindAvailability's order of locations: by distance from the point asked about, routing rank, id."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from omnistock_platform.geo import Point, distance_km

# A location in a search's order: its distance (rounded as answers give it), routing rank and id.
Ranked: TypeAlias = tuple[float, int, str]


@functools.lru_cache(maxsize=4096)
def point(latitude: float, longitude: float) -> Point:
    """A location's point, made once: a search measures the distance to every location."""
    return Point(latitude, longitude)


def rank(
    places: Mapping[str, Any], near: Point | None, flag: str | None, radius_km: float, ids: Iterable[str] | None = None
) -> list[Ranked]:
    """The active locations among `places` (only those of `ids` when given) that have `flag` set
    (`ships`, `pickup`, `till_sales`; None: any) and lie within `radius_km` of `near` (0: any
    distance), in order of distance, routing rank and id."""
    order = []
    for location_id in places if ids is None else ids:
        place = places[location_id]
        if not place["active"] or (flag is not None and not place[flag]):
            continue
        distance = distance_km(near, point(place["latitude"], place["longitude"])) if near is not None else 0.0
        if radius_km and distance > radius_km:
            continue
        order.append((round(distance, 3), place["routing_rank"], location_id))
    order.sort()
    return order
