"""Reads every channel needs around a call: every page of a list, a city as a point on the
map, the names of locations, and stable identifiers derived from what a caller asked for."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock_client.client import OmnistockClient

PAGE_SIZE = 500


async def all_pages(
    client: OmnistockClient,
    method: Callable[..., Awaitable[Any]],
    request: Message,
    field: str,
    *,
    limit: int | None = None,
) -> list[Any]:
    """Every item of a paged list call (`page_size` / `page_token` / `next_page_token`), up to `limit`."""
    page = type(request)()
    page.CopyFrom(request)
    if not getattr(page, "page_size", 0):
        page.page_size = PAGE_SIZE  # type: ignore[attr-defined]
    items: list[Any] = []
    while True:
        reply = await client.call(method, page)
        items.extend(getattr(reply, field))
        if limit is not None and len(items) >= limit:
            return items[:limit]
        if not reply.next_page_token:
            return items
        page.page_token = reply.next_page_token  # type: ignore[attr-defined]


async def locations(client: OmnistockClient, *, city: str = "") -> list[inventory_pb2.Location]:
    return await all_pages(
        client, client.inventory.ListLocations, inventory_pb2.ListLocationsRequest(city=city), "locations"
    )


async def city_point(client: OmnistockClient, city: str) -> common_pb2.GeoPoint | None:
    """The mean point of the city's active locations (case-insensitive name); None if it has none."""
    found = [location for location in await locations(client, city=city.strip()) if location.active]
    if not found:
        return None
    return common_pb2.GeoPoint(
        latitude=sum(location.point.latitude for location in found) / len(found),
        longitude=sum(location.point.longitude for location in found) / len(found),
    )


async def location_names(client: OmnistockClient, location_ids: Iterable[str]) -> dict[str, str]:
    """Location id -> name; an id inventory does not know keeps its id as its name."""

    async def name(location_id: str) -> tuple[str, str]:
        try:
            reply = await client.call(
                client.inventory.GetLocation, inventory_pb2.GetLocationRequest(location_id=location_id)
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return location_id, location_id
            raise
        return location_id, reply.location.name or location_id

    return dict(await asyncio.gather(*(name(location_id) for location_id in sorted(set(location_ids)))))


_POINT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


def parse_point(text: str) -> common_pb2.GeoPoint | None:
    """`52.52,13.40` as a point (latitude, longitude); None when the text is not two numbers."""
    match = _POINT.match(text)
    if match is None:
        return None
    return common_pb2.GeoPoint(latitude=float(match.group(1)), longitude=float(match.group(2)))


def derived_request_id(kind: str, *parts: object) -> str:
    """The same intent always gives the same request id, so a retry never acts twice."""
    digest = hashlib.sha256(kind.encode())
    for part in parts:
        digest.update(b"\x1f" + str(part).encode())
    return f"{kind}-{digest.hexdigest()[:32]}"


def customer_id_for(name: str, email: str = "", phone: str = "") -> str:
    """A stable customer id from what a channel knows about the customer: the e-mail address,
    else the phone number, else the name, normalised, so the same customer gets the same id
    from every channel (and the per-customer reservation limit holds across them)."""
    if email.strip():
        key = "email:" + email.strip().lower()
    elif phone.strip():
        key = "phone:" + re.sub(r"[^0-9+]", "", phone)
    else:
        key = "name:" + " ".join(name.lower().split())
    return "CUST-" + hashlib.sha256(key.encode()).hexdigest()[:16].upper()
