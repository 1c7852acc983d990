"""Every change of a stock row writes a movement and a stock.changed event, in
the same transaction, through this one function."""

from __future__ import annotations

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages, repository
from omnistock_platform.auth import current_principal
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.logging import request_id_var


async def record(
    conn: asyncpg.Connection,
    outbox: Outbox,
    row: asyncpg.Record,
    *,
    kind: str,
    on_hand_delta: int = 0,
    held_delta: int = 0,
    reason: str = "",
    hold_id: str = "",
    document_ref: str = "",
    backorder: bool = False,
) -> pb.StockLevel:
    """Returns the row's level as remote channels see it, as the event says."""
    await repository.add_movement(
        conn,
        row,
        kind=kind,
        on_hand_delta=on_hand_delta,
        held_delta=held_delta,
        reason=reason,
        hold_id=hold_id,
        actor=current_principal().subject,
        request_id=request_id_var.get(),
        document_ref=document_ref,
    )
    level = messages.stock_level(row, backorder=backorder)
    event = pb.StockChanged(level=level, cause=messages.MOVEMENT_KINDS[kind], hold_id=hold_id)
    await outbox.add(conn, "stock.changed", event)
    return level
