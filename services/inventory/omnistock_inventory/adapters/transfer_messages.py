"""Transfers and their lines as contract messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters.messages import timestamp
from omnistock_inventory.domain.transfers import TransferStatus

STATUSES = {
    TransferStatus.DRAFT: pb.TRANSFER_STATUS_DRAFT,
    TransferStatus.SHIPPED: pb.TRANSFER_STATUS_SHIPPED,
    TransferStatus.RECEIVED: pb.TRANSFER_STATUS_RECEIVED,
    TransferStatus.CANCELLED: pb.TRANSFER_STATUS_CANCELLED,
}
STATUS_CODES = {code: status for status, code in STATUSES.items()}


def line(row: Any) -> pb.TransferLine:
    return pb.TransferLine(
        sku=row["sku"],
        quantity=row["quantity"],
        received=row["received"],
        damaged=row["damaged"],
        short=row["short"],
        over=row["over"],
    )


def transfer(row: Any, lines: Sequence[Any]) -> pb.Transfer:
    status = TransferStatus(row["status"])
    return pb.Transfer(
        transfer_id=row["transfer_id"],
        origin_location_id=row["origin_location_id"],
        destination_location_id=row["destination_location_id"],
        status=STATUSES[status],
        lines=[line(each) for each in lines],
        expected_arrival_at=timestamp(row["expected_arrival_at"]),
        note=row["note"],
        created_by=row["created_by"],
        created_at=timestamp(row["created_at"]),
        shipped_at=timestamp(row["shipped_at"]),
        received_at=timestamp(row["received_at"]),
        cancelled_at=timestamp(row["cancelled_at"]),
        cancel_reason=row["cancel_reason"],
        units_in_transit=sum(each["quantity"] for each in lines) if status is TransferStatus.SHIPPED else 0,
        hold_owner=row["hold_owner"],
        origin_hold_id=row["origin_hold_id"],
        arrival_hold_id=row["arrival_hold_id"],
        sets=[
            pb.TransferSet(
                sku=item["sku"],
                quantity=item["quantity"],
                components=[
                    pb.BundleComponent(sku=part, quantity=per_set) for part, per_set in item["components"].items()
                ],
            )
            for item in row["sets"]
        ],
    )
