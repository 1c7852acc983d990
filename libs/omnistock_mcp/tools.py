"""What the chat agent's tools do, as plain async methods over OmnistockClient: testable
without MCP, and answered in terms a model can pass on to a customer.

The tools act as whoever calls them: every call to the services carries the caller's token
(over HTTP, the bearer token the MCP request came with), and a reservation is made in the
caller's channel. Every change carries a request id derived from the caller and what was asked
(or from the caller's idempotency key), so a model that retries a call it never saw the answer
to gets the first answer back instead of a second reservation, and two callers never share one.

Something that does not exist (a SKU, a store, a reservation, an order) is answered as "not
found" in plain words, whether the service says NOT_FOUND or, as older services did for an
unknown SKU, "only 0 left"."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from omnistock_client import OmnistockClient
from omnistock_client.clock import Zones, local_today, on_clock
from omnistock_client.explain import explain, missing_sentence, not_found_of, short_locations
from omnistock_client.lookups import (
    all_pages,
    customer_id_for,
    derived_request_id,
    location_names,
    locations,
    parse_point,
)
from pydantic import BaseModel, Field

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_mcp import models
from omnistock_platform.auth import ROLE_CHANNELS, Role, TokenAuthority
from omnistock_platform.geo import Point, distance_km
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

DEFAULT_RADIUS_KM = 50.0
HOLD_REASONS = {
    "payment_pending": common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING,
    "address_check": common_pb2.FULFILMENT_HOLD_REASON_ADDRESS_CHECK,
    "fraud_review": common_pb2.FULFILMENT_HOLD_REASON_FRAUD_REVIEW,
}
TOKEN_TTL = timedelta(hours=1)


class ToolFailure(Exception):
    """A failure the model should read and act on: the message is one helpful sentence."""


class TokenSource:
    """The token the tools call with: a given one, or a chat_agent token minted from the
    settings' secret and minted again well before it expires (the server runs for days)."""

    def __init__(self, settings: Settings, given: str | None = None) -> None:
        self.settings = settings
        self.given = given
        self._token = ""
        self._minted_at = datetime.min.replace(tzinfo=UTC)

    def __call__(self) -> str:
        if self.given:
            return self.given
        now = datetime.now(UTC)
        if not self._token or now - self._minted_at > TOKEN_TTL / 2:
            self._token = TokenAuthority(self.settings).mint(
                Role.CHAT_AGENT, "omnistock-mcp", channel="chat", ttl=TOKEN_TTL
            )
            self._minted_at = now
        return self._token


# What a model can do about each kind of thing that was not found.
NOT_FOUND_HINTS = {
    "sku": " Use search_skus to find the right SKU code.",
    "location": " find_stock_nearby gives the store_id of every store near the customer that has the item.",
    "store": " find_stock_nearby gives the store_id of every store near the customer that has the item.",
    "reservation": " Check the reservation_id that reserve_for_pickup answered.",
    "order": " Check the order id with the customer.",
}
# Refusals after which a SKU or store the request named may turn out not to exist (older
# services answer an unknown SKU as a shortfall of 0, an unknown store as a bad argument).
_MAYBE_UNKNOWN = frozenset(
    {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT}
)


@dataclass(frozen=True)
class Caller:
    """Who the tools act for, read from the token they pass on (the services verify it)."""

    role: str
    subject: str
    channel: common_pb2.Channel.ValueType

    @classmethod
    def of(cls, token: str) -> Caller:
        try:
            claims = jwt.decode(token, options={"verify_signature": False}) if token else {}
        except jwt.PyJWTError:
            claims = {}
        role, named = str(claims.get("role", "")), f"CHANNEL_{str(claims.get('channel', '')).strip().upper()}"
        if named in common_pb2.Channel.DESCRIPTOR.values_by_name and named != "CHANNEL_UNSPECIFIED":
            channel = common_pb2.Channel.Value(named)
        else:
            channel = common_pb2.Channel.ValueType(ROLE_CHANNELS.get(role, common_pb2.CHANNEL_CHAT))
        return cls(role, str(claims.get("sub", "")), channel)

    @property
    def key(self) -> str:
        """Part of every derived request id: one caller's intent is never another's."""
        return f"{self.role}:{self.subject}"


# Promises a customer collects at a store (FindAvailability also answers delivery ones).
PICKUP_PROMISES = frozenset(
    {
        common_pb2.PROMISE_KIND_PICKUP,
        common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER,
        common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT,
    }
)
# A reservation still to be collected; any other is closed and promises nothing.
OPEN_RESERVATIONS = frozenset(
    {
        rpb.RESERVATION_STATUS_ACTIVE,
        rpb.RESERVATION_STATUS_READY_FOR_PICKUP,
        rpb.RESERVATION_STATUS_AWAITING_TRANSFER,
    }
)


def _reused(error: grpc.aio.AioRpcError) -> bool:
    """The request id was used before for a request with other parameters."""
    return "already used for a different request" in (error.details() or "")


def same_intent(tool: str, identified_by: str, earlier: str) -> str:
    """What a call without an idempotency_key is told when the same call was made today with other
    details: its request id is derived from the arguments that identify the intent, so it is the
    earlier call's, which stands (the agent gave no key it could have reused)."""
    return (
        f"Nothing was done: {tool} was already called today with the same {identified_by} but other details, "
        f"and that earlier call stands ({earlier}). If this is a second, separate request, call {tool} again "
        "with a new idempotency_key."
    )


def not_found_sentence(*missing: tuple[str, str]) -> str:
    """One sentence (and what to do about it) per thing that does not exist."""
    return " ".join(missing_sentence(kind, name) + NOT_FOUND_HINTS.get(kind, "") for kind, name in missing)


def _iso(stamp: Any) -> str:
    return stamp.ToDatetime(tzinfo=UTC).isoformat(timespec="minutes") if stamp.seconds else ""


def _day(stamp: Any, zone: str) -> str:
    """A date as an agent says it, on the store's calendar: "Thursday 10 December"."""
    moment, _ = on_clock(stamp.ToDatetime(tzinfo=UTC), zone)
    return f"{moment:%A} {moment.day} {moment:%B}"


