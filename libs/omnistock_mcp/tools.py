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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from omnistock_client import OmnistockClient
from omnistock_client.explain import explain, missing_sentence, not_found_of, short_locations
from omnistock_client.lookups import all_pages, city_point, customer_id_for, derived_request_id, location_names

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.settings import ServiceName, Settings

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


# The channel a caller sells through when its token names none.
ROLE_CHANNEL: dict[str, common_pb2.Channel.ValueType] = {
    Role.STOREFRONT: common_pb2.CHANNEL_WEB,
    Role.APP: common_pb2.CHANNEL_APP,
    Role.CHAT_AGENT: common_pb2.CHANNEL_CHAT,
    Role.POS: common_pb2.CHANNEL_POS,
}
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
            channel = ROLE_CHANNEL.get(role, common_pb2.CHANNEL_CHAT)
        return cls(role, str(claims.get("sub", "")), channel)

    @property
    def key(self) -> str:
        """Part of every derived request id: one caller's intent is never another's."""
        return f"{self.role}:{self.subject}"


def not_found_sentence(*missing: tuple[str, str]) -> str:
    """One sentence (and what to do about it) per thing that does not exist."""
    return " ".join(missing_sentence(kind, name) + NOT_FOUND_HINTS.get(kind, "") for kind, name in missing)


def _iso(stamp: Any) -> str:
    return stamp.ToDatetime(tzinfo=UTC).isoformat(timespec="minutes") if stamp.seconds else ""


