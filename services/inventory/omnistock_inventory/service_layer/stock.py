"""Stock levels: receipts, adjustments, safety stock, expected stock, and every read."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages, repository
from omnistock_inventory.domain.holds import LineKey
from omnistock_inventory.domain.stock import Channel, available, may_use_safety_stock
from omnistock_inventory.service_layer import ledger
from omnistock_inventory.service_layer.catalogue import decode_token, encode_token
from omnistock_inventory.service_layer.reads import StockReads
from omnistock_platform.auth import Role, current_principal, require_location, visible_locations
from omnistock_platform.db import Database
from omnistock_platform.errors import FailedPrecondition, NotFound, PermissionDenied, PreconditionViolation, Reason
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.geo import Point, distance_km
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.validation import MAX_QUANTITY, Validator

REASONS = {
    pb.ADJUSTMENT_REASON_COUNT: "count",
    pb.ADJUSTMENT_REASON_DAMAGE: "damage",
    pb.ADJUSTMENT_REASON_SHRINKAGE: "shrinkage",
    pb.ADJUSTMENT_REASON_CORRECTION: "correction",
    pb.ADJUSTMENT_REASON_RETURN: "return",
}
METHOD_FLAGS = {
    common_pb2.FULFILMENT_METHOD_SHIP: "ships",
    common_pb2.FULFILMENT_METHOD_PICKUP: "pickup",
    common_pb2.FULFILMENT_METHOD_CARRY_OUT: "till_sales",
}


def channel_of(code: int) -> Channel:
    return messages.CHANNELS.get(code, Channel.WEB)


def require_return_only_at_till(reason: int) -> None:
    """A till takes back what a customer returns; counts and write-offs are the stock room's."""
    principal = current_principal()
    if principal.role is Role.POS and reason != pb.ADJUSTMENT_REASON_RETURN:
        raise PermissionDenied(
            "a till may only adjust stock for a customer return (reason RETURN)", reason=Reason.ACTION_NOT_ALLOWED
        )


def validate_row(check: Validator, location_id: str, sku: str) -> None:
    check.identifier("location_id", location_id)
    check.identifier("sku", sku)


