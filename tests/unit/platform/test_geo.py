"""The great-circle distance every service ranks locations by."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_platform.geo import EARTH_RADIUS_KM, Point, distance_km

BERLIN = Point(52.5200, 13.4050)
HAMBURG = Point(53.5511, 9.9937)

points = st.builds(
    Point,
    lat=st.floats(min_value=-90.0, max_value=90.0, allow_nan=False),
    lon=st.floats(min_value=-180.0, max_value=180.0, allow_nan=False),
)


def test_distance_between_berlin_and_hamburg_is_about_255_km() -> None:
    assert distance_km(BERLIN, HAMBURG) == pytest.approx(255.3, abs=0.1)
    assert distance_km(HAMBURG, BERLIN) == pytest.approx(distance_km(BERLIN, HAMBURG))
    assert distance_km(BERLIN, BERLIN) == 0.0


def test_distance_of_antipodes_is_half_the_circumference() -> None:
    assert distance_km(Point(0.0, 0.0), Point(0.0, 180.0)) == pytest.approx(20015.1, abs=0.1)


@pytest.mark.parametrize(("lat", "lon"), [(90.5, 0.0), (-91.0, 0.0), (0.0, 180.5), (0.0, -181.0)])
def test_point_outside_the_globe_is_rejected(lat: float, lon: float) -> None:
    with pytest.raises(ValueError):
        Point(lat, lon)


@given(points, points, points)
def test_distance_is_a_metric_on_the_sphere(a: Point, b: Point, c: Point) -> None:
    half_circumference = math.pi * EARTH_RADIUS_KM
    assert 0.0 <= distance_km(a, b) <= half_circumference + 1e-6
    assert distance_km(a, b) == pytest.approx(distance_km(b, a), abs=1e-6)
    assert distance_km(a, c) <= distance_km(a, b) + distance_km(b, c) + 1e-6
