"""Transfers between locations: draft, ship (units leave on hand at the origin and are in transit to
the destination), receive (with damaged, short and over booked explicitly) or cancel before shipping.

Each action runs in one transaction with its request id's claim and holds the transfer's row lock, so
two actions on one transfer never interleave. Shipping and receiving lock the stock rows they change in
the one lock order of holds (location, then SKU), and shipping checks each line with the availability
rule holds use: a shipment and a sale fighting for the last units cannot both have them.

A transfer moves physical units: a line naming a set (a bundle SKU) is expanded when the transfer is
created into the set's components (by the bundle definition, units per set times sets, merged with
plain lines of the same SKU), which are its lines; the set is kept on the transfer beside them and the
movements of its parts name it. A transfer with a hold owner (ship to store) keeps its units for that
owner from creation to receipt: held at the origin, then in transit, then held at the destination
(transfer_holds.py), its holds at both ends keeping its sets as sets.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import (
    bundle_repository,
    messages,
    repository,
    transfer_messages,
    transfer_repository,
)
from omnistock_inventory.domain.bundles import HoldBundle, expand_sets, whole_sets_arrived
from omnistock_inventory.domain.holds import LineKey
from omnistock_inventory.domain.stock import available
from omnistock_inventory.domain.transfers import (
    Arrival,
    TransferLine,
    TransferStatus,
    book_receipt,
    ensure_can,
    lead_days,
    lead_time,
    validate_draft,
)
from omnistock_inventory.service_layer import ledger, listing, transfer_holds, transit_promises
from omnistock_inventory.settings import InventorySettings
from omnistock_platform import telemetry
from omnistock_platform.auth import (
    Role,
    current_principal,
    require_any_location,
    require_location,
)
from omnistock_platform.db import Database
from omnistock_platform.errors import NotFound, PermissionDenied, Reason, Shortfall, ShortLine
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.logging import get_logger
from omnistock_platform.loops import repeat
from omnistock_platform.validation import MAX_QUANTITY, Validator, duration_text

MAX_NOTE = 500
log = get_logger(__name__)


def _ends(row: Any) -> list[str]:
    return [row["origin_location_id"], row["destination_location_id"]]


def _check_expanded(requested: Any, definitions: Any, units: dict[str, int]) -> None:
    """A set's line may not ask more of a component than one transfer line may carry."""
    check = Validator()
    for index, line in enumerate(requested):
        for part in definitions.get(line.sku, {}):
            check.check(
                units[part] <= MAX_QUANTITY,
                f"lines[{index}].quantity",
                f"{line.sku} would move {units[part]} of {part}, at most {MAX_QUANTITY}",
            )
    check.raise_if_invalid()


def _within_sets(row: Any, sku: str) -> str:
    """What a movement of a transfer's part says of the sets it belongs to: " (part of 2 SOFA-SET)"."""
    found = [f"{item['quantity']} {item['sku']}" for item in row["sets"] if sku in item["components"]]
    return f" (part of {', '.join(found)})" if found else ""