class StockLevels:
    def __init__(self, db: Database, outbox: Outbox, idempotency: IdempotencyStore) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.reads = StockReads(db)

    async def _known_row(self, conn: asyncpg.Connection, location_id: str, sku: str) -> tuple[LineKey, bool]:
        """The row's key (created empty if new) and whether its SKU may be backordered."""
        if await repository.get_location(conn, location_id) is None:
            raise NotFound("location", location_id)
        sku_row = await repository.get_sku(conn, sku)
        if sku_row is None:
            raise NotFound("sku", sku)
        await repository.ensure_stock_row(conn, location_id, sku)
        return LineKey(location_id, sku), bool(sku_row["allow_backorder"])

    async def receive(self, request: pb.ReceiveStockRequest) -> pb.ReceiveStockResponse:
        check = Validator()
        validate_row(check, request.location_id, request.sku)
        check.quantity("quantity", request.quantity)
        check.text("document_ref", request.document_ref)
        check.raise_if_invalid()
        require_location(request.location_id)

        async def work(conn: asyncpg.Connection) -> pb.ReceiveStockResponse:
            key, backorder = await self._known_row(conn, request.location_id, request.sku)
            current = await repository.lock_stock_row(conn, key)
            arrived = min(current["incoming"], request.quantity) if current else 0
            row = await repository.change_stock(conn, key, on_hand=request.quantity, incoming=-arrived)
            level = await ledger.record(
                conn,
                self.outbox,
                row,
                kind="receipt",
                on_hand_delta=request.quantity,
                document_ref=request.document_ref,
                backorder=backorder,
            )
            return pb.ReceiveStockResponse(level=level)

        return await self.idempotency.run(
            self.db, "ReceiveStock", request.request_id, request, pb.ReceiveStockResponse, work
        )

    async def adjust(self, request: pb.AdjustStockRequest) -> pb.AdjustStockResponse:
        check = Validator()
        validate_row(check, request.location_id, request.sku)
        check.enum("reason", request.reason, REASONS)
        change = request.WhichOneof("change")
        if change is None:
            check.fail("change", "set either delta or set_to")
        elif change == "delta":
            check.check(request.delta != 0, "delta", "must not be zero")
            check.check(abs(request.delta) <= MAX_QUANTITY, "delta", f"must be within ±{MAX_QUANTITY}")
        else:
            check.non_negative("set_to", request.set_to)
        if request.HasField("expected_on_hand"):
            check.non_negative("expected_on_hand", request.expected_on_hand)
        check.text("note", request.note, max_length=500)
        check.text("document_ref", request.document_ref)
        check.raise_if_invalid()
        require_location(request.location_id)
        require_return_only_at_till(request.reason)

        async def work(conn: asyncpg.Connection) -> pb.AdjustStockResponse:
            key, backorder = await self._known_row(conn, request.location_id, request.sku)
            current = await repository.lock_stock_row(conn, key)
            assert current is not None
            if request.HasField("expected_on_hand") and current["on_hand"] != request.expected_on_hand:
                raise FailedPrecondition(
                    f"on hand is {current['on_hand']}, not the expected {request.expected_on_hand}",
                    [PreconditionViolation("EXPECTED_ON_HAND", f"{key.location_id}/{key.sku}", "on hand changed")],
                )
            delta = request.delta if change == "delta" else request.set_to - current["on_hand"]
            new_on_hand = current["on_hand"] + delta
            if new_on_hand < current["held"]:
                raise FailedPrecondition(
                    f"on hand cannot drop to {new_on_hand}: {current['held']} units are held; release them first",
                    [PreconditionViolation("HELD", f"{key.location_id}/{key.sku}", f"{current['held']} held")],
                )
            row = await repository.change_stock(conn, key, on_hand=delta)
            level = await ledger.record(
                conn,
                self.outbox,
                row,
                backorder=backorder,
                kind="adjustment",
                on_hand_delta=delta,
                reason=REASONS[request.reason] + (f": {request.note}" if request.note else ""),
                document_ref=request.document_ref,
            )
            return pb.AdjustStockResponse(level=level)

        return await self.idempotency.run(
            self.db, "AdjustStock", request.request_id, request, pb.AdjustStockResponse, work
        )

    async def set_safety_stock(self, request: pb.SetSafetyStockRequest) -> pb.SetSafetyStockResponse:
        check = Validator()
        validate_row(check, request.location_id, request.sku)
        check.non_negative("safety_stock", request.safety_stock)
        check.raise_if_invalid()
        require_location(request.location_id)

        async def work(conn: asyncpg.Connection) -> pb.SetSafetyStockResponse:
            key, backorder = await self._known_row(conn, request.location_id, request.sku)
            row = await repository.change_stock(conn, key, safety_stock=request.safety_stock)
            level = await ledger.record(conn, self.outbox, row, kind="safety_stock", backorder=backorder)
            return pb.SetSafetyStockResponse(level=level)

        return await self.idempotency.run(
            self.db, "SetSafetyStock", request.request_id, request, pb.SetSafetyStockResponse, work
        )

    async def expect(self, request: pb.ExpectStockRequest) -> pb.ExpectStockResponse:
        check = Validator()
        validate_row(check, request.location_id, request.sku)
        check.quantity("quantity", request.quantity)
        expected_at = check.timestamp(
            "expected_at", request.expected_at if request.HasField("expected_at") else None, required=True
        )
        check.text("document_ref", request.document_ref)
        check.raise_if_invalid()
        require_location(request.location_id)

        async def work(conn: asyncpg.Connection) -> pb.ExpectStockResponse:
            key, backorder = await self._known_row(conn, request.location_id, request.sku)
            row = await repository.change_stock(conn, key, incoming=request.quantity, next_incoming_at=expected_at)
            level = await ledger.record(
                conn,
                self.outbox,
                row,
                kind="receipt",
                reason="expected",
                document_ref=request.document_ref,
                backorder=backorder,
            )
            return pb.ExpectStockResponse(level=level)

        return await self.idempotency.run(
            self.db, "ExpectStock", request.request_id, request, pb.ExpectStockResponse, work
        )

    async def levels(
        self, skus: list[str], location_ids: list[str], channel: int, selling_location_id: str
    ) -> list[pb.StockLevel]:
        """The one availability answer: every read goes through here."""
        rows = await repository.level_rows(self.db.pool, skus=skus, location_ids=location_ids)
        return self._levels(rows, channel, selling_location_id)

    @staticmethod
    def _levels(rows: list[asyncpg.Record], channel: int, selling_location_id: str) -> list[pb.StockLevel]:
        chosen = channel_of(channel)
        return [
            messages.stock_level(
                row,
                use_safety_stock=may_use_safety_stock(chosen, selling_location_id, row["location_id"]),
                backorder=row["allow_backorder"],
            )
            for row in rows
        ]

    async def get(self, request: pb.GetStockRequest) -> pb.GetStockResponse:
        check = Validator()
        check.identifier("sku", request.sku)
        check.identifier("location_id", request.location_id, required=False)
        check.identifier("selling_location_id", request.selling_location_id, required=False)
        check.raise_if_invalid()
        rows = await self.reads.sku_levels(request.sku, request.location_id)
        if rows is None:
            raise NotFound("sku", request.sku)
        return pb.GetStockResponse(levels=self._levels(rows, request.channel, request.selling_location_id))

    async def batch_get(self, request: pb.BatchGetStockRequest) -> pb.BatchGetStockResponse:
        check = Validator()
        check.check(0 < len(request.skus) <= 1000, "skus", "give between 1 and 1000 SKUs")
        check.check(len(request.location_ids) <= 1000, "location_ids", "at most 1000 locations")
        for index, sku in enumerate(request.skus):
            check.identifier(f"skus[{index}]", sku)
        for index, location_id in enumerate(request.location_ids):
            check.identifier(f"location_ids[{index}]", location_id)
        check.raise_if_invalid()
        return pb.BatchGetStockResponse(
            levels=await self.levels(
                list(request.skus), list(request.location_ids), request.channel, request.selling_location_id
            )
        )

    async def find_availability(self, request: pb.FindAvailabilityRequest) -> pb.FindAvailabilityResponse:
        check = Validator()
        check.check(0 < len(request.items) <= 100, "items", "give between 1 and 100 items")
        for index, item in enumerate(request.items):
            check.identifier(f"items[{index}].sku", item.sku)
            check.quantity(f"items[{index}].quantity", item.quantity)
        if request.HasField("near"):
            check.point("near", request.near.latitude, request.near.longitude)
        check.check(0 <= request.radius_km <= 20_000, "radius_km", "must be between 0 and 20000")
        check.check(request.method == 0 or request.method in METHOD_FLAGS, "method", "unknown value")
        limit = check.page_size("page_size", request.page_size)
        check.raise_if_invalid()
        wanted = {item.sku: item.quantity for item in request.items}
        chosen = channel_of(request.channel)
        near = Point(request.near.latitude, request.near.longitude) if request.HasField("near") else None
        by_location: dict[str, list[asyncpg.Record]] = {}
        for row in await repository.availability_rows(self.db.pool, list(wanted)):
            by_location.setdefault(row["location_id"], []).append(row)
        stocked = {row["sku"] for rows in by_location.values() for row in rows}
        if not stocked >= wanted.keys():  # stocked nowhere, or not in the catalogue at all?
            known = {row["sku"] for row in await repository.get_skus(self.db.pool, list(wanted))}
            for index, item in enumerate(request.items):
                if item.sku not in known:
                    raise NotFound("sku", item.sku, field=f"items[{index}].sku")
        # Decided on plain numbers; messages are built only for the page that is returned.
        found = []
        for location_id, here in by_location.items():
            place = here[0]  # every row of a location carries the location's columns
            if not place["active"] or (request.method and not place[METHOD_FLAGS[request.method]]):
                continue
            use_safety_stock = may_use_safety_stock(chosen, request.selling_location_id, location_id)
            can = {
                row["sku"]: available(
                    messages.counters(row), use_safety_stock=use_safety_stock, backorder=row["allow_backorder"]
                )
                for row in here
            }
            if not any(units > 0 for units in can.values()):
                continue
            complete = all(can.get(sku, 0) >= quantity for sku, quantity in wanted.items())
            if request.complete_only and not complete:
                continue
            distance = distance_km(near, Point(place["latitude"], place["longitude"])) if near is not None else 0.0
            if request.radius_km and distance > request.radius_km:
                continue
            rounded = round(distance, 3)
            found.append(((not complete, rounded, place["routing_rank"], location_id), complete, rounded, here))
        found.sort(key=lambda entry: entry[0])
        return pb.FindAvailabilityResponse(
            locations=[
                pb.LocationAvailability(
                    location=messages.location(here[0]),
                    distance_km=rounded,
                    levels=self._levels(here, request.channel, request.selling_location_id),
                    complete=complete,
                )
                for _, complete, rounded, here in found[:limit]
            ]
        )

    async def list_movements(self, request: pb.ListMovementsRequest) -> pb.ListMovementsResponse:
        check = Validator()
        check.identifier("location_id", request.location_id, required=False)
        check.identifier("sku", request.sku, required=False)
        limit = check.page_size("page_size", request.page_size)
        token = decode_token(request.page_token)
        check.check(
            token == "" or (token.isdigit() and int(token) < 2**63), "page_token", "is not a token this service issued"
        )
        since = check.timestamp("since", request.since) if request.HasField("since") else None
        until = check.timestamp("until", request.until) if request.HasField("until") else None
        check.raise_if_invalid()
        # Who acted and under which request ids: a location's own records, for its staff only.
        rows = await repository.list_movements(
            self.db.pool,
            location_ids=visible_locations(request.location_id),
            sku=request.sku,
            since=since,
            until=until,
            after_id=int(token or 0),
            limit=limit + 1,
        )
        page = rows[:limit]
        return pb.ListMovementsResponse(
            movements=[messages.movement(row) for row in page],
            next_page_token=encode_token(str(page[-1]["movement_id"])) if len(rows) > limit else "",
        )


def now() -> datetime:
    return datetime.now(UTC)