def _status(value: int, enum: Any, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


def _money(minor: int, currency: str) -> str:
    return f"{minor / 100:.2f} {currency}" if currency else ""


@dataclass
class ChannelTools:
    settings: Settings
    token: Callable[[], str]
    addresses: dict[ServiceName, str] | None = None
    today: Callable[[], str] = field(default=lambda: datetime.now(UTC).date().isoformat())
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

    async def _call(
        self,
        method_of: Callable[[OmnistockClient], Any],
        request: Message,
        *,
        skus: list[str] | None = None,
        locations: list[str] | None = None,
    ) -> Any:
        """The call; a refusal becomes a ToolFailure with one sentence. With `skus` / `locations`
        (what the request names), a refusal that may come from one of them not existing is
        checked against the catalogue, so that an unknown SKU or store reads as not found."""
        client = await self.client()
        try:
            return await client.call(method_of(client), request)
        except grpc.aio.AioRpcError as error:
            if error.code() in _MAYBE_UNKNOWN and (skus or locations):
                missing = await self._missing(client, skus or [], locations or [])
                if missing:
                    raise ToolFailure(not_found_sentence(*missing)) from None
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
        if "already used for a different request" in (error.details() or ""):
            sentence = (
                "This idempotency_key was already used for a different request; "
                "use a new idempotency_key for a new request."
            )
        return sentence

    # -----------------------------------------------------------------------------------------

    async def search_skus(
        self,
        text: str = "",
        colour: str | None = None,
        size: str | None = None,
        category: str | None = None,
        material: str | None = None,
        attributes: dict[str, str] | None = None,
        limit: int = 20,
    ) -> dict[str, Any]:
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
        return {
            "count": len(found),
            "skus": [
                {
                    "sku": sku.sku,
                    "title": sku.title,
                    "attributes": dict(sku.attributes),
                    "price": _money(sku.price_minor, sku.currency),
                }
                for sku in found
            ],
            "note": "" if found else "No SKU matches; try fewer words or fewer attributes.",
        }

    async def find_stock_nearby(
        self,
        sku: str,
        city: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        radius_km: float = DEFAULT_RADIUS_KM,
        quantity: int = 1,
    ) -> dict[str, Any]:
        client = await self.client()
        if latitude is not None and longitude is not None:
            near = common_pb2.GeoPoint(latitude=latitude, longitude=longitude)
            where = f"{latitude:.4f},{longitude:.4f}"
        elif city:
            try:
                found_point = await city_point(client, city)
            except grpc.aio.AioRpcError as error:
                raise ToolFailure(await self._sentence(client, error)) from None
            if found_point is None:
                raise ToolFailure(
                    f"Omnistock has no store or warehouse in a city called {city!r}; "
                    "give the customer's latitude and longitude instead, or a nearby city."
                )
            near, where = found_point, city
        else:
            raise ToolFailure("Say where the customer is: a city, or latitude and longitude.")

        async def stores(radius: float, page_size: int) -> list[ipb.LocationAvailability]:
            request = ipb.FindAvailabilityRequest(
                items=[common_pb2.SkuQuantity(sku=sku, quantity=quantity)],
                channel=common_pb2.CHANNEL_CHAT,
                near=near,
                radius_km=radius,
                method=common_pb2.FULFILMENT_METHOD_PICKUP,
                complete_only=True,
                page_size=page_size,
            )
            reply = await self._call(lambda c: c.inventory.FindAvailability, request)
            return list(reply.locations)

        def entry(found: ipb.LocationAvailability) -> dict[str, Any]:
            level = next((lv for lv in found.levels if lv.sku == sku), ipb.StockLevel())
            return {
                "store_id": found.location.location_id,
                "name": found.location.name,
                "city": found.location.city,
                "distance_km": round(found.distance_km, 1),
                "available": level.available,
            }

        nearby = [entry(found) for found in await stores(radius_km, 20)]
        answer: dict[str, Any] = {
            "sku": sku,
            "quantity": quantity,
            "near": {"place": where, "latitude": near.latitude, "longitude": near.longitude},
            "radius_km": radius_km,
            "stores": nearby,
        }
        if nearby:
            best = nearby[0]
            answer["summary"] = (
                f"{len(nearby)} store(s) within {radius_km:g} km of {where} can hand over {quantity} of {sku}; "
                f"nearest: {best['name']} ({best['distance_km']} km, store_id {best['store_id']}) "
                f"with {best['available']} available."
            )
            return answer
        farther = [entry(found) for found in await stores(0, 3)]
        answer["nearest_farther_away"] = farther
        if not farther:
            missing = await self._missing(client, [sku], [])
            if missing:
                raise ToolFailure(not_found_sentence(*missing))
        if farther:
            offers = "; ".join(f"{f['name']} ({f['distance_km']} km) has {f['available']}" for f in farther)
            answer["summary"] = f"No store within {radius_km:g} km of {where} has {quantity} of {sku}. {offers}."
        else:
            answer["summary"] = f"No store anywhere has {quantity} of {sku} available for pickup."
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
    ) -> dict[str, Any]:
        customer_id = customer_id_for(customer_name, email or "", phone or "")
        caller = self.caller()
        intent = (
            ("key", idempotency_key)
            if idempotency_key
            else (sku, store_id, customer_id, quantity, hold_days, self.today())
        )
        request = rpb.CreateReservationRequest(
            request_id=derived_request_id("mcp-reserve", caller.key, *intent),
            channel=caller.channel,
            customer=rpb.Customer(customer_id=customer_id, name=customer_name, email=email or "", phone=phone or ""),
            store_id=store_id,
            lines=[common_pb2.SkuQuantity(sku=sku, quantity=quantity)],
        )
        if hold_days:
            request.hold_for.CopyFrom(duration_pb2.Duration(seconds=int(hold_days * 86400)))
        reply = await self._call(lambda c: c.reservations.CreateReservation, request, skus=[sku], locations=[store_id])
        return await self._reservation(reply.reservation, "Reserved")

    async def get_reservation(self, reservation_id: str) -> dict[str, Any]:
        reply = await self._call(
            lambda c: c.reservations.GetReservation, rpb.GetReservationRequest(reservation_id=reservation_id)
        )
        return await self._reservation(reply.reservation, "")

    async def extend_reservation(
        self, reservation_id: str, days: float, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        intent = ("key", idempotency_key) if idempotency_key else (reservation_id, days, self.today())
        request = rpb.ExtendReservationRequest(
            request_id=derived_request_id("mcp-extend", self.caller().key, *intent),
            reservation_id=reservation_id,
            extend_by=duration_pb2.Duration(seconds=int(days * 86400)),
        )
        reply = await self._call(lambda c: c.reservations.ExtendReservation, request)
        return await self._reservation(reply.reservation, f"Extended by {days:g} day(s)")

    async def cancel_reservation(
        self, reservation_id: str, reason: str = "", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        intent = ("key", idempotency_key) if idempotency_key else (reservation_id,)
        request = rpb.CancelReservationRequest(
            request_id=derived_request_id("mcp-cancel", self.caller().key, *intent),
            reservation_id=reservation_id,
            reason=reason,
        )
        reply = await self._call(lambda c: c.reservations.CancelReservation, request)
        return await self._reservation(reply.reservation, "Cancelled")

    async def order_status(self, order_id: str) -> dict[str, Any]:
        reply = await self._call(lambda c: c.orders.GetOrder, opb.GetOrderRequest(order_id=order_id))
        return self._order(reply.order, "")

    async def hold_order(
        self, order_id: str, reason: str, note: str = "", days: float | None = None, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        code = HOLD_REASONS.get(reason)
        if code is None:
            raise ToolFailure(f"The reason must be one of {', '.join(HOLD_REASONS)}.")
        order = (await self._call(lambda c: c.orders.GetOrder, opb.GetOrderRequest(order_id=order_id))).order
        if any(
            h.reason == code and not h.allocation_id and h.status == opb.FULFILMENT_HOLD_STATUS_ACTIVE
            for h in order.holds
        ):
            return self._order(order, "Already on hold")  # asked before (a retry): the hold stands
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
        return self._order(reply.order, "Put on hold")

    async def release_order_hold(
        self, order_id: str, note: str = "", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        order = (await self._call(lambda c: c.orders.GetOrder, opb.GetOrderRequest(order_id=order_id))).order
        waiting = sorted(h.fulfilment_hold_id for h in order.holds if h.status == opb.FULFILMENT_HOLD_STATUS_ACTIVE)
        if not waiting:
            return self._order(order, "Nothing was on hold")
        intent = ("key", idempotency_key) if idempotency_key else (order_id, *waiting)
        request = opb.ReleaseOrderHoldRequest(
            request_id=derived_request_id("mcp-release", self.caller().key, *intent), order_id=order_id, note=note
        )
        reply = await self._call(lambda c: c.orders.ReleaseOrderHold, request)
        return self._order(reply.order, "Released")

    def _order(self, order: opb.Order, verb: str) -> dict[str, Any]:
        status = _status(order.status, opb.OrderStatus, "ORDER_STATUS_")
        method = _status(order.method, common_pb2.FulfilmentMethod, "FULFILMENT_METHOD_")
        lines = [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "fulfilled": line.fulfilled,
                "backordered": line.backordered,
                "cancelled": line.cancelled,
            }
            for line in order.lines
        ]
        shipments = [
            {
                "location_id": allocation.location_id,
                "items": [{"sku": item.sku, "quantity": item.quantity} for item in allocation.lines],
                "status": _status(allocation.status, opb.AllocationStatus, "ALLOCATION_STATUS_"),
            }
            for allocation in order.allocations
        ]
        holds = [
            {
                "reason": _status(hold.reason, common_pb2.FulfilmentHoldReason, "FULFILMENT_HOLD_REASON_"),
                "status": _status(hold.status, opb.FulfilmentHoldStatus, "FULFILMENT_HOLD_STATUS_"),
                "allocation_id": hold.allocation_id,
                "expires_at": _iso(hold.expires_at),
            }
            for hold in order.holds
        ]
        summary = f"Order {order.order_id} is {status.replace('_', ' ')} ({method.replace('_', ' ')})."
        waiting = [hold for hold in holds if hold["status"] == "active"]
        if order.on_hold and waiting:
            reasons = " and ".join(sorted({hold["reason"].replace("_", " ") for hold in waiting}))
            first = min(hold["expires_at"] for hold in waiting)
            summary += f" It waits ({reasons}): nothing is shipped until released; unless released by {first} (UTC)"
            summary += " it is cancelled."
        return {
            "order_id": order.order_id,
            "status": status,
            "method": method,
            "store_id": order.store_id,
            "lines": lines,
            "allocations": shipments,
            "on_hold": order.on_hold,
            "holds": holds,
            "total": _money(order.total_minor, order.currency),
            "created_at": _iso(order.created_at),
            "summary": f"{verb}: {summary}" if verb else summary,
        }

    async def _reservation(self, reservation: rpb.Reservation, verb: str) -> dict[str, Any]:
        client = await self.client()
        try:
            store = (await location_names(client, [reservation.store_id]))[reservation.store_id]
        except grpc.aio.AioRpcError:
            store = reservation.store_id
        status = _status(reservation.status, rpb.ReservationStatus, "RESERVATION_STATUS_")
        items = ", ".join(f"{line.quantity} x {line.sku}" for line in reservation.lines)
        expires = _iso(reservation.expires_at)
        if reservation.status in (rpb.RESERVATION_STATUS_ACTIVE, rpb.RESERVATION_STATUS_READY_FOR_PICKUP):
            summary = (
                f"{verb + ': ' if verb else ''}{items} at {store} for {reservation.customer.name}. "
                f"Pickup code {reservation.pickup_code}; collect before {expires} (UTC)."
                + (" The items are ready at the pickup desk." if status == "ready_for_pickup" else "")
            )
        else:
            summary = f"Reservation {reservation.reservation_id} ({items} at {store}) is {status.replace('_', ' ')}."
            if verb == "Reserved":  # the same intent was answered before and has ended since
                summary += " To reserve again, call reserve_for_pickup with a new idempotency_key."
        return {
            "reservation_id": reservation.reservation_id,
            "status": status,
            "pickup_code": reservation.pickup_code,
            "store_id": reservation.store_id,
            "store_name": store,
            "items": [{"sku": line.sku, "quantity": line.quantity} for line in reservation.lines],
            "customer": {"name": reservation.customer.name, "customer_id": reservation.customer.customer_id},
            "expires_at": expires,
            "order_id": reservation.order_id,
            "summary": summary,
        }
