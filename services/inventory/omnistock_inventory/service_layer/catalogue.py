"""Locations and SKUs."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages, repository
from omnistock_inventory.domain.bundles import MAX_COMPONENTS, MAX_UNITS_PER_BUNDLE
from omnistock_inventory.service_layer import bundles, promise_settings
from omnistock_platform.db import Database
from omnistock_platform.errors import NotFound
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.paging import key_after, key_token
from omnistock_platform.validation import Validator

# One order's lines at most (orders allows 100); locations as many as BatchGetStock takes.
MAX_BATCH_SKUS = 100
MAX_BATCH_LOCATIONS = 1000


def identifiers(field: str, values: Sequence[str], maximum: int) -> list[str]:
    """The distinct, valid ids of a batch read, sorted; INVALID_ARGUMENT naming each bad one."""
    check = Validator()
    check.check(0 < len(values) <= maximum, field, f"give between 1 and {maximum}")
    if len(values) <= maximum:  # past the limit one violation says it all (and the error stays small)
        for index, value in enumerate(values):
            check.identifier(f"{field}[{index}]", value)
    check.raise_if_invalid()
    return sorted(set(values))


def validate_components(check: Validator, sku: pb.Sku) -> dict[str, int]:
    """A bundle's components as a map (empty for a plain SKU), each violation naming its field."""
    check.check(
        len(sku.components) <= MAX_COMPONENTS, "sku.components", f"a bundle has at most {MAX_COMPONENTS} components"
    )
    components: dict[str, int] = {}
    for index, component in enumerate(sku.components[:MAX_COMPONENTS]):
        field = f"sku.components[{index}]"
        check.identifier(f"{field}.sku", component.sku)
        check.check(component.sku != sku.sku, f"{field}.sku", "a bundle cannot contain itself")
        check.check(component.sku not in components, f"{field}.sku", "name each component once")
        check.check(
            1 <= component.quantity <= MAX_UNITS_PER_BUNDLE,
            f"{field}.quantity",
            f"must be between 1 and {MAX_UNITS_PER_BUNDLE}",
        )
        components[component.sku] = component.quantity
    check.check(not sku.allow_split or bool(components), "sku.allow_split", "only a bundle (with components) splits")
    return components