def _local(stamp: Any, zone: str) -> str:
    """A moment as an agent says it to a customer, on the store's clock and naming its zone (the
    customer reads a bare time as their own): "Thursday 10 December at 18:00 Pacific/Auckland time"."""
    if not stamp.seconds:
        return ""
    moment, name = on_clock(stamp.ToDatetime(tzinfo=UTC), zone)
    return f"{moment:%A} {moment.day} {moment:%B} at {moment:%H:%M} {name} time"


def _status(value: int, enum: Any, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


def _money(minor: int, currency: str) -> str:
    return f"{minor / 100:.2f} {currency}" if currency else ""


def _order_items(order: opb.Order) -> str:
    """The order's items in words: a split set once, with its parts ("1 x SOFA-SET (1 x SOFA, 2 x CUSHION)")."""
    items = []
    said: set[str] = set()
    sets = {found.sku: found for found in order.sets}
    for line in order.lines:
        if not line.part_of:
            items.append(f"{line.quantity} x {line.sku}")
        elif line.part_of not in said and line.part_of in sets:
            said.add(line.part_of)
            parts = ", ".join(f"{part.quantity} x {part.sku}" for part in order.lines if part.part_of == line.part_of)
            items.append(f"{sets[line.part_of].quantity} x {line.part_of} ({parts})")
    return ", ".join(items)


@dataclass
class ChannelTools:
    settings: Settings
    token: Callable[[], str]
    addresses: dict[ServiceName, str] | None = None
    # The date of "today" on the clock of a zone ("" is UTC): the day a customer's intent is made on.
    today: Callable[[str], str] = field(default=local_today)
    # Each location's time zone, read once for every call (not once per reservation shown).
    zones: Zones = field(default_factory=Zones)
    _client: OmnistockClient | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def client(self) -> OmnistockClient:
        # Channels belong to the running event loop: made on the first call, not at start-up.
        async with self._lock:
            if self._client is None:
                self._client = OmnistockClient.connect(self.settings, self.token, addresses=self.addresses)
            return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def caller(self) -> Caller:
        return Caller.of(self.token())

    def request_id(self, kind: str, idempotency_key: str | None, *intent: object) -> str:
        """The request id of a change: from the caller and its idempotency key, else from the
        caller and what it asked (the same arguments on the same day are the same intent)."""
        parts = ("key", idempotency_key) if idempotency_key else intent
        return derived_request_id(kind, self.caller().key, *parts)

    async def zone(self, location_id: str) -> str:
        """The location's time zone ("" for UTC, also when it cannot be read now)."""
        return await self.zones.zone(await self.client(), location_id) if location_id else ""

    async def names(self, location_ids: list[str]) -> dict[str, str]:
        """Location id -> name; ids as names when inventory cannot say."""
        try:
            return await location_names(await self.client(), location_ids)
        except grpc.aio.AioRpcError:
            return {location_id: location_id for location_id in location_ids}

    async def _call(
        self,
        method_of: Callable[[OmnistockClient], Any],
        request: Message,
        *,
        skus: list[str] | None = None,
        locations: list[str] | None = None,
        same_intent: str | None = None,
    ) -> Any:
        """The call; a refusal becomes a ToolFailure with one sentence. With `skus` / `locations`
        (what the request names), a refusal that may come from one of them not existing is
        checked against the catalogue, so that an unknown SKU or store reads as not found. With
        `same_intent` (the request id was derived from the arguments, no idempotency_key given),
        the sentence for an earlier call of the same intent with other details."""
        client = await self.client()
        try:
            return await client.call(method_of(client), request)
        except grpc.aio.AioRpcError as error:
            if error.code() in _MAYBE_UNKNOWN and (skus or locations):
                missing = await self._missing(client, skus or [], locations or [])
                if missing:
                    raise ToolFailure(not_found_sentence(*missing)) from None
            if same_intent is not None and _reused(error):
                raise ToolFailure(same_intent) from None
            raise ToolFailure(await self._sentence(client, error)) from None

    async def _missing(self, client: OmnistockClient, skus: list[str], locations: list[str]) -> list[tuple[str, str]]:
        """The SKUs, then the locations, that inventory does not have; none when all exist or
        when that cannot be told (the service's own answer then stands)."""
        missing: list[tuple[str, str]] = []
        try:
            if skus:
                found_skus = await client.call(client.inventory.BatchGetSkus, ipb.BatchGetSkusRequest(skus=skus))
                missing += [("sku", sku) for sku in found_skus.not_found]
            if locations:
                found_locations = await client.call(
                    client.inventory.BatchGetLocations, ipb.BatchGetLocationsRequest(location_ids=locations)
                )
                missing += [("location", location_id) for location_id in found_locations.not_found]
        except grpc.aio.AioRpcError:
            return []
        return missing

    async def _sentence(self, client: OmnistockClient, error: grpc.aio.AioRpcError) -> str:
        missing = not_found_of(error)
        if missing is not None and any(missing):
            return not_found_sentence(missing)
        names: dict[str, str] = {}
        short = short_locations(error)
        if short:
            try:
                names = await location_names(client, short)
            except grpc.aio.AioRpcError:
                names = {}
        sentence = explain(error, names)
        if _reused(error):
            sentence = (
                "Nothing was done: this request's key (the idempotency_key given, or without one the same "
                "arguments today) was already used for a different request; use a new idempotency_key for a "
                "new request."
            )
        return sentence

    # -----------------------------------------------------------------------------------------
    # The catalogue and places.

    async def search_skus(
        self,
        text: str = "",
        colour: str | None = None,
        size: str | None = None,
        category: str | None = None,
        material: str | None = None,
        attributes: dict[str, str] | None = None,
        limit: int = 20,
    ) -> models.SkuSearch:
        wanted = dict(attributes or {})
        for key, value in (("colour", colour), ("size", size), ("category", category), ("material", material)):
            if value:
                wanted[key] = value
        request = ipb.ListSkusRequest(text=text.strip(), attributes=wanted, page_size=min(max(limit, 1), 100))
        client = await self.client()
        try:
            found = await all_pages(client, client.inventory.ListSkus, request, "skus", limit=max(limit, 1))
        except grpc.aio.AioRpcError as error:
            raise ToolFailure(await self._sentence(client, error)) from None
        return models.SkuSearch(
            count=len(found),
            skus=[_sku(sku) for sku in found],
            note="" if found else "No SKU matches; try fewer words or fewer attributes.",
        )

    async def _all_locations(self) -> list[ipb.Location]:
        client = await self.client()
        try:
            return [location for location in await locations(client) if location.active]
        except grpc.aio.AioRpcError as error:
            raise ToolFailure(await self._sentence(client, error)) from None

    async def locate(
        self, place: str | None, latitude: float | None = None, longitude: float | None = None
    ) -> models.Place:
        """A place as coordinates, a city where Omnistock has locations, or a store or warehouse
        (by id or name); a place it cannot find is a ToolFailure saying what it knows instead."""
        if (latitude is None) != (longitude is None):
            raise ToolFailure("Give both latitude and longitude, or a place (a city, or the name of a store).")
        if latitude is not None and longitude is not None:
            label = f"{latitude:.4f},{longitude:.4f}"
            return models.Place(query=label, matched="coordinates", label=label, latitude=latitude, longitude=longitude)
        text = (place or "").strip()
        if not text:
            raise ToolFailure("Say where the customer is: a city, the name of a store, or latitude and longitude.")
        point = parse_point(text)
        if point is not None:
            if not (-90 <= point.latitude <= 90 and -180 <= point.longitude <= 180):
                raise ToolFailure(f"{text} is not on the map: latitude is -90 to 90, longitude -180 to 180.")
            return models.Place(
                query=text, matched="coordinates", label=text, latitude=point.latitude, longitude=point.longitude
            )
        everything = await self._all_locations()
        wanted = _fold(text)
        exact = [location for location in everything if _fold(location.location_id) == wanted]
        if exact:
            return _place_of(text, exact[0])
        in_city = [location for location in everything if _fold(location.city) == wanted]
        if in_city:
            return _city_place(text, in_city[0].city, in_city)
        words = wanted.split()
        named = [location for location in everything if all(word in _fold(location.name) for word in words)]
        if len(named) == 1:
            return _place_of(text, named[0])
        cities = sorted({location.city for location in named})
        if len(cities) == 1:  # "München" names several locations of Munich: the city it is
            return _city_place(text, cities[0], [loc for loc in everything if loc.city == cities[0]])
        if named:
            options = "; ".join(f"{loc.name} in {loc.city} (location_id {loc.location_id})" for loc in named[:8])
            raise ToolFailure(f"{text!r} could be several places: {options}. Ask the customer which one they mean.")
        known = ", ".join(sorted({location.city for location in everything})) or "none yet"
        shown = text if len(text) <= 80 else f"{text[:80]}…"
        raise ToolFailure(
            f"Omnistock does not know a place called {shown!r}. It has stores and warehouses in: {known}. "
            "It cannot look up street addresses: give the latitude and longitude of the customer's address or "
            "town, or the nearest of those cities."
        )

    async def find_locations(
        self,
        place: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        radius_km: float = DEFAULT_RADIUS_KM,
        kind: str = "any",
        limit: int = 20,
    ) -> models.LocationSearch:
        near = await self.locate(place, latitude, longitude)
        everything = await self._all_locations()
        chosen = [location for location in everything if kind == "any" or _kind(location) == kind]
        # The location the place named first, then the nearest.
        measured = sorted(
            ((_distance(near, location), location) for location in chosen),
            key=lambda pair: (pair[1].location_id != near.location_id, pair[0], pair[1].name),
        )
        within = [_location(location, distance) for distance, location in measured if distance <= radius_km]
        found = within[: max(limit, 1)]
        if found:
            names = "; ".join(
                f"{item.name} ({item.distance_km:g} km, location_id {item.location_id})" for item in found[:5]
            )
            summary = f"{len(found)} location(s) within {radius_km:g} km of {near.label}: {names}."
        else:
            nearest = [_location(location, distance) for distance, location in measured[:3]]
            summary = f"No {'location' if kind == 'any' else kind} is within {radius_km:g} km of {near.label}." + (
                " The nearest: " + "; ".join(f"{i.name} in {i.city} ({i.distance_km:g} km)" for i in nearest) + "."
                if nearest
                else ""
            )
        return models.LocationSearch(near=near, locations=found, summary=summary)

    # -----------------------------------------------------------------------------------------
    # Stock and reservations.

    async def find_stock_nearby(
        self,
        sku: str,
        place: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        radius_km: float = DEFAULT_RADIUS_KM,
        quantity: int = 1,
    ) -> models.StockNearby:
        client = await self.client()
        near = await self.locate(place, latitude, longitude)
        point = common_pb2.GeoPoint(latitude=near.latitude, longitude=near.longitude)
        channel = self.caller().channel

        brought: list[ipb.LocationAvailability] = []

        async def stores(radius: float, page_size: int) -> list[ipb.LocationAvailability]:
            """The stores that have it now; those that could have it by a transfer go to `brought`."""
            request = ipb.FindAvailabilityRequest(
                items=[common_pb2.SkuQuantity(sku=sku, quantity=quantity)],
                channel=channel,  # the caller's own share: a channel with pools sees only theirs
                near=point,
                radius_km=radius,
                method=common_pb2.FULFILMENT_METHOD_PICKUP,
                complete_only=True,
                page_size=page_size,
                offer_transfers=bool(radius),
            )
            reply = await self._call(lambda c: c.inventory.FindAvailability, request)
            brought.extend(
                found
                for found in reply.locations
                if not found.complete
                and any(p.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER for p in found.promises)
            )
            return [found for found in reply.locations if found.complete]

        def entry(found: ipb.LocationAvailability) -> models.StoreStock:
            level = next((lv for lv in found.levels if lv.sku == sku), ipb.StockLevel())
            pickup = next((p for p in found.promises if p.kind in PICKUP_PROMISES), common_pb2.Promise())
            return models.StoreStock(
                store_id=found.location.location_id,
                name=found.location.name,
                city=found.location.city,
                distance_km=round(found.distance_km, 1),
                available=level.available,
                pool=level.pool_group_id,
                promise=pickup.wording,
                parts=_parts(level, per_set),
            )

        per_set: dict[str, int] = {}

        async def parts_of(found: list[ipb.LocationAvailability]) -> list[ipb.LocationAvailability]:
            """The units per set of a set's parts, once a level shows the SKU is a set."""
            if not per_set and any(level.bundle for each in found for level in each.levels):
                reply = await self._call(lambda c: c.inventory.GetSku, ipb.GetSkuRequest(sku=sku))
                per_set.update({part.sku: part.quantity for part in reply.sku.components})
            return found

        nearby = [entry(found) for found in await parts_of(await stores(radius_km, 20))]
        answer = models.StockNearby(
            sku=sku, quantity=quantity, near=near, radius_km=radius_km, stores=nearby, summary=""
        )
        answer.via_transfer = [entry(found) for found in brought]
        where = near.label
        if not nearby and answer.via_transfer:
            offers = "; or ".join(f"{f.promise} (store_id {f.store_id})" for f in answer.via_transfer[:3])
            answer.summary = (
                f"No store within {radius_km:g} km of {where} has {quantity} of {sku} today; {offers}."
                " Reserve with ship_to_store=true to have it brought."
            )
            return answer
        if nearby:
            best = nearby[0]
            answer.summary = (
                f"{len(nearby)} store(s) within {radius_km:g} km of {where} can hand over {quantity}"
                f" {'complete set(s)' if best.parts else 'of'} {sku}; "
                f"nearest: {best.name} ({best.distance_km} km, store_id {best.store_id}) "
                f"with {best.available} available{_sets_of(best)}{_from_pool(best)}"
                + (f": {best.promise}." if best.promise else ".")
            )
            return answer
        farther = [entry(found) for found in await parts_of(await stores(0, 3))]
        answer.nearest_farther_away = farther
        if not farther:
            missing = await self._missing(client, [sku], [])
            if missing:
                raise ToolFailure(not_found_sentence(*missing))
            answer.summary = f"No store anywhere has {quantity} of {sku} available for pickup."
            return answer
        offers = "; ".join(
            f"{f.name} ({f.distance_km} km, store_id {f.store_id}) has {f.available}{_from_pool(f)}"
            + (f", {f.promise}" if f.promise else "")
            for f in farther
        )
        answer.summary = f"No store within {radius_km:g} km of {where} has {quantity} of {sku}. {offers}."
        return answer

    async def reserve_for_pickup(
        self,
        sku: str,
        store_id: str,
        customer_name: str,
        email: str | None = None,
        phone: str | None = None,
        quantity: int = 1,
        hold_days: float | None = None,
        idempotency_key: str | None = None,
        ship_to_store: bool = False,
    ) -> models.Reservation:
        customer_id = customer_id_for(customer_name, email or "", phone or "")
        caller = self.caller()
        today = self.today(await self.zone(store_id))  # the store's day: the customer's "today" there
        parts: tuple[Any, ...] = (sku, store_id, customer_id, quantity, hold_days, today)
        request = rpb.CreateReservationRequest(
            request_id=self.request_id("mcp-reserve", idempotency_key, *parts, *(("ship",) if ship_to_store else ())),
            channel=caller.channel,
            customer=rpb.Customer(customer_id=customer_id, name=customer_name, email=email or "", phone=phone or ""),
            store_id=store_id,
            lines=[common_pb2.SkuQuantity(sku=sku, quantity=quantity)],
            allow_ship_to_store=ship_to_store,
        )
        if hold_days:
            request.hold_for.CopyFrom(duration_pb2.Duration(seconds=int(hold_days * 86400)))
        earlier = (
            None
            if idempotency_key
            else same_intent(
                "reserve_for_pickup",
                "item, store, quantity and customer (by e-mail, else phone, else name)",
                "list_reservations shows the reservation it made",
            )
        )
        reply = await self._call(
            lambda c: c.reservations.CreateReservation,
            request,
            skus=[sku],
            locations=[store_id],
            same_intent=earlier,
        )
        return await self._reservation(reply.reservation, "Reserved")

    async def get_reservation(self, reservation_id: str) -> models.Reservation:
        reply = await self._call(
            lambda c: c.reservations.GetReservation, rpb.GetReservationRequest(reservation_id=reservation_id)
        )
        return await self._reservation(reply.reservation, "")

    async def list_reservations(
        self,
        email: str | None = None,
        phone: str | None = None,
        customer_name: str | None = None,
        include_closed: bool = False,
        limit: int = 20,
    ) -> models.CustomerReservations:
        if not any(value and value.strip() for value in (email, phone, customer_name)):
            raise ToolFailure("Say whose reservations: the customer's e-mail address, phone number or name.")
        customer_id = customer_id_for(customer_name or "", email or "", phone or "")
        statuses = (
            [0]
            if include_closed
            else [
                rpb.RESERVATION_STATUS_ACTIVE,
                rpb.RESERVATION_STATUS_READY_FOR_PICKUP,
                rpb.RESERVATION_STATUS_AWAITING_TRANSFER,
            ]
        )
        client = await self.client()
        found: list[rpb.Reservation] = []
        try:
            for status in statuses:
                request = rpb.ListReservationsRequest(customer_id=customer_id, status=status)  # type: ignore[arg-type]
                found += await all_pages(client, client.reservations.ListReservations, request, "reservations")
        except grpc.aio.AioRpcError as error:
            raise ToolFailure(await self._sentence(client, error)) from None
        newest = sorted(found, key=lambda item: (item.created_at.seconds, item.reservation_id), reverse=True)
        shown = [await self._reservation(item, "") for item in newest[: max(limit, 1)]]
        who = email or phone or customer_name
        if shown:
            summary = f"{who} has {len(shown)} {'' if include_closed else 'open '}reservation(s): " + " ".join(
                item.summary for item in shown
            )
        else:
            summary = (
                f"Omnistock has no {'' if include_closed else 'open '}reservation for {who}. Reservations are found "
                "by what they were made with: the e-mail address first, else the phone number, else the name."
            )
        return models.CustomerReservations(customer_id=customer_id, reservations=shown, summary=summary)

    async def extend_reservation(
        self, reservation_id: str, days: float, idempotency_key: str | None = None
    ) -> models.Reservation:
        today = ""
        if not idempotency_key:  # the same extension asked on the same day at the store is one intent
            found = await self._call(
                lambda c: c.reservations.GetReservation, rpb.GetReservationRequest(reservation_id=reservation_id)
            )
            today = self.today(await self.zone(found.reservation.store_id))
        request = rpb.ExtendReservationRequest(
            request_id=self.request_id("mcp-extend", idempotency_key, reservation_id, days, today),
            reservation_id=reservation_id,
            extend_by=duration_pb2.Duration(seconds=int(days * 86400)),
        )
        reply = await self._call(lambda c: c.reservations.ExtendReservation, request)
        return await self._reservation(reply.reservation, f"Extended by {days:g} day(s)")

    async def cancel_reservation(
        self, reservation_id: str, reason: str = "", idempotency_key: str | None = None
    ) -> models.Reservation:
        request = rpb.CancelReservationRequest(
            # The reason too: a cancellation asked again in other words is answered, not refused as reused.
            request_id=self.request_id("mcp-cancel", idempotency_key, reservation_id, reason),
            reservation_id=reservation_id,
            reason=reason,
        )
        reply = await self._call(lambda c: c.reservations.CancelReservation, request)
        return await self._reservation(reply.reservation, "Cancelled")

    async def hold_order(
        self, order_id: str, reason: str, note: str = "", days: float | None = None, idempotency_key: str | None = None
    ) -> models.Order:
        code = HOLD_REASONS.get(reason)
        if code is None:
            raise ToolFailure(f"The reason must be one of {', '.join(HOLD_REASONS)}.")
        order = (await self._call(lambda c: c.orders.GetOrder, opb.GetOrderRequest(order_id=order_id))).order
        if any(
            h.reason == code and not h.allocation_id and h.status == opb.FULFILMENT_HOLD_STATUS_ACTIVE
            for h in order.holds
        ):
            return await self._order(order, "Already on hold")  # asked before (a retry): the hold stands
        # The number of holds so far tells this intent from an earlier hold of the order, released since.
        intent = ("key", idempotency_key) if idempotency_key else (order_id, reason, len(order.holds))
        request = opb.HoldOrderRequest(
            request_id=derived_request_id("mcp-hold", self.caller().key, *intent),
            order_id=order_id,
            hold=opb.FulfilmentHoldRequest(reason=code, note=note),
        )
        if days:
            request.hold.ttl.CopyFrom(duration_pb2.Duration(seconds=int(days * 86400)))
        reply = await self._call(lambda c: c.orders.HoldOrder, request)
        return await self._order(reply.order, "Put on hold")

    async def release_order_hold(
        self, order_id: str, note: str = "", idempotency_key: str | None = None
    ) -> models.Order:
        order = (await self._call(lambda c: c.orders.GetOrder, opb.GetOrderRequest(order_id=order_id))).order
        waiting = sorted(h.fulfilment_hold_id for h in order.holds if h.status == opb.FULFILMENT_HOLD_STATUS_ACTIVE)
        if not waiting:
            return await self._order(order, "Nothing was on hold")
        intent = ("key", idempotency_key) if idempotency_key else (order_id, *waiting)
        request = opb.ReleaseOrderHoldRequest(
            request_id=derived_request_id("mcp-release", self.caller().key, *intent), order_id=order_id, note=note
        )
        reply = await self._call(lambda c: c.orders.ReleaseOrderHold, request)
        return await self._order(reply.order, "Released")

    async def _reservation(self, reservation: rpb.Reservation, verb: str) -> models.Reservation:
        origin_id = reservation.transfer_origin_id
        names = await self.names([reservation.store_id, *([origin_id] if origin_id else [])])
        store = names[reservation.store_id]
        zone = await self.zone(reservation.store_id)
        status = _status(reservation.status, rpb.ReservationStatus, "RESERVATION_STATUS_")
        items = ", ".join(f"{line.quantity} x {line.sku}" for line in reservation.lines)
        # Said on the store's clock, naming its zone: the customer comes to the store by its time.
        collect_before, expected = _local(reservation.expires_at, zone), _local(reservation.promised_at, zone)
        # A closed reservation (expired, cancelled, collected, become an order) promises nothing: its
        # old pickup time, passed on, would send the customer to the store for nothing.
        promise = reservation.promise.wording if reservation.status in OPEN_RESERVATIONS else ""
        if reservation.status == rpb.RESERVATION_STATUS_AWAITING_TRANSFER:
            day = _day(reservation.promised_at, zone)  # the store's day, as the promise's own wording says it
            when = promise if promise else f"to collect at {store} on {day} via transfer from {names[origin_id]}"
            summary = (
                f"{verb + ': ' if verb else ''}{items} for {reservation.customer.name}, {when}"
                f"{f' (expected {expected})' if expected else ''}. The units are set aside at {names[origin_id]} "
                f"now; the customer is told when they arrive. Pickup code {reservation.pickup_code}."
            )
        elif reservation.status in (rpb.RESERVATION_STATUS_ACTIVE, rpb.RESERVATION_STATUS_READY_FOR_PICKUP):
            summary = (
                f"{verb + ': ' if verb else ''}{items} at {store} for {reservation.customer.name}. "
                f"Pickup code {reservation.pickup_code}; collect before {collect_before}."
                + (" The items are ready at the pickup desk." if status == "ready_for_pickup" else "")
                + (f" Promised: {promise}." if promise and status == "active" else "")
            )
        else:
            summary = f"Reservation {reservation.reservation_id} ({items} at {store}) is {status.replace('_', ' ')}."
            if reservation.order_id:
                summary += f" It became order {reservation.order_id}."
            if verb == "Reserved":  # the same intent was answered before and has ended since
                summary += " To reserve again, call reserve_for_pickup with a new idempotency_key."
        return models.Reservation(
            reservation_id=reservation.reservation_id,
            status=status,
            pickup_code=reservation.pickup_code,
            store_id=reservation.store_id,
            store_name=store,
            items=[models.Item(sku=line.sku, quantity=line.quantity) for line in reservation.lines],
            customer=models.Customer(name=reservation.customer.name, customer_id=reservation.customer.customer_id),
            expires_at=_iso(reservation.expires_at),
            collect_before_local=collect_before,
            order_id=reservation.order_id,
            promised_at=_iso(reservation.promised_at),
            expected_local=expected,
            coming_from=names[origin_id] if origin_id else "",
            promise=promise,
            summary=summary,
        )

    # -----------------------------------------------------------------------------------------
    # Orders: a quote, then (with the customer's consent) the order; its status; cancelling.

    async def _destination(
        self, method: str, store_id: str | None, ship_to: ShipTo | None
    ) -> tuple[common_pb2.FulfilmentMethod.ValueType, opb.Address | None, str, str]:
        """The method, the address (ship), the store (pickup) and the destination in words."""
        if method == "ship":
            if ship_to is None:
                raise ToolFailure(
                    "To ship, give ship_to: the customer's address with its city, and its latitude and longitude "
                    "when you know them."
                )
            near = await self.locate(ship_to.city or None, ship_to.latitude, ship_to.longitude)
            address = opb.Address(
                name=ship_to.recipient,
                street=ship_to.street,
                postal_code=ship_to.postal_code,
                city=ship_to.city,
                country=ship_to.country,
                region=ship_to.region,
                point=common_pb2.GeoPoint(latitude=near.latitude, longitude=near.longitude),
            )
            words = ", ".join(part for part in (ship_to.street, ship_to.city) if part) or near.label
            return common_pb2.FULFILMENT_METHOD_SHIP, address, "", f"to {words}"
        if method == "pickup":
            if not store_id:
                raise ToolFailure("For pickup, give store_id: the store where the customer collects the order.")
            return common_pb2.FULFILMENT_METHOD_PICKUP, None, store_id, f"for pickup at {store_id}"
        raise ToolFailure(
            f"method must be 'ship' (to the customer's address) or 'pickup' (at a store), not {method!r}."
        )

    async def _prices(self, items: list[models.Item]) -> tuple[int, str]:
        client = await self.client()
        try:
            reply = await client.call(
                client.inventory.BatchGetSkus, ipb.BatchGetSkusRequest(skus=sorted({item.sku for item in items}))
            )
        except grpc.aio.AioRpcError:
            return 0, ""
        prices = {sku.sku: sku for sku in reply.skus}
        total = sum(prices[item.sku].price_minor * item.quantity for item in items if item.sku in prices)
        currencies = {prices[item.sku].currency for item in items if item.sku in prices}
        return total, (currencies.pop() if len(currencies) == 1 else "")

    async def quote_order(
        self,
        items: list[models.Item],
        method: str,
        store_id: str | None = None,
        ship_to: ShipTo | None = None,
    ) -> models.Quote:
        if not items:
            raise ToolFailure("Give the items to order: each a SKU code and a quantity.")
        code, address, store, where = await self._destination(method, store_id, ship_to)
        caller = self.caller()
        request = opb.QuoteRoutingRequest(
            channel=caller.channel,
            lines=[opb.OrderLineRequest(sku=item.sku, quantity=item.quantity) for item in items],
            method=code,
            store_id=store,
        )
        if address is not None:
            request.ship_to.CopyFrom(address)
        skus = [item.sku for item in items]
        reply = await self._call(
            lambda c: c.orders.QuoteRouting, request, skus=skus, locations=[store] if store else []
        )
        plan = reply.plan
        names = await self.names([a.location_id for a in plan.allocations])
        total, currency = await self._prices(items)
        allocations = [
            models.PlannedAllocation(
                location_id=a.location_id,
                location_name=names.get(a.location_id, a.location_id),
                kind="warehouse" if a.warehouse else "store",
                items=[models.Item(sku=line.sku, quantity=line.quantity) for line in a.lines],
                distance_km=round(a.distance_km, 1),
            )
            for a in plan.allocations
        ]
        unfilled = [models.Item(sku=line.sku, quantity=line.quantity) for line in plan.unfilled]
        price = _money(total, currency)
        parts = "; ".join(
            f"{', '.join(f'{i.quantity} x {i.sku}' for i in a.items)} from {a.location_name} ({a.distance_km:g} km)"
            for a in allocations
        )
        promise = plan.promise.wording
        if plan.complete:
            summary = (
                f"Everything can be had {where}: {parts}. Total {price or 'unknown'}."
                + (f" When: {promise}." if promise else "")
                + " Tell the customer, and only if they agree, call place_order with the same items and "
                "customer_consent=true."
            )
        else:
            missing = ", ".join(f"{item.quantity} x {item.sku}" for item in unfilled)
            summary = (
                f"Not everything can be had {where} now: {missing} cannot be supplied"
                + (f"; the rest would come as {parts}" if parts else "")
                + ". Offer the customer fewer units, another SKU, or the other method."
            )
        return models.Quote(
            method=method,
            complete=plan.complete,
            items=items,
            allocations=allocations,
            unfilled=unfilled,
            passed_over=[
                models.PassedOver(
                    location_id=item.location_id,
                    reason=_status(item.reason, opb.PassOverReason, "PASS_OVER_REASON_"),
                    detail=item.detail,
                )
                for item in plan.passed_over
            ],
            total=price,
            total_minor=total,
            currency=currency,
            promise=promise,
            summary=summary,
        )

    async def place_order(
        self,
        items: list[models.Item],
        method: str,
        customer_name: str,
        customer_consent: bool,
        email: str | None = None,
        phone: str | None = None,
        store_id: str | None = None,
        ship_to: ShipTo | None = None,
        reservation_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.Order:
        if customer_consent is not True:
            raise ToolFailure(
                "Nothing was ordered: an order needs the customer's consent. Tell the customer what they would "
                "buy, the total and where it comes from or goes (quote_order says), and call place_order again "
                "with customer_consent=true only after they said yes."
            )
        if reservation_id:
            method, ship_to = "pickup", None
            code, address, store, where = common_pb2.FULFILMENT_METHOD_PICKUP, None, store_id or "", "for pickup"
        else:
            if not items:
                raise ToolFailure("Give the items to order (each a SKU code and a quantity), or a reservation_id.")
            code, address, store, where = await self._destination(method, store_id, ship_to)
        customer_id = customer_id_for(customer_name, email or "", phone or "")
        caller = self.caller()
        # Lines in one order whatever order the items came in: the same order asked again with its items
        # listed otherwise is the same request (its id below is derived from them alike), not a second order.
        wanted = sorted((item.sku, item.quantity) for item in items)
        lines = [opb.OrderLineRequest(sku=sku, quantity=quantity) for sku, quantity in wanted]
        # The pickup store's day (a delivery's: UTC, the customer's zone is not known).
        today = self.today(await self.zone(store))
        request = opb.CreateOrderRequest(
            request_id=self.request_id(
                "mcp-order",
                idempotency_key,
                method,
                tuple(wanted),
                store,
                address.SerializeToString(deterministic=True) if address is not None else b"",
                customer_id,
                reservation_id or "",
                today,
            ),
            channel=caller.channel,
            customer_id=customer_id,
            lines=lines,
            method=code,
            store_id=store,
            reservation_id=reservation_id or "",
        )
        if address is not None:
            request.ship_to.CopyFrom(address)
        earlier = (
            None
            if idempotency_key
            else same_intent(
                "place_order",
                "items, delivery and customer (by e-mail, else phone, else name)",
                "the customer's order was placed then",
            )
        )
        reply = await self._call(
            lambda c: c.orders.CreateOrder,
            request,
            skus=[item.sku for item in items],
            locations=[store] if store else [],
            same_intent=earlier,
        )
        return await self._order(reply.order, f"Ordered {where}")

    async def order_status(self, order_id: str) -> models.Order:
        reply = await self._call(lambda c: c.orders.GetOrder, opb.GetOrderRequest(order_id=order_id))
        return await self._order(reply.order, "")

    async def cancel_order(self, order_id: str, reason: str = "", idempotency_key: str | None = None) -> models.Order:
        request = opb.CancelOrderRequest(
            # The reason too: a cancellation asked again in other words is answered, not refused as reused.
            request_id=self.request_id("mcp-cancel-order", idempotency_key, order_id, reason),
            order_id=order_id,
            reason=reason,
        )
        reply = await self._call(lambda c: c.orders.CancelOrder, request)
        return await self._order(reply.order, "Cancelled")

    async def start_return(
        self,
        order_id: str,
        items: list[models.Item],
        location_id: str,
        by_post: bool = False,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> models.Return:
        if not items:
            raise ToolFailure("Give the items to return (each a SKU code and a quantity).")
        wanted: dict[str, int] = {}
        for item in items:
            wanted[item.sku] = wanted.get(item.sku, 0) + item.quantity
        request = opb.CreateReturnRequest(
            request_id=self.request_id(
                "mcp-return", idempotency_key, order_id, location_id, by_post, *sorted(wanted.items())
            ),
            order_id=order_id,
            lines=[opb.ReturnLineRequest(sku=sku, quantity=quantity) for sku, quantity in sorted(wanted.items())],
            location_id=location_id,
            by_post=by_post,
            reason=reason,
        )
        earlier = (
            None
            if idempotency_key
            else same_intent("start_return", "order, items and place", "return_status shows the return it started")
        )
        reply = await self._call(lambda c: c.orders.CreateReturn, request, same_intent=earlier)
        return await self._return(reply.order_return, "Return authorised")

    async def return_status(self, return_id: str) -> models.Return:
        reply = await self._call(lambda c: c.orders.GetReturn, opb.GetReturnRequest(return_id=return_id))
        return await self._return(reply.order_return, "")

    async def _return(self, found: opb.Return, verb: str) -> models.Return:
        status = _status(found.status, opb.ReturnStatus, "RETURN_STATUS_")
        where = (await self.names([found.location_id]))[found.location_id]
        items = ", ".join(f"{line.quantity} x {line.sku}" for line in found.lines)
        if found.sets:
            # The lines are the parts; a whole set returned by its SKU is said as such too.
            items += "; as whole sets: " + ", ".join(f"{item.quantity} x {item.sku}" for item in found.sets)
        how = f"sent by post to {where}" if found.by_post else f"brought to {where}"
        summary = f"{verb + ': ' if verb else ''}return {found.return_id} of order {found.order_id} ({items}), {how}"
        if found.status == opb.RETURN_STATUS_AUTHORISED:
            summary += "; the customer gives the return id with the items."
        elif found.status == opb.RETURN_STATUS_RECEIVED:
            restocked = sum(line.restocked for line in found.lines)
            summary += f", was received ({restocked} of {sum(line.quantity for line in found.lines)} back on sale)."
        else:
            summary += ", was cancelled."
        return models.Return(
            return_id=found.return_id,
            order_id=found.order_id,
            status=status,
            location_id=found.location_id,
            location=where,
            by_post=found.by_post,
            lines=[
                models.ReturnLine(
                    sku=line.sku,
                    quantity=line.quantity,
                    restocked=line.restocked,
                    damaged=line.damaged,
                    written_off=line.written_off,
                )
                for line in found.lines
            ],
            summary=summary,
        )

    async def edit_order(
        self,
        order_id: str,
        items: list[models.Item],
        store_id: str = "",
        idempotency_key: str | None = None,
    ) -> models.Order:
        """New quantities (0 removes a line, a new SKU adds one) or a new pickup store, all or nothing."""
        current = (await self._call(lambda c: c.orders.GetOrder, opb.GetOrderRequest(order_id=order_id))).order
        changes = [opb.OrderLineEdit(sku=item.sku, quantity=item.quantity) for item in items]
        # The same change asked of the same order as it stands now is one intent; asked again after
        # another edit, it is a new one.
        intent = (order_id, current.updated_at.ToJsonString(), *(f"{c.sku}={c.quantity}" for c in changes), store_id)
        request = opb.EditOrderRequest(
            request_id=self.request_id("mcp-edit-order", idempotency_key, *intent),
            order_id=order_id,
            lines=changes,
            store_id=store_id,
            reason="changed in a chat",
        )
        reply = await self._call(lambda c: c.orders.EditOrder, request)
        return await self._order(reply.order, "Changed")

    async def _order(self, order: opb.Order, verb: str) -> models.Order:
        status = _status(order.status, opb.OrderStatus, "ORDER_STATUS_")
        method = _status(order.method, common_pb2.FulfilmentMethod, "FULFILMENT_METHOD_")
        names = await self.names([allocation.location_id for allocation in order.allocations])
        items = _order_items(order)
        # Nothing comes from an allocation cancelled or found short (its units went elsewhere).
        sources = sorted(
            {
                names.get(a.location_id, a.location_id)
                for a in order.allocations
                if a.status not in (opb.ALLOCATION_STATUS_CANCELLED, opb.ALLOCATION_STATUS_SHORT)
            }
        )
        total = _money(order.total_minor, order.currency)
        zone = await self.zone(order.store_id)  # a pickup's store; a delivery's times are said in UTC
        # A cancelled order is had at no time: its old promise, passed on, would send the customer
        # to the store for nothing.
        promise = "" if order.status == opb.ORDER_STATUS_CANCELLED else order.promise.wording
        summary = (
            f"{verb + ': ' if verb else ''}order {order.order_id} ({items}) is {status.replace('_', ' ')}"
            f" ({method.replace('_', ' ')}{', from ' + ', '.join(sources) if sources else ''})"
            + (f"; total {total}" if total else "")
            + (f"; {promise}" if promise else "")
            + "."
        )
        holds = [
            models.OrderHold(
                reason=_status(hold.reason, common_pb2.FulfilmentHoldReason, "FULFILMENT_HOLD_REASON_"),
                status=_status(hold.status, opb.FulfilmentHoldStatus, "FULFILMENT_HOLD_STATUS_"),
                allocation_id=hold.allocation_id,
                expires_at=_iso(hold.expires_at),
                expires_local=_local(hold.expires_at, zone),
            )
            for hold in order.holds
        ]
        waiting = [(hold, found) for hold, found in zip(holds, order.holds, strict=True) if hold.status == "active"]
        if order.on_hold and waiting:
            reasons = " and ".join(sorted({hold.reason.replace("_", " ") for hold, _ in waiting}))
            first = min((found.expires_at for _, found in waiting), key=lambda stamp: (stamp.seconds, stamp.nanos))
            summary += f" It waits ({reasons}): nothing is shipped until released; unless released by"
            summary += f" {_local(first, zone)} it is cancelled."
        return models.Order(
            order_id=order.order_id,
            status=status,
            method=method,
            store_id=order.store_id,
            reservation_id=order.reservation_id,
            lines=[
                models.OrderLine(
                    sku=line.sku,
                    quantity=line.quantity,
                    fulfilled=line.fulfilled,
                    backordered=line.backordered,
                    cancelled=line.cancelled,
                    part_of=line.part_of,
                )
                for line in order.lines
            ],
            allocations=[
                models.OrderAllocation(
                    location_id=allocation.location_id,
                    items=[models.Item(sku=item.sku, quantity=item.quantity) for item in allocation.lines],
                    status=_status(allocation.status, opb.AllocationStatus, "ALLOCATION_STATUS_"),
                )
                for allocation in order.allocations
            ],
            on_hold=order.on_hold,
            holds=holds,
            total=total,
            created_at=_iso(order.created_at),
            promise=promise,
            summary=summary,
        )


class ShipTo(BaseModel):
    """Where an order ships to: the address as the customer gives it, and its coordinates."""

    recipient: str = Field("", max_length=200, description="Who receives the parcel.")
    street: str = Field("", max_length=200, description="Street and number.")
    postal_code: str = Field("", max_length=200)
    city: str = Field("", max_length=200, description="The town or city.")
    country: str = Field("", max_length=200)
    region: str = Field(
        "", max_length=64, description="Delivery region code, e.g. 'DE-BE' (sets the delivery date); optional."
    )
    latitude: float | None = Field(None, ge=-90, le=90, description="Of the address (or the town), when you know it.")
    longitude: float | None = Field(None, ge=-180, le=180)


def _fold(text: str) -> str:
    """Text to compare places by: no case, no accents, hyphens as spaces (München = munchen)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.casefold().replace("-", " ").split())


def _kind(location: ipb.Location) -> str:
    return "warehouse" if location.kind == ipb.LOCATION_KIND_WAREHOUSE else "store"


def _place_of(query: str, location: ipb.Location) -> models.Place:
    return models.Place(
        query=query,
        matched="location",
        label=location.name or location.location_id,
        location_id=location.location_id,
        latitude=location.point.latitude,
        longitude=location.point.longitude,
    )


def _city_place(query: str, city: str, found: list[ipb.Location]) -> models.Place:
    return models.Place(
        query=query,
        matched="city",
        label=city,
        latitude=sum(location.point.latitude for location in found) / len(found),
        longitude=sum(location.point.longitude for location in found) / len(found),
    )


def _distance(near: models.Place, location: ipb.Location) -> float:
    return round(
        distance_km(Point(near.latitude, near.longitude), Point(location.point.latitude, location.point.longitude)),
        1,
    )


def _location(location: ipb.Location, distance: float | None) -> models.Location:
    return models.Location(
        location_id=location.location_id,
        name=location.name,
        kind=_kind(location),
        city=location.city,
        latitude=location.point.latitude,
        longitude=location.point.longitude,
        distance_km=distance,
        pickup=location.pickup,
        ships=location.ships,
    )


def _sku(sku: ipb.Sku) -> models.Sku:
    return models.Sku(
        sku=sku.sku,
        title=sku.title,
        attributes=dict(sku.attributes),
        price=_money(sku.price_minor, sku.currency),
        price_minor=sku.price_minor,
        currency=sku.currency,
        bundle_of=[models.BundlePart(sku=part.sku, quantity=part.quantity) for part in sku.components],
        split_allowed=sku.allow_split,
    )


def _parts(level: ipb.StockLevel, per_set: dict[str, int]) -> list[models.PartStock]:
    """A set's parts at a location, each with the units one set takes."""
    if not level.bundle:
        return []
    return [
        models.PartStock(sku=part.sku, per_set=per_set.get(part.sku, 0), available=part.available)
        for part in level.components
    ]


def _sets_of(stock: models.StoreStock) -> str:
    """A set's availability in words: what limits it."""
    if not stock.parts:
        return ""
    return " set(s): " + ", ".join(f"{part.available} of {part.sku}" for part in stock.parts)


def _from_pool(stock: models.StoreStock) -> str:
    """Where the caller's units come from, when its channel sells from pools."""
    return f" (from the {stock.pool} pool)" if stock.pool else ""
