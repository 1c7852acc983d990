"""Transfers between locations: draft, ship (units leave on hand at the origin and are in transit to
the destination), receive (with damaged, short and over booked explicitly) or cancel before shipping.

Each action runs in one transaction with its request id's claim and holds the transfer's row lock, so
two actions on one transfer never interleave. Shipping and receiving lock the stock rows they change in
the one lock order of holds (location, then SKU), and shipping checks each line with the availability
rule holds use: a shipment and a sale fighting for the last units cannot both have them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages, repository, transfer_messages, transfer_repository
from omnistock_inventory.domain.holds import LineKey
from omnistock_inventory.domain.stock import available
from omnistock_inventory.domain.transfers import (
    Arrival,
    TransferLine,
    TransferStatus,
    book_receipt,
    ensure_can,
    validate_draft,
)
from omnistock_inventory.service_layer import ledger
from omnistock_inventory.service_layer.catalogue import decode_token, encode_token
from omnistock_platform.auth import current_principal, require_any_location, require_location, visible_locations
from omnistock_platform.db import Database
from omnistock_platform.errors import InvalidArgument, NotFound, Shortfall, ShortLine
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.validation import MAX_QUANTITY, Validator

MAX_NOTE = 500


def _encode_cursor(row: Any) -> str:
    return encode_token(f"{row['created_at'].isoformat()}|{row['transfer_id']}")


def _decode_cursor(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    stamp, _, transfer_id = decode_token(token).partition("|")
    try:
        return datetime.fromisoformat(stamp), transfer_id
    except ValueError as error:
        raise InvalidArgument.of("page_token", "is not a token this service issued") from error


def _ends(row: Any) -> list[str]:
    return [row["origin_location_id"], row["destination_location_id"]]


class Transfers:
    def __init__(self, db: Database, outbox: Outbox, idempotency: IdempotencyStore) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency

    # -- reading ----------------------------------------------------------------------------------------

    async def _message(self, conn: asyncpg.Connection | asyncpg.Pool, row: Any) -> pb.Transfer:
        return transfer_messages.transfer(row, await transfer_repository.lines(conn, [row["transfer_id"]]))

    async def get(self, request: pb.GetTransferRequest) -> pb.GetTransferResponse:
        check = Validator()
        check.text("transfer_id", request.transfer_id, required=True, max_length=64)
        check.raise_if_invalid()
        row = await transfer_repository.get_transfer(self.db.pool, request.transfer_id)
        if row is None:
            raise NotFound("transfer", request.transfer_id, field="transfer_id")
        require_any_location(_ends(row), f"transfer {request.transfer_id}")
        return pb.GetTransferResponse(transfer=await self._message(self.db.pool, row))

    async def list_transfers(self, request: pb.ListTransfersRequest) -> pb.ListTransfersResponse:
        check = Validator()
        check.identifier("location_id", request.location_id, required=False)
        check.check(request.status == 0 or request.status in transfer_messages.STATUS_CODES, "status", "unknown value")
        limit = check.page_size("page_size", request.page_size)
        check.raise_if_invalid()
        after = _decode_cursor(request.page_token)
        rows = await transfer_repository.list_transfers(
            self.db.pool,
            location_ids=visible_locations(request.location_id),
            status=transfer_messages.STATUS_CODES[request.status].value if request.status else "",
            after=after,
            limit=limit + 1,
        )
        page = rows[:limit]
        lines = await transfer_repository.lines(self.db.pool, [row["transfer_id"] for row in page])
        by_transfer: dict[str, list[Any]] = {}
        for line in lines:
            by_transfer.setdefault(line["transfer_id"], []).append(line)
        return pb.ListTransfersResponse(
            transfers=[transfer_messages.transfer(row, by_transfer.get(row["transfer_id"], [])) for row in page],
            next_page_token=_encode_cursor(page[-1]) if len(rows) > limit else "",
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
        check.text("transfer_id", request.transfer_id, required=True, max_length=64)
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
        check.text("note", request.note, max_length=MAX_NOTE)
        check.raise_if_invalid()
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
            for field in ("origin_location_id", "destination_location_id"):
                if await repository.get_location(conn, getattr(request, field)) is None:
                    raise NotFound("location", getattr(request, field), field=field)
            known = {row["sku"] for row in await repository.get_skus(conn, [line.sku for line in lines])}
            for index, line in enumerate(request.lines):
                if line.sku not in known:
                    raise NotFound("sku", line.sku, field=f"lines[{index}].sku")
            row = await transfer_repository.insert_transfer(
                conn,
                transfer_id=str(uuid.uuid4()),
                origin_id=request.origin_location_id,
                destination_id=request.destination_location_id,
                lines=lines,
                expected_arrival_at=expected,
                note=request.note,
                created_by=current_principal().subject,
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
            await transfer_repository.ensure_rows(conn, outs + ins)
            rows = await transfer_repository.lock_rows(conn, outs + ins)
            short = []
            for key, line in zip(outs, lines, strict=True):
                can = available(messages.counters(rows[key]), use_safety_stock=True)
                if can < line["quantity"]:
                    short.append(ShortLine(origin, line["sku"], line["quantity"], can))
            if short:
                raise Shortfall(short)
            backorder = await self._backorder(conn, [line["sku"] for line in lines])
            document = f"transfer:{transfer_id}"
            for out, into, line in zip(outs, ins, lines, strict=True):
                quantity, sku = line["quantity"], line["sku"]
                taken = await transfer_repository.take_on_hand(conn, out, quantity)
                assert taken is not None, f"{out} was locked and checked, and still could not ship {quantity}"
                await ledger.record(
                    conn,
                    self.outbox,
                    taken,
                    kind="transfer_out",
                    on_hand_delta=-quantity,
                    reason=f"shipped to {destination}",
                    document_ref=document,
                    backorder=backorder[sku],
                )
                arriving = await transfer_repository.change_transit(conn, into, in_transit=quantity)
                await ledger.record(
                    conn,
                    self.outbox,
                    arriving,
                    kind="transfer_in_transit",
                    reason=f"{quantity} in transit from {origin}",
                    document_ref=document,
                    backorder=backorder[sku],
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
            await transfer_repository.lock_rows(conn, keys)
            backorder = await self._backorder(conn, [receipt.sku for receipt in receipts])
            document = f"transfer:{transfer_id}"
            for key, receipt in zip(keys, receipts, strict=True):
                row = await transfer_repository.change_transit(
                    conn, key, in_transit=-receipt.shipped, on_hand=receipt.received
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
                    ),
                    document_ref=document,
                    backorder=backorder[receipt.sku],
                )
            await transfer_repository.close_lines(conn, transfer_id, receipts)
            received = await transfer_repository.set_status(
                conn, transfer_id, TransferStatus.RECEIVED.value, by=current_principal().subject
            )
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

    @staticmethod
    async def _backorder(conn: asyncpg.Connection, skus: list[str]) -> dict[str, bool]:
        return {row["sku"]: bool(row["allow_backorder"]) for row in await repository.get_skus(conn, skus)}