class Catalogue:
    def __init__(self, db: Database, idempotency: IdempotencyStore, outbox: Outbox) -> None:
        self.db = db
        self.idempotency = idempotency
        self.outbox = outbox

    async def upsert_location(self, request: pb.UpsertLocationRequest) -> pb.UpsertLocationResponse:
        loc = request.location
        check = Validator()
        check.identifier("location.location_id", loc.location_id)
        check.name("location.name", loc.name, required=True)
        check.name("location.city", loc.city, required=True)
        check.enum("location.kind", loc.kind, messages.KINDS)
        check.check(loc.HasField("point"), "location.point", "is required")
        check.point("location.point", loc.point.latitude, loc.point.longitude)
        check.check(0 <= loc.routing_rank <= 1000, "location.routing_rank", "must be between 0 and 1000")
        promise_settings.validate(check, loc.promise_settings)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.UpsertLocationResponse:
            row = await repository.upsert_location(
                conn,
                {
                    "location_id": loc.location_id,
                    "name": loc.name,
                    "kind": messages.KINDS[loc.kind],
                    "city": loc.city,
                    "latitude": loc.point.latitude,
                    "longitude": loc.point.longitude,
                    "routing_rank": loc.routing_rank,
                    "ships": loc.ships,
                    "pickup": loc.pickup,
                    "till_sales": loc.till_sales,
                    "active": loc.active,
                    "promise_settings": messages.stored_promise_settings(loc.promise_settings),
                },
            )
            location = messages.location(row)
            # Those who remember locations (reservations' store checks) forget this one.
            await self.outbox.add(conn, "location.changed", pb.LocationChanged(location=location))
            return pb.UpsertLocationResponse(location=location)

        return await self.idempotency.run(
            self.db, "UpsertLocation", request.request_id, request, pb.UpsertLocationResponse, work
        )

    async def get_location(self, request: pb.GetLocationRequest) -> pb.GetLocationResponse:
        check = Validator()
        check.identifier("location_id", request.location_id)
        check.raise_if_invalid()
        row = await repository.get_location(self.db.pool, request.location_id)
        if row is None:
            raise NotFound("location", request.location_id, field="location_id")
        return pb.GetLocationResponse(location=messages.location(row))

    async def batch_get_locations(self, request: pb.BatchGetLocationsRequest) -> pb.BatchGetLocationsResponse:
        wanted = identifiers("location_ids", request.location_ids, MAX_BATCH_LOCATIONS)
        rows = await repository.get_locations(self.db.pool, wanted)
        found = sorted((messages.location(row) for row in rows), key=lambda location: location.location_id)
        known = {location.location_id for location in found}
        return pb.BatchGetLocationsResponse(
            locations=found, not_found=[location_id for location_id in wanted if location_id not in known]
        )

    async def list_locations(self, request: pb.ListLocationsRequest) -> pb.ListLocationsResponse:
        check = Validator()
        limit = check.page_size("page_size", request.page_size)
        check.text("city", request.city)
        check.check(request.kind == 0 or request.kind in messages.KINDS, "kind", "unknown value")
        after = key_after(request.page_token)
        check.raise_if_invalid()
        rows = await repository.list_locations(
            self.db.pool, city=request.city, kind=messages.KINDS.get(request.kind, ""), after=after, limit=limit + 1
        )
        page = rows[:limit]
        more = len(rows) > limit
        return pb.ListLocationsResponse(
            locations=[messages.location(row) for row in page],
            next_page_token=key_token(page[-1]["location_id"]) if more else "",
        )

    async def upsert_sku(self, request: pb.UpsertSkuRequest) -> pb.UpsertSkuResponse:
        sku = request.sku
        check = Validator()
        check.identifier("sku.sku", sku.sku)
        check.name("sku.title", sku.title, required=True)
        check.check(len(sku.attributes) <= 32, "sku.attributes", "at most 32 attributes")
        for key, value in sku.attributes.items():
            check.text(f"sku.attributes[{key}]", key, required=True, max_length=64)
            check.text(f"sku.attributes[{key}]", value, max_length=200)
        check.check(0 <= sku.price_minor <= 10**12, "sku.price_minor", "must be between 0 and 10^12")
        check.check(sku.currency == "" or len(sku.currency) == 3, "sku.currency", "must be a 3-letter ISO code")
        components = validate_components(check, sku)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.UpsertSkuResponse:
            if components:
                await bundles.check_definition(conn, sku.sku, components)
            row = await repository.upsert_sku(
                conn,
                {
                    "sku": sku.sku,
                    "title": sku.title,
                    "attributes": dict(sku.attributes),
                    "allow_backorder": sku.allow_backorder,
                    "price_minor": sku.price_minor,
                    "currency": (sku.currency or "EUR").upper(),
                    "components": components,
                    "allow_split": sku.allow_split,
                },
            )
            return pb.UpsertSkuResponse(sku=messages.sku(row))

        return await self.idempotency.run(self.db, "UpsertSku", request.request_id, request, pb.UpsertSkuResponse, work)

    async def get_sku(self, request: pb.GetSkuRequest) -> pb.GetSkuResponse:
        check = Validator()
        check.identifier("sku", request.sku)
        check.raise_if_invalid()
        row = await repository.get_sku(self.db.pool, request.sku)
        if row is None:
            raise NotFound("sku", request.sku, field="sku")
        return pb.GetSkuResponse(sku=messages.sku(row))

    async def batch_get_skus(self, request: pb.BatchGetSkusRequest) -> pb.BatchGetSkusResponse:
        wanted = identifiers("skus", request.skus, MAX_BATCH_SKUS)
        rows = await repository.get_skus(self.db.pool, wanted)
        found = sorted((messages.sku(row) for row in rows), key=lambda sku: sku.sku)
        known = {sku.sku for sku in found}
        return pb.BatchGetSkusResponse(skus=found, not_found=[sku for sku in wanted if sku not in known])

    async def list_skus(self, request: pb.ListSkusRequest) -> pb.ListSkusResponse:
        check = Validator()
        limit = check.page_size("page_size", request.page_size)
        check.text("text", request.text)
        check.check(len(request.attributes) <= 16, "attributes", "at most 16 attributes")
        for key, value in request.attributes.items():
            check.text(f"attributes[{key}]", key, required=True, max_length=64)
            check.text(f"attributes[{key}]", value, max_length=200)
        after = key_after(request.page_token)
        check.raise_if_invalid()
        rows = await repository.search_skus(
            self.db.pool, text=request.text, attributes=dict(request.attributes), after=after, limit=limit + 1
        )
        page = rows[:limit]
        return pb.ListSkusResponse(
            skus=[messages.sku(row) for row in page],
            next_page_token=key_token(page[-1]["sku"]) if len(rows) > limit else "",
        )