class Transfers:
    def __init__(
        self, db: Database, outbox: Outbox, idempotency: IdempotencyStore, settings: InventorySettings
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.settings = settings
        self.lead_pairs = lead_days(settings.transfer_lead_days)
        self.lead_by_kind = {
            "warehouse": settings.transfer_lead_days_from_warehouse,
            "store": settings.transfer_lead_days_from_store,
        }

    # -- reading ----------------------------------------------------------------------------------------

    async def _message(self, conn: asyncpg.Connection | asyncpg.Pool, row: Any) -> pb.Transfer:
        return transfer_messages.transfer(row, await transfer_repository.lines(conn, [row["transfer_id"]]))

    async def get(self, request: pb.GetTransferRequest) -> pb.GetTransferResponse:
        check = Validator()
        check.identifier("transfer_id", request.transfer_id)
        check.raise_if_invalid()
        row = await transfer_repository.get_transfer(self.db.pool, request.transfer_id)
        if row is None:
            raise NotFound("transfer", request.transfer_id, field="transfer_id")
        require_any_location(_ends(row), f"transfer {request.transfer_id}")
        return pb.GetTransferResponse(transfer=await self._message(self.db.pool, row))

    async def list_transfers(self, request: pb.ListTransfersRequest) -> pb.ListTransfersResponse:
        wanted = listing.filters(request, transfer_messages.STATUS_CODES)
        await listing.ensure_known(self.db.pool, location_id=request.location_id)
        rows = await transfer_repository.list_transfers(
            self.db.pool,
            location_ids=wanted.location_ids,
            status=wanted.status,
            after=wanted.after,
            limit=wanted.limit + 1,
        )
        page, following = listing.newest_first(rows, wanted.limit, "transfer_id")
        lines = await transfer_repository.lines(self.db.pool, [row["transfer_id"] for row in page])
        by_transfer: dict[str, list[Any]] = {}
        for line in lines:
            by_transfer.setdefault(line["transfer_id"], []).append(line)
        return pb.ListTransfersResponse(
            transfers=[transfer_messages.transfer(row, by_transfer.get(row["transfer_id"], [])) for row in page],
            next_page_token=following,
        )

    # -- changing ---------------------------------------------------------------------------------------

    async def _announce(self, conn: asyncpg.Connection, row: Any, event: str) -> pb.Transfer:
        message = await self._message(conn, row)
        await self.outbox.add(conn, event, pb.TransferChanged(transfer=message))
        return message

    async def _locked(self, conn: asyncpg.Connection, transfer_id: str) -> Any:
        row = await transfer_repository.get_transfer(conn, transfer_id, lock=True)
        if row is None:
            raise NotFound("transfer", transfer_id, field="transfer_id")
        return row

    @staticmethod
    def _validate_change(request: Any) -> Validator:
        check = Validator()
        check.identifier("transfer_id", request.transfer_id)
        return check

    async def create(self, request: pb.CreateTransferRequest) -> pb.CreateTransferResponse:
        check = Validator()
        check.identifier("origin_location_id", request.origin_location_id)
        check.identifier("destination_location_id", request.destination_location_id)
        for index, line in enumerate(request.lines[:500]):
            check.identifier(f"lines[{index}].sku", line.sku)
            check.quantity(f"lines[{index}].quantity", line.quantity)
        expected = check.timestamp(
            "expected_arrival_at", request.expected_arrival_at if request.HasField("expected_arrival_at") else None
        )
        check.ahead("expected_arrival_at", expected)
        check.text("note", request.note, max_length=MAX_NOTE)
        check.text("hold_owner", request.hold_owner, max_length=200)
        hold_for = check.duration("hold_for", request.hold_for) if request.HasField("hold_for") else None
        check.check(
            hold_for is None or (bool(request.hold_owner) and timedelta(0) <= hold_for <= self.settings.hold_max_ttl),
            "hold_for",
            f"only with hold_owner, at most {duration_text(self.settings.hold_max_ttl)}",
        )
        check.raise_if_invalid()
        if request.hold_owner and current_principal().role not in (Role.SERVICE, Role.ADMIN):
            # Holding for someone is what reservations do (as a service), not what staff do by hand.
            raise PermissionDenied(
                "only services hold a transfer's units for an owner", reason=Reason.ACTION_NOT_ALLOWED
            )
        lines = validate_draft(
            request.origin_location_id,
            request.destination_location_id,
            [TransferLine(line.sku, line.quantity) for line in request.lines],
        )
        # Either end may ask for a transfer: the store that runs short, or the warehouse that sends.
        require_any_location(
            [request.origin_location_id, request.destination_location_id], "a transfer between these locations"
        )

        async def work(conn: asyncpg.Connection) -> pb.CreateTransferResponse:
            ends: dict[str, Any] = {}
            for field in ("origin_location_id", "destination_location_id"):
                ends[field] = await repository.get_location(conn, getattr(request, field))
                if ends[field] is None:
                    raise NotFound("location", getattr(request, field), field=field)
            known = {row["sku"] for row in await repository.get_skus(conn, [line.sku for line in lines])}
            for index, line in enumerate(request.lines):
                if line.sku not in known:
                    raise NotFound("sku", line.sku, field=f"lines[{index}].sku")
            transfer_id = str(uuid.uuid4())
            arrival = expected
            hold_id = ""
            held_for = hold_for or self.settings.hold_default_ttl
            # A set moves as its components: its line becomes their units, and the set is kept beside them.
            definitions = await bundle_repository.definitions(conn, [line.sku for line in lines])
            units, sets = expand_sets(
                request.origin_location_id, [(line.sku, line.quantity) for line in lines], definitions
            )
            carried = lines
            if sets:
                _check_expanded(request.lines, definitions, units)
                carried = validate_draft(
                    request.origin_location_id,
                    request.destination_location_id,
                    [TransferLine(sku, quantity) for sku, quantity in units.items()],
                )
            if request.hold_owner:
                now = datetime.now(UTC)
                arrival = arrival or now + lead_time(
                    request.origin_location_id,
                    ends["origin_location_id"]["kind"],
                    request.destination_location_id,
                    self.lead_pairs,
                    self.lead_by_kind,
                )
                # Kept at the origin until the units could have arrived and waited their time there.
                expires_at = min(max(arrival, now) + held_for, now + self.settings.hold_max_ttl)
                await transfer_repository.ensure_rows(
                    conn, [LineKey(request.origin_location_id, line.sku) for line in carried]
                )
                hold_id = await transfer_holds.hold_at_origin(
                    conn,
                    self.outbox,
                    request.hold_owner,
                    request.origin_location_id,
                    [(line.sku, line.quantity) for line in carried],
                    expires_at,
                    f"transfer:{transfer_id}",
                    sets,
                )
            row = await transfer_repository.insert_transfer(
                conn,
                transfer_id=transfer_id,
                origin_id=request.origin_location_id,
                destination_id=request.destination_location_id,
                lines=carried,
                expected_arrival_at=arrival,
                note=request.note,
                created_by=current_principal().subject,
                hold_owner=request.hold_owner,
                origin_hold_id=hold_id,
                hold_for=held_for if request.hold_owner else timedelta(0),
                sets=sets,
            )
            return pb.CreateTransferResponse(transfer=await self._announce(conn, row, "transfer.created"))

        return await self.idempotency.run(
            self.db, "CreateTransfer", request.request_id, request, pb.CreateTransferResponse, work
        )

    async def ship(self, request: pb.ShipTransferRequest) -> pb.ShipTransferResponse:
        self._validate_change(request).raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.ShipTransferResponse:
            transfer = await self._locked(conn, request.transfer_id)
            transfer_id, origin, destination = transfer["transfer_id"], *_ends(transfer)
            require_location(origin, f"transfer {transfer_id} from location")
            ensure_can("ship", TransferStatus(transfer["status"]), transfer_id)
            lines = await transfer_repository.lines(conn, [transfer_id])
            outs = [LineKey(origin, line["sku"]) for line in lines]
            ins = [LineKey(destination, line["sku"]) for line in lines]
            hold_id = transfer["origin_hold_id"]
            if hold_id:  # the hold row before the stock rows, as holds settle
                wanted = {key: line["quantity"] for key, line in zip(outs, lines, strict=True)}
                await transfer_holds.lock_origin_hold(conn, hold_id, transfer_id, wanted)
            await transfer_repository.ensure_rows(conn, outs + ins)
            rows = await transfer_repository.lock_rows(conn, outs + ins)
            short = []
            for key, line in zip(outs, lines, strict=True):
                if hold_id:
                    continue  # the hold keeps exactly these units for the transfer

                can = available(messages.counters(rows[key]), use_safety_stock=True)
                if can < line["quantity"]:
                    short.append(ShortLine(origin, line["sku"], line["quantity"], can))
            if short:
                raise Shortfall(short)
            backorder = await self._backorder(conn, [line["sku"] for line in lines])
            document = f"transfer:{transfer_id}"
            for out, into, line in zip(outs, ins, lines, strict=True):
                quantity, sku = line["quantity"], line["sku"]
                if hold_id:
                    await transfer_holds.ship_held(
                        conn,
                        self.outbox,
                        hold_id,
                        out,
                        quantity,
                        f"shipped to {destination}{_within_sets(transfer, sku)}",
                        document,
                        backorder[sku],
                    )
                else:
                    taken = await transfer_repository.take_on_hand(conn, out, quantity)
                    assert taken is not None, f"{out} was locked and checked, and still could not ship {quantity}"
                    await ledger.record(
                        conn,
                        self.outbox,
                        taken,
                        kind="transfer_out",
                        on_hand_delta=-quantity,
                        reason=f"shipped to {destination}{_within_sets(transfer, sku)}",
                        document_ref=document,
                        backorder=backorder[sku],
                    )
                arriving = await transfer_repository.change_transit(
                    conn, into, in_transit=quantity, reserved=bool(transfer["hold_owner"])
                )
                await ledger.record(
                    conn,
                    self.outbox,
                    arriving,
                    kind="transfer_in_transit",
                    reason=f"{quantity} in transit from {origin}{_within_sets(transfer, sku)}",
                    document_ref=document,
                    backorder=backorder[sku],
                )
            if hold_id:
                await transfer_holds.settle_shipped(
                    conn, self.outbox, hold_id, [(key, line["quantity"]) for key, line in zip(outs, lines, strict=True)]
                )
            shipped = await transfer_repository.set_status(
                conn, transfer_id, TransferStatus.SHIPPED.value, by=current_principal().subject
            )
            movements = await transfer_repository.movements_of(
                conn, transfer_id, outs + ins, ["transfer_out", "transfer_in_transit"]
            )
            return pb.ShipTransferResponse(
                transfer=await self._announce(conn, shipped, "transfer.shipped"),
                movements=[messages.movement(movement) for movement in movements],
            )

        return await self.idempotency.run(
            self.db, "ShipTransfer", request.request_id, request, pb.ShipTransferResponse, work
        )

    async def receive(self, request: pb.ReceiveTransferRequest) -> pb.ReceiveTransferResponse:
        check = self._validate_change(request)
        check.check(len(request.lines) <= 500, "lines", "at most 500 lines per transfer")
        for index, arrival in enumerate(request.lines[:500]):
            check.identifier(f"lines[{index}].sku", arrival.sku)
            check.non_negative(f"lines[{index}].received", arrival.received, maximum=MAX_QUANTITY)
            check.non_negative(f"lines[{index}].damaged", arrival.damaged, maximum=MAX_QUANTITY)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.ReceiveTransferResponse:
            transfer = await self._locked(conn, request.transfer_id)
            transfer_id, origin, destination = transfer["transfer_id"], *_ends(transfer)
            require_location(destination, f"transfer {transfer_id} to location")
            ensure_can("receive", TransferStatus(transfer["status"]), transfer_id)
            lines = await transfer_repository.lines(conn, [transfer_id])
            receipts = book_receipt(
                {line["sku"]: line["quantity"] for line in lines},
                [Arrival(arrival.sku, arrival.received, arrival.damaged) for arrival in request.lines],
            )
            keys = [LineKey(destination, receipt.sku) for receipt in receipts]
            # A short line may give back a held set whole (transit_promises.shorten), moving its other
            # components' rows too: they are locked with the lines', in the one lock order.
            siblings = await bundle_repository.set_parts_held_with(conn, destination, [r.sku for r in receipts])
            locked = await transfer_repository.lock_rows(conn, sorted(set(keys) | set(siblings)))
            backorder = await self._backorder(conn, [receipt.sku for receipt in receipts])
            document = f"transfer:{transfer_id}"
            reserved = bool(transfer["hold_owner"])
            kept: dict[str, int] = {}
            kept_sets: list[HoldBundle] = []
            if reserved:  # what is held for the owner on arrival: its sets whole, its plain units
                sets = (
                    await bundle_repository.hold_bundles(conn, transfer["origin_hold_id"])
                    if transfer["origin_hold_id"]
                    else {}
                )
                kept, kept_sets = whole_sets_arrived(
                    destination,
                    sets.values(),
                    {receipt.sku: receipt.shipped for receipt in receipts},
                    {receipt.sku: receipt.received for receipt in receipts},
                )
            for key, receipt in zip(keys, receipts, strict=True):
                # Units that did not arrive may have been promised in transit: held never exceeds what exists.
                excess = transit_promises.excess_after_receipt(
                    locked[key],
                    received=receipt.received,
                    shipped=receipt.shipped,
                    reserved=reserved,
                    arrival_held=kept.get(receipt.sku, 0),
                    backorder=backorder[receipt.sku],
                )
                if excess:
                    # A set given back whole frees its other parts too: rows of later lines read afresh.
                    locked.update(
                        await transit_promises.shorten(
                            conn,
                            self.outbox,
                            key,
                            excess,
                            transfer_id=transfer_id,
                            reason=f"transfer {transfer_id} received {receipt.short} short, {receipt.damaged} damaged",
                        )
                    )
                row = await transfer_repository.change_transit(
                    conn, key, in_transit=-receipt.shipped, on_hand=receipt.received, reserved=reserved
                )
                await ledger.record(
                    conn,
                    self.outbox,
                    row,
                    kind="transfer_in",
                    on_hand_delta=receipt.received,
                    reason=(
                        f"received {receipt.received} of {receipt.shipped} from {origin}: damaged"
                        f" {receipt.damaged}, short {receipt.short}, over {receipt.over}"
                        f"{_within_sets(transfer, receipt.sku)}"
                    ),
                    document_ref=document,
                    backorder=backorder[receipt.sku],
                )
            await transfer_repository.close_lines(conn, transfer_id, receipts)
            received = await transfer_repository.set_status(
                conn, transfer_id, TransferStatus.RECEIVED.value, by=current_principal().subject
            )
            if transfer["hold_owner"]:
                # What arrived is held for its owner at once, in this transaction: never on sale in between.
                arrival_hold = await transfer_holds.hold_arrival(
                    conn,
                    self.outbox,
                    transfer["hold_owner"],
                    destination,
                    sorted(kept.items()),
                    received["received_at"] + transfer["hold_for"],
                    document,
                    kept_sets,
                )
                received = await transfer_repository.set_arrival_hold(conn, transfer_id, arrival_hold)
            movements = await transfer_repository.movements_of(conn, transfer_id, keys, ["transfer_in"])
            return pb.ReceiveTransferResponse(
                transfer=await self._announce(conn, received, "transfer.received"),
                movements=[messages.movement(movement) for movement in movements],
            )

        return await self.idempotency.run(
            self.db, "ReceiveTransfer", request.request_id, request, pb.ReceiveTransferResponse, work
        )

    async def cancel(self, request: pb.CancelTransferRequest) -> pb.CancelTransferResponse:
        check = self._validate_change(request)
        check.text("reason", request.reason, max_length=MAX_NOTE)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.CancelTransferResponse:
            transfer = await self._locked(conn, request.transfer_id)
            require_location(transfer["origin_location_id"], f"transfer {transfer['transfer_id']} from location")
            status = TransferStatus(transfer["status"])
            if status is TransferStatus.CANCELLED:
                return pb.CancelTransferResponse(transfer=await self._message(conn, transfer))
            ensure_can("cancel", status, transfer["transfer_id"])
            if transfer["origin_hold_id"]:
                await transfer_holds.release_origin(
                    conn,
                    self.outbox,
                    transfer["origin_hold_id"],
                    f"transfer {transfer['transfer_id']} cancelled: {request.reason}".rstrip(": "),
                )
            cancelled = await transfer_repository.set_status(
                conn,
                transfer["transfer_id"],
                TransferStatus.CANCELLED.value,
                by=current_principal().subject,
                cancel_reason=request.reason,
            )
            return pb.CancelTransferResponse(transfer=await self._announce(conn, cancelled, "transfer.cancelled"))

        return await self.idempotency.run(
            self.db, "CancelTransfer", request.request_id, request, pb.CancelTransferResponse, work
        )

    # -- abandoned ship-to-store drafts ---------------------------------------------------------------

    async def cancel_abandoned(self, batch: int = 100) -> int:
        """Cancel draft transfers whose origin hold expired: their units are no longer kept at the
        origin, so they could never ship as promised. Each gets `transfer.cancelled` (the reservation
        waiting for it follows that event as when staff cancel it). Returns how many were cancelled."""
        async with self.db.transaction() as conn:
            drafts = await transfer_repository.abandoned_drafts(conn, batch)
            for draft in drafts:
                with telemetry.internal("cancel abandoned transfer", {"omnistock.transfer_id": draft["transfer_id"]}):
                    cancelled = await transfer_repository.set_status(
                        conn,
                        draft["transfer_id"],
                        TransferStatus.CANCELLED.value,
                        by="inventory",
                        cancel_reason=f"origin hold {draft['origin_hold_id']} expired before shipping",
                    )
                    await self._announce(conn, cancelled, "transfer.cancelled")
        return len(drafts)

    # -- overdue transfers ----------------------------------------------------------------------------

    async def announce_overdue(self, batch: int = 100) -> int:
        """Announce shipped transfers past their expected arrival, not received: `transfer.overdue`,
        once each, in the transaction that marks them. Reservations and orders promised from such a
        transfer's arrival promise again from now (docs/transfers.md). Returns how many."""
        async with self.db.transaction() as conn:
            late = await transfer_repository.mark_overdue(conn, batch)
            for row in late:
                with telemetry.internal("announce overdue transfer", {"omnistock.transfer_id": row["transfer_id"]}):
                    await self._announce(conn, row, "transfer.overdue")
        return len(late)

    async def sweep(self, stop: asyncio.Event) -> None:
        """Draft transfers left behind by an expired origin hold are cancelled by inventory itself, and
        shipped transfers that passed their expected arrival are announced overdue."""
        telemetry.service_var.set("inventory")

        async def cancel_round() -> bool:
            cancelled = await self.cancel_abandoned()
            if cancelled:
                log.info("transfers.abandoned_cancelled", count=cancelled)
            overdue = await self.announce_overdue()
            if overdue:
                log.info("transfers.overdue_announced", count=overdue)
            return cancelled > 0 or overdue > 0

        await repeat(stop, self.settings.sweep_interval.total_seconds(), cancel_round, failed="transfers.sweep_failed")

    @staticmethod
    async def _backorder(conn: asyncpg.Connection, skus: list[str]) -> dict[str, bool]:
        return {row["sku"]: bool(row["allow_backorder"]) for row in await repository.get_skus(conn, skus)}
