"""Stock levels: receipts, adjustments, safety stock, expected stock, and every read."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import (
    bundle_repository,
    count_repository,
    messages,
    repository,
    transfer_messages,
    transfer_repository,
)
from omnistock_inventory.adapters.pool_repository import PoolsByLocation
from omnistock_inventory.domain.bundles import Components, bundle_available
from omnistock_inventory.domain.holds import LineKey
from omnistock_inventory.domain.stock import Channel, Counters, channel_available, may_use_safety_stock
from omnistock_inventory.domain.transfers import LeadTimes, TransferStatus
from omnistock_inventory.service_layer import ledger, listing, transit_promises
from omnistock_inventory.service_layer.bundles import bundle_levels, refuse_stock_of_bundle
from omnistock_inventory.service_layer.pools import UNKNOWN, PoolBook, at, group_locations
from omnistock_inventory.service_layer.promises import PromiseQuestion
from omnistock_inventory.service_layer.ranking import Ranked, point, rank
from omnistock_inventory.service_layer.reads import StockReads
from omnistock_inventory.service_layer.stock_view import Freshness, StockView, ViewRow, first_of
from omnistock_platform.auth import Role, current_principal, require_location, visible_locations
from omnistock_platform.db import Database
from omnistock_platform.errors import FailedPrecondition, NotFound, PermissionDenied, PreconditionViolation, Reason
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.geo import Point, distance_km
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.logging import get_logger
from omnistock_platform.paging import key_after, key_token
from omnistock_platform.promise_messages import Awaited, awaited, beyond_shelf
from omnistock_platform.sets import expand
from omnistock_platform.validation import IDENTIFIER, MAX_QUANTITY, Validator, whole_number

if TYPE_CHECKING:
    from google.protobuf.internal.containers import RepeatedCompositeFieldContainer

# A row an answer is computed from: the database's, or the view's with the same columns.
Row: TypeAlias = asyncpg.Record | ViewRow

log = get_logger(__name__)
REASONS = {
    pb.ADJUSTMENT_REASON_COUNT: "count",
    pb.ADJUSTMENT_REASON_DAMAGE: "damage",
    pb.ADJUSTMENT_REASON_SHRINKAGE: "shrinkage",
    pb.ADJUSTMENT_REASON_CORRECTION: "correction",
    pb.ADJUSTMENT_REASON_RETURN: "return",
}
# Shipped transfers read to date a store's units in transit (as reservations reads them: 4 pages of 500).
MAX_SHIPPED = 2000
METHOD_FLAGS = {
    common_pb2.FULFILMENT_METHOD_SHIP: "ships",
    common_pb2.FULFILMENT_METHOD_PICKUP: "pickup",
    common_pb2.FULFILMENT_METHOD_CARRY_OUT: "till_sales",
}


def channel_of(code: int) -> Channel:
    return messages.CHANNELS.get(code, Channel.WEB)


# The channels a read may name: unspecified (read as the web) or one the schema knows.
READ_CHANNELS = frozenset({0, *messages.CHANNELS})


def check_channel(check: Validator, code: int) -> None:
    """A channel number the schema does not know is refused, not read as the web: the caller meant some
    channel, and would be answered another's figures."""
    check.check(code in READ_CHANNELS, "channel", f"unknown value {code}")


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
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        idempotency: IdempotencyStore,
        view: StockView,
        book: PoolBook | None = None,
        leads: LeadTimes | None = None,
    ) -> None:
        self.db = db
        self.leads = leads or LeadTimes({}, {})
        self.outbox = outbox
        self.idempotency = idempotency
        self.reads = StockReads(db)
        self.view = view
        self.book = book or PoolBook(db)

    async def _known_row(self, conn: asyncpg.Connection, location_id: str, sku: str) -> tuple[LineKey, bool]:
        """The row's key (created empty if new) and whether its SKU may be backordered."""
        if await repository.get_location(conn, location_id) is None:
            raise NotFound("location", location_id, field="location_id")
        sku_row = await repository.get_sku(conn, sku)
        if sku_row is None:
            raise NotFound("sku", sku, field="sku")
        refuse_stock_of_bundle(sku, sku_row["components"])
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
        observed_at = check.timestamp("observed_at", request.observed_at) if request.HasField("observed_at") else None
        check.not_future("observed_at", observed_at)
        check.raise_if_invalid()
        require_location(request.location_id)
        require_return_only_at_till(request.reason)
        if request.shorten_holds and current_principal().role not in (Role.SERVICE, Role.ADMIN):
            # Giving customers' units back is the services' call (a pick that found them missing); a
            # count that finds fewer than are held is refused, and staff release or re-route first.
            raise PermissionDenied(
                f"{current_principal().role} may not shorten holds with an adjustment; release or re-route them",
                reason=Reason.ACTION_NOT_ALLOWED,
            )
        if observed_at is not None and current_principal().role not in (Role.SERVICE, Role.ADMIN):
            # It moves the lines of counts staff take blind: a service's record of when it found a
            # difference (a pick's), not a figure a count's own staff could steer.
            raise PermissionDenied(
                f"{current_principal().role} may not date an adjustment back (observed_at)",
                reason=Reason.ACTION_NOT_ALLOWED,
            )

        async def work(conn: asyncpg.Connection) -> pb.AdjustStockResponse:
            key, backorder = await self._known_row(conn, request.location_id, request.sku)
            # A difference found before a count's scan of the row: the counts first, in the lock order
            # of counting (count, then stock row). All that are open here, so that a scan being written
            # (its ledger position read before this write-off) is written first and then moved too.
            counts = await count_repository.lock_open_counts(conn, key.location_id) if observed_at is not None else []
            if request.shorten_holds:
                # A held set given back whole frees its other parts too: their rows are locked with
                # this one, in the one lock order (as a short receipt locks them).
                parts = await bundle_repository.set_parts_held_with(conn, key.location_id, [key.sku])
                current = (await transfer_repository.lock_rows(conn, sorted({key, *parts})))[key]
            else:
                current = await repository.lock_stock_row(conn, key)
            assert current is not None
            if request.HasField("expected_on_hand") and current["on_hand"] != request.expected_on_hand:
                raise FailedPrecondition(
                    f"on hand is {current['on_hand']}, not the expected {request.expected_on_hand}",
                    [PreconditionViolation("EXPECTED_ON_HAND", f"{key.location_id}/{key.sku}", "on hand changed")],
                )
            delta = request.delta if change == "delta" else request.set_to - current["on_hand"]
            reason = REASONS[request.reason] + (f": {request.note}" if request.note else "")
            if observed_at is not None and delta:
                posted = await count_repository.completed_scans_since(conn, key.location_id, key.sku, observed_at)
                if posted:
                    # A count completed since counted the shelf after the difference was found: the
                    # book is that count's, and what has happened since; this difference is in it.
                    reason += f" ({delta:+} found before count {posted[-1]} counted the shelf, which booked it)"
                    delta, counts = 0, []
            new_on_hand = current["on_hand"] + delta
            if new_on_hand < 0:
                # Releasing holds would not help here: there are not that many units to take off.
                raise FailedPrecondition(
                    f"on hand cannot drop below 0: it is {current['on_hand']}, and {delta:+} would make it"
                    f" {new_on_hand}",
                    [PreconditionViolation("ON_HAND", f"{key.location_id}/{key.sku}", f"{current['on_hand']} on hand")],
                )
            if new_on_hand < current["held"] and request.shorten_holds:
                # Units that are not there are not there for the holds either: they give back what is
                # missing, and their owners (told by hold.shorted) route it elsewhere.
                excess = current["held"] - new_on_hand
                await transit_promises.shorten(conn, self.outbox, key, excess, transfer_id="", reason=reason)
                current = await repository.lock_stock_row(conn, key)
                assert current is not None
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
                reason=reason,
                document_ref=request.document_ref,
            )
            if counts:
                # Those scans missed these units already: completing the counts takes them off no second time.
                assert observed_at is not None
                carried = await count_repository.carry_lines(conn, counts, key.sku, observed_at, row, delta)
                if carried:
                    log.info(
                        "count.lines_carried",
                        location_id=key.location_id,
                        sku=key.sku,
                        counts=[line["count_id"] for line in carried],
                        delta=delta,
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
        # Units due at a time already gone would be promised from it (as a transfer's arrival would).
        check.ahead("expected_at", expected_at)
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
        return self._levels(rows, channel, selling_location_id, await self.book.of(channel_of(channel)))

    @staticmethod
    def _levels(
        rows: Sequence[Row],
        channel: int,
        selling_location_id: str,
        pools: PoolsByLocation,
        *,
        into: RepeatedCompositeFieldContainer[pb.StockLevel] | None = None,
    ) -> list[pb.StockLevel]:
        """Each row as the channel sees it: its pools applied by the one rule (`channel_available`),
        whether the row was read from memory or from the database. Made as elements of `into` when
        given (an answer's field: not copied into it afterwards)."""
        chosen = channel_of(channel)
        levels = []
        for row in rows:
            stock, backorder = (row.stock, row.backorder) if isinstance(row, ViewRow) else (row, row["allow_backorder"])
            location_id = stock["location_id"]
            use_safety_stock = may_use_safety_stock(chosen, selling_location_id, location_id)
            levels.append(
                messages.stock_level(
                    stock,
                    use_safety_stock=use_safety_stock,
                    backorder=backorder,
                    pools=at(pools, location_id),
                    into=into,
                )
            )
        return levels

    async def get(self, request: pb.GetStockRequest) -> pb.GetStockResponse:
        sku, location_id, selling_location_id = request.sku, request.location_id, request.selling_location_id
        token_text = request.min_consistency_token
        if not (IDENTIFIER.fullmatch(sku) and (not location_id or IDENTIFIER.fullmatch(location_id))) or (
            selling_location_id or token_text or request.channel not in READ_CHANNELS
        ):  # anything but the common shape checked field by field (an identifier's rule is the regex alone)
            check = Validator()
            check.identifier("sku", sku)
            check_channel(check, request.channel)
            check.identifier("location_id", location_id, required=False)
            check.identifier("selling_location_id", selling_location_id, required=False)
            token = consistency_token(check, token_text)
            check.raise_if_invalid()
        else:
            token = None
        chosen = channel_of(request.channel)
        # The pools first: from the view's state on nothing is awaited, so one state answers.
        pools = self.book.now(chosen)
        if pools is UNKNOWN:
            pools = await self.book.of(chosen)
        fresh = self.view.reflecting_now(token) or await self.view.reflecting(token)
        response = pb.GetStockResponse()
        if fresh is not None and location_id and self.view.has_sku(sku) and not self.view.components(sku):
            # The read storefronts make most (one SKU at one location), from memory: its level is made
            # in the answer itself.
            row = self.view.row(sku, location_id)
            if row is not None:
                stock = row.stock
                messages.stock_level(
                    stock,
                    use_safety_stock=may_use_safety_stock(chosen, selling_location_id, location_id),
                    backorder=row.backorder,
                    pools=at(pools, location_id),
                    into=response.levels,
                )
                return answered(response, fresh, None)
        as_of: datetime | None = None  # the memory's answer carries its own
        rows: Sequence[Row] | None
        components: Components = {}
        if fresh is not None:  # from memory: nothing awaited from here on, so one state answers
            where = frozenset({location_id} if location_id else ())
            rows = self.view.rows(sku, where) if self.view.has_sku(sku) else None
            components = self.view.components(sku)
            if components:
                rows = [row for part in sorted(components) for row in self.view.rows(part, where)]
        else:
            as_of = now()
            rows = await self.reads.sku_levels(sku, location_id)
            if rows == []:  # a bundle has no rows of its own: its components' rows answer
                components = (await bundle_repository.definitions(self.db.pool, [sku])).get(sku, {})
                if components:
                    rows = await repository.level_rows(
                        self.db.pool,
                        skus=sorted(components),
                        location_ids=[location_id] if location_id else [],
                    )
        if rows is None:
            raise NotFound("sku", sku, field="sku")
        if location_id and not rows and not await self._location_known(location_id, fresh):
            raise NotFound("location", location_id, field="location_id")
        if components:
            levels = self._levels(rows, request.channel, selling_location_id, pools)
            response.levels.extend(bundle_levels(sku, components, levels))
        else:
            self._levels(rows, request.channel, selling_location_id, pools, into=response.levels)
        return answered(response, fresh, as_of)

    async def _location_known(self, location_id: str, fresh: Freshness | None) -> bool:
        """Whether the location exists: a SKU with no row there is an empty answer, an unknown
        location NOT_FOUND. The memory may not hold one created a moment ago: the database says."""
        if fresh is not None and self.view.has_location(location_id):
            return True
        return await repository.get_location(self.db.pool, location_id) is not None

    async def batch_get(self, request: pb.BatchGetStockRequest) -> pb.BatchGetStockResponse:
        check = Validator()
        check.check(0 < len(request.skus) <= 1000, "skus", "give between 1 and 1000 SKUs")
        check.check(len(request.location_ids) <= 1000, "location_ids", "at most 1000 locations")
        for index, sku in enumerate(request.skus):
            check.identifier(f"skus[{index}]", sku)
        for index, location_id in enumerate(request.location_ids):
            check.identifier(f"location_ids[{index}]", location_id)
        check.check(0 <= request.first_locations <= 1000, "first_locations", "between 0 and 1000")
        check.check(
            not request.first_locations or bool(request.location_ids),
            "first_locations",
            "needs location_ids: the locations in the order to take them",
        )
        check_channel(check, request.channel)
        token = consistency_token(check, request.min_consistency_token)
        check.raise_if_invalid()
        pools = await self.book.of(channel_of(request.channel))
        fresh = await self.view.reflecting(token)
        if fresh is not None:
            definitions = {sku: self.view.components(sku) for sku in set(request.skus) if self.view.components(sku)}
            asked = sorted(set(request.skus) - definitions.keys() | parts_of(definitions))
            where = frozenset(
                self.view.first_stocked(asked, request.location_ids, request.first_locations)
                if request.first_locations
                else request.location_ids
            )
            rows: Sequence[Row] = (
                [row for sku in asked for row in self.view.rows(sku, where)]
                if where or not request.location_ids
                else []  # none of the locations asked for has a row (an empty set means every location)
            )
            elsewhere = self.view.places_of(asked).keys() - set(request.location_ids) if request.first_locations else ()
            response = pb.BatchGetStockResponse(unlisted_location_ids=sorted(elsewhere))
            if definitions:
                levels = self._levels(rows, request.channel, request.selling_location_id, pools)
                response.levels.extend(with_bundles(set(request.skus), definitions, levels))
            else:  # made in the answer itself
                self._levels(rows, request.channel, request.selling_location_id, pools, into=response.levels)
            return answered(response, fresh, None)
        as_of = now()
        levels = await self.levels(
            list(request.skus), list(request.location_ids), request.channel, request.selling_location_id
        )
        unstocked = set(request.skus) - {level.sku for level in levels}
        stocked_by: Mapping[str, Components] = (
            await bundle_repository.definitions(self.db.pool, sorted(unstocked)) if unstocked else {}
        )
        if stocked_by:  # bundles have no rows of their own: their components' rows answer
            levels += await self.levels(
                sorted(parts_of(stocked_by) - set(request.skus)),
                list(request.location_ids),
                request.channel,
                request.selling_location_id,
            )
        unlisted: list[str] = []
        if request.first_locations:
            stocked = {level.location_id for level in levels}
            first = frozenset(first_of(request.location_ids, stocked, request.first_locations))
            levels = [level for level in levels if level.location_id in first]
            unlisted = await repository.stocking_locations(
                self.db.pool, sorted(set(request.skus) | parts_of(stocked_by)), besides=list(request.location_ids)
            )
        if stocked_by:
            levels = with_bundles(set(request.skus), stocked_by, levels)
        return answered(pb.BatchGetStockResponse(levels=levels, unlisted_location_ids=unlisted), None, as_of)

    async def find_availability(self, request: pb.FindAvailabilityRequest) -> pb.FindAvailabilityResponse:
        check = Validator()
        check.check(0 < len(request.items) <= 100, "items", "give between 1 and 100 items")
        seen: set[str] = set()
        for index, item in enumerate(request.items):
            check.identifier(f"items[{index}].sku", item.sku)
            check.quantity(f"items[{index}].quantity", item.quantity)
            if item.sku in seen:
                check.fail(f"items[{index}].sku", "appears on another item; give one item per SKU")
            seen.add(item.sku)
        if request.HasField("near"):
            check.point("near", request.near.latitude, request.near.longitude)
        check.check(0 <= request.radius_km <= 20_000, "radius_km", "must be between 0 and 20000")
        check.check(request.method == 0 or request.method in METHOD_FLAGS, "method", "unknown value")
        check_channel(check, request.channel)
        limit = check.page_size("page_size", request.page_size)
        token = consistency_token(check, request.min_consistency_token)
        check.identifier("location_group_id", request.location_group_id, required=False)
        check.text("ship_to_region", request.ship_to_region, max_length=64)
        check.raise_if_invalid()
        wanted = {item.sku: item.quantity for item in request.items}
        pools = await self.book.of(channel_of(request.channel))
        only = (
            await group_locations(self.db, request.location_group_id, "location_group_id")
            if request.location_group_id
            else None
        )
        fresh = await self.view.reflecting(token)
        as_of = now()
        places: dict[str, Any]  # the locations that have a row of any of the SKUs, by id
        rows_at: Callable[[str], Sequence[Row]]  # those rows at one location, in the order of `stocked`
        definitions: Mapping[str, Components]
        if fresh is not None:
            known = {sku for sku in wanted if self.view.has_sku(sku)}
            definitions = {sku: self.view.components(sku) for sku in wanted if self.view.components(sku)}
            # A bundle has no rows of its own: its components' rows answer for it.
            stocked = [sku for sku in wanted if sku not in definitions]
            stocked += sorted(parts_of(definitions) - set(stocked))
            places = self.view.places_of(stocked)
            rows_at = functools.partial(self.view.rows_at, stocked)
            near = Point(request.near.latitude, request.near.longitude) if request.HasField("near") else None
            ranking = self.view.ranking(near, METHOD_FLAGS.get(request.method), request.radius_km, len(places))
        else:
            by_location: dict[str, list[Row]] = {}
            for row in await repository.availability_rows(self.db.pool, list(wanted)):
                by_location.setdefault(row["location_id"], []).append(row)
            stocked_skus = {row["sku"] for rows in by_location.values() for row in rows}
            # Stocked nowhere, or not in the catalogue at all? (A bundle is stocked nowhere itself.)
            known = (
                stocked_skus
                if stocked_skus >= wanted.keys()
                else {row["sku"] for row in await repository.get_skus(self.db.pool, list(wanted))}
            )
            definitions = (
                await bundle_repository.definitions(self.db.pool, sorted(wanted.keys() - stocked_skus))
                if not stocked_skus >= wanted.keys()
                else {}
            )
            extra = sorted(parts_of(definitions) - wanted.keys())
            for row in await repository.availability_rows(self.db.pool, extra) if extra else []:
                by_location.setdefault(row["location_id"], []).append(row)
            places = {location_id: rows[0] for location_id, rows in by_location.items()}
            rows_at = by_location.__getitem__
            ranking = None
        for index, item in enumerate(request.items):
            if item.sku not in known:
                raise NotFound("sku", item.sku, field=f"items[{index}].sku")
        waiting: list[tuple[int, dict[str, int], list[pb.StockLevel]]] = []
        response = pb.FindAvailabilityResponse()
        ranked = self._ranked(
            request,
            wanted,
            places,
            rows_at,
            limit,
            pools,
            only,
            definitions,
            clock=as_of,
            waiting=waiting,
            into=response.locations,
            ranking=ranking,
        )
        for index, beyond, levels in waiting:
            await self._on_the_way(ranked[index], beyond, levels, region=request.ship_to_region, clock=as_of)
        # A set too: ship to store brings it as its components (docs/transfers.md), from an origin
        # that has every component for the whole sets.
        if request.offer_transfers and request.method in (0, common_pb2.FULFILMENT_METHOD_PICKUP):

            def levels_at(location_id: str) -> list[pb.StockLevel]:
                here = rows_at(location_id) if location_id in places else []
                return self._levels(here, request.channel, request.selling_location_id, pools)

            await self._with_transfers(request, response.locations, limit, only, levels_at, clock=as_of)
        return answered(response, fresh, as_of)

    async def _with_transfers(
        self,
        request: pb.FindAvailabilityRequest,
        ranked: RepeatedCompositeFieldContainer[pb.LocationAvailability],
        limit: int,
        only: set[str] | None,
        levels_at: Callable[[str], list[pb.StockLevel]],
        *,
        clock: datetime,
    ) -> None:
        """Adds to `ranked` (the answer's locations) pickup via a transfer offered at the pickup stores
        in range that cannot hand over every item and have no pickup promise: from the origin a
        ship-to-store reservation would choose now (the nearest other location that has every item,
        as reservations asks), expected after the pair's lead time, as CreateTransfer sets it. Stores
        not on the page are added after it, nearest first, while the page has room."""
        listed = {entry.location.location_id: entry for entry in ranked}
        near = Point(request.near.latitude, request.near.longitude) if request.HasField("near") else None
        candidates = []
        for place in await repository.pickup_locations(self.db.pool):
            location_id = place["location_id"]
            if only is not None and location_id not in only:
                continue
            distance = distance_km(near, point(place["latitude"], place["longitude"])) if near is not None else 0.0
            if request.radius_km and distance > request.radius_km:
                continue
            entry = listed.get(location_id)
            if entry is not None and (entry.complete or any(p.kind in _PICKUP_KINDS for p in entry.promises)):
                continue
            candidates.append((round(distance, 3), place["routing_rank"], location_id, place))
        candidates.sort(key=lambda candidate: candidate[:3])
        for rounded, _, location_id, place in candidates:
            entry = listed.get(location_id)
            if entry is None and len(ranked) >= limit:
                break
            store = self.view.location_message(place)
            origin = await self._transfer_origin(request, store)
            if origin is None:
                continue
            arrival = clock + self.leads.of(origin.location_id, _kind_name(origin), location_id)
            promise = self.view.promises.via_transfer(store, origin, arrival=arrival, now=clock)
            if entry is not None:
                entry.promises.append(promise)
            else:
                ranked.add(location=store, distance_km=rounded, levels=levels_at(location_id), promises=[promise])

    async def _on_the_way(
        self,
        entry: pb.LocationAvailability,
        beyond: Mapping[str, int],
        levels: Sequence[pb.StockLevel],
        *,
        region: str,
        clock: datetime,
    ) -> None:
        """The promises of a location that has every item for the channel only by counting units on
        their way (a pool's units in transit, a backorderable SKU's announced units): those a hold of
        the items made now commits (docs/promises.md, "Units held while still on their way"), a
        reservation's pickup and an order's delivery. From the shelf where the hold stays within on
        hand (`beyond` empty), else from the arrival of the shipped transfers, then the announced
        deliveries, that bring the units beyond it (`promise_messages.awaited_once_held`); none when
        nothing on its way says when. The shipped transfers are read only where a row the hold goes
        beyond has units in transit a channel may be promised: elsewhere none can bring them."""
        location = entry.location
        transfers = await self._shipped_to(location.location_id) if in_transit_for(beyond, levels) else []
        waiting = hold_awaits(location.location_id, beyond, levels, transfers)
        via = ""  # the origin's name, said by a pickup only
        if location.pickup and waiting is not None and waiting.arrival is not None and waiting.origin_location_id:
            origin = await repository.get_location(self.db.pool, waiting.origin_location_id)
            via = origin["name"] if origin is not None else waiting.origin_location_id
        entry.promises.extend(
            self.view.promises.after_hold(location, waiting=waiting, via=via, region=region, now=clock)
        )

    async def _shipped_to(self, location_id: str) -> list[pb.Transfer]:
        """The shipped transfers that involve the location (`awaited` keeps those bound for it)."""
        rows = await transfer_repository.list_transfers(
            self.db.pool,
            location_ids=[location_id],
            status=TransferStatus.SHIPPED,
            after=None,
            limit=MAX_SHIPPED,
        )
        lines = await transfer_repository.lines(self.db.pool, [row["transfer_id"] for row in rows])
        by_transfer: dict[str, list[Any]] = {}
        for line in lines:
            by_transfer.setdefault(line["transfer_id"], []).append(line)
        return [transfer_messages.transfer(row, by_transfer.get(row["transfer_id"], [])) for row in rows]

    async def _transfer_origin(self, request: pb.FindAvailabilityRequest, store: pb.Location) -> pb.Location | None:
        """The first origin reservations tries for a ship-to-store reservation at `store`: it asks
        FindAvailability for the complete locations nearest the store (adapters/inventory_client.py)."""
        nearest = await self.find_availability(
            pb.FindAvailabilityRequest(
                items=request.items,
                channel=request.channel,
                near=store.point,
                complete_only=True,
                page_size=4,
            )
        )
        return next(
            (entry.location for entry in nearest.locations if entry.location.location_id != store.location_id), None
        )

    def _ranked(
        self,
        request: pb.FindAvailabilityRequest,
        wanted: dict[str, int],
        places: dict[str, Any],
        rows_at: Callable[[str], Sequence[Row]],
        limit: int,
        pools: PoolsByLocation,
        only: set[str] | None,
        definitions: Mapping[str, Components] | None = None,
        *,
        clock: datetime | None = None,
        waiting: list[tuple[int, dict[str, int], list[pb.StockLevel]]] | None = None,
        into: RepeatedCompositeFieldContainer[pb.LocationAvailability] | None = None,
        ranking: Sequence[Ranked] | None = None,
    ) -> Sequence[pb.LocationAvailability]:
        """The locations that have any of the items, complete ones first, then by distance, rank and id;
        each seen through the channel's `pools`, and only those in `only` when a group is asked for;
        each with its promises as of `clock` (default: now). A pickup store or a location that ships
        that has every item for the channel only by counting units on their way (its pool's units in
        transit, a backorderable SKU's announced units) is added to `waiting` instead (its index on
        the page, the units a hold of the items would take beyond its on hand, its rows as
        `held_level`): its promises are those a hold of the items commits (`_on_the_way`).

        The locations are put in order of distance, rank and id first (their flags and points are
        all it takes), and their stock is weighed in that order until `limit` complete ones are
        found: the complete ones come first whatever the rest holds, so the locations after them
        cannot change the page. Rows are looked at and messages built only for the locations weighed.
        The page is made in `into` when given (the answer's field: not copied into it afterwards).
        `ranking`: the order of every location `places` draws from (`StockView.ranking`), when kept."""
        clock = clock or now()
        waiting = [] if waiting is None else waiting
        chosen = channel_of(request.channel)
        definitions = definitions or {}
        near = Point(request.near.latitude, request.near.longitude) if request.HasField("near") else None
        flag = METHOD_FLAGS[request.method] if request.method else None
        if ranking is None:
            order = rank(places, near, flag, request.radius_km, places if only is None else places.keys() & only)
        else:  # every location's, in the same order: those with rows here (and in the group) kept
            order = [ranked for ranked in ranking if ranked[2] in places and (only is None or ranked[2] in only)]
        parts = parts_of(definitions)
        # The plain units the items take together, as a hold takes them: a set's components merged
        # with the same SKUs asked alone (and with other sets sharing them).
        needed = expand(wanted, definitions)
        complete: list[_Weighed] = []
        partial: list[_Weighed] = []
        for rounded, _, location_id in order:
            here = rows_at(location_id)
            use_safety_stock = may_use_safety_stock(chosen, request.selling_location_id, location_id)
            pools_here = at(pools, location_id)
            can = {}
            # What of it is on the shelf, where a SKU that allows backorder counts incoming units or
            # the channel's pool units in transit on transfers: those are not ready for pickup now.
            shelf = {}
            for row in here:
                sku, counters, backorder = facts(row)
                can[sku] = channel_available(
                    counters, pools_here, use_safety_stock=use_safety_stock, backorder=backorder
                )[0]
                if backorder or counters.in_transit:
                    shelf[sku] = channel_available(
                        counters,
                        pools_here,
                        use_safety_stock=use_safety_stock,
                        backorder=False,
                        sold_now=True,
                    )[0]
            on_shelf = {**can, **shelf}
            fits = all(can.get(sku, 0) >= units for sku, units in needed.items())
            for sku, components in definitions.items():  # a bundle: as many as its components allow
                can[sku] = bundle_available(components, can)
                on_shelf[sku] = bundle_available(components, on_shelf)
            can = {sku: units for sku, units in can.items() if sku in wanted}
            # The SKUs asked and the sets' components: a set arrives when its components do.
            on_shelf = {sku: units for sku, units in on_shelf.items() if sku in wanted or sku in parts}
            if not any(units > 0 for units in can.values()):
                continue
            if fits:
                # Every item only by counting units on their way: promised as a hold of them commits.
                held = None
                # (`on_shelf` keeps the sets' parts, so every SKU the items need is still in it.)
                if any(on_shelf.get(sku, 0) < units for sku, units in needed.items()):
                    levels = [held_level(row) for row in here]
                    held = (beyond_shelf(levels, wanted, definitions), levels)
                complete.append((rounded, places[location_id], here, on_shelf, held))
                if len(complete) == limit:
                    break
            elif not request.complete_only and len(partial) < limit:
                partial.append((rounded, places[location_id], here, on_shelf, None))
        page = [(True, *entry) for entry in complete] + [(False, *entry) for entry in partial[: limit - len(complete)]]
        answers = pb.FindAvailabilityResponse().locations if into is None else into
        for is_complete, rounded, place, here, on_shelf, held in page:
            location = self.view.location_message(place)
            answer = answers.add(distance_km=rounded, complete=is_complete)
            answer.location.CopyFrom(location)  # cheaper than giving it to `add`
            if definitions:
                answer.levels.extend(
                    with_bundles(
                        wanted.keys(),
                        definitions,
                        self._levels(here, request.channel, request.selling_location_id, pools),
                    )
                )
            else:
                self._levels(here, request.channel, request.selling_location_id, pools, into=answer.levels)
            if held is not None:  # its promises are those of a hold of the items (`_on_the_way`)
                if location.pickup or location.ships:
                    waiting.append((len(answers) - 1, *held))  # this answer, the last made
            else:
                incoming = {row["sku"]: (row["incoming"], row["next_incoming_at"]) for row in here}
                question = PromiseQuestion(
                    wanted=wanted, can=on_shelf, incoming=incoming, region=request.ship_to_region, sets=definitions
                )
                self.view.promises.add_to(answer, location, question, now=clock)
        return answers

    async def list_movements(self, request: pb.ListMovementsRequest) -> pb.ListMovementsResponse:
        check = Validator()
        check.identifier("location_id", request.location_id, required=False)
        check.identifier("sku", request.sku, required=False)
        limit = check.page_size("page_size", request.page_size)
        token = key_after(request.page_token)
        after_id = whole_number(token) if token else 0
        check.check(after_id is not None, "page_token", "is not a token this service issued")
        since = check.timestamp("since", request.since) if request.HasField("since") else None
        until = check.timestamp("until", request.until) if request.HasField("until") else None
        check.raise_if_invalid()
        # Who acted and under which request ids: a location's own records, for its staff only.
        location_ids = visible_locations(request.location_id)
        await listing.ensure_known(self.db.pool, location_id=request.location_id, sku=request.sku)
        rows = await repository.list_movements(
            self.db.pool,
            location_ids=location_ids,
            sku=request.sku,
            since=since,
            until=until,
            after_id=after_id or 0,
            limit=limit + 1,
        )
        page = rows[:limit]
        return pb.ListMovementsResponse(
            movements=[messages.movement(row) for row in page],
            next_page_token=key_token(str(page[-1]["movement_id"])) if len(rows) > limit else "",
        )


# A location FindAvailability weighed: its distance, place, rows, what is on the shelf for the
# channel, and for one that has every item only by counting units on their way, what a hold of them
# takes beyond on hand and its rows as `held_level`.
_Weighed: TypeAlias = tuple[
    float, Any, Sequence[Row], dict[str, int], tuple[dict[str, int], list[pb.StockLevel]] | None
]

_PICKUP_KINDS = (
    common_pb2.PROMISE_KIND_PICKUP,
    common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER,
    common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT,
)


def _kind_name(location: pb.Location) -> str:
    """The location's kind as stored, by which the settings' lead times are keyed ("warehouse", "store")."""
    return messages.KINDS.get(location.kind, "")


def hold_awaits(
    location_id: str, beyond: Mapping[str, int], levels: Sequence[pb.StockLevel], transfers: Iterable[pb.Transfer]
) -> Awaited | None:
    """What a hold of the items at the location waits for, given the units it takes beyond on hand
    (`beyond`: `promise_messages.beyond_shelf` of the rows before it, `levels`) and the shipped
    transfers there: `promise_messages.awaited_once_held`, the rule a reservation applies to the
    rows after its hold. None: every unit is on the shelf."""
    return awaited(location_id, beyond, levels, transfers) if beyond else None


def in_transit_for(beyond: Mapping[str, int], levels: Sequence[pb.StockLevel]) -> bool:
    """Could a shipped transfer bring some of the units `beyond` on hand: has one of their rows units
    in transit a channel may be promised? (Only then are the transfers worth reading.)"""
    return any(level.sku in beyond and level.in_transit > level.in_transit_reserved for level in levels)


def held_level(row: Row) -> pb.StockLevel:
    """A row's units on hand, held, announced and in transit, as `promise_messages.beyond_shelf` and
    `awaited` read them (the levels a reservation reads)."""
    level = pb.StockLevel(
        location_id=row["location_id"],
        sku=row["sku"],
        on_hand=row["on_hand"],
        held=row["held"],
        incoming=row["incoming"],
        in_transit=row.get("in_transit") or 0,
        in_transit_reserved=row.get("in_transit_reserved") or 0,
    )
    messages.set_timestamp(level.next_incoming_at, row["next_incoming_at"])
    return level


def parts_of(definitions: Mapping[str, Components]) -> set[str]:
    """The component SKUs of the given bundles."""
    return {part for components in definitions.values() for part in components}


def with_bundles(
    asked: Iterable[str], definitions: Mapping[str, Components], levels: list[pb.StockLevel]
) -> list[pb.StockLevel]:
    """The levels of the SKUs asked for, by SKU then location: a bundle's composed from its
    components' `levels`, a component's own only when it was asked for itself."""
    if not definitions:
        return levels
    wanted = set(asked)
    shown = [level for level in levels if level.sku in wanted]
    for sku, components in definitions.items():
        shown.extend(bundle_levels(sku, components, levels))
    return sorted(shown, key=lambda level: (level.sku, level.location_id))


def now() -> datetime:
    return datetime.now(UTC)


MAX_TOKEN = 2**63


def consistency_token(check: Validator, token: str) -> int | None:
    """A read's min_consistency_token as a change number; None when it gives none."""
    if not token:
        return None
    number = whole_number(token, MAX_TOKEN - 1)
    check.check(number is not None, "min_consistency_token", "is not a token this service issued")
    return number


def facts(row: Row) -> tuple[str, Counters, bool]:
    """A row's SKU, counters and backorder flag (from the view, straight from its stock record)."""
    if isinstance(row, ViewRow):
        return row.stock["sku"], messages.counters(row.stock), row.backorder
    return row["sku"], messages.counters(row), row["allow_backorder"]


Answer = TypeVar("Answer", pb.GetStockResponse, pb.BatchGetStockResponse, pb.FindAvailabilityResponse)


def answered(response: Answer, fresh: Freshness | None, as_of: datetime | None) -> Answer:
    """The answer with what it reflects: the view's state, or the database's at `as_of`."""
    if fresh is not None:
        response.as_of.CopyFrom(fresh.as_of_message)
        response.consistency_token = fresh.token_text
    elif as_of is not None:
        messages.set_timestamp(response.as_of, as_of)
    return response
