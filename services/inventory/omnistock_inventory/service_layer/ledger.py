"""Every change of a stock row writes a movement and a stock.changed event, in
the same transaction, through this one function; a change that may have given units and left some
available writes stock.available too (the same payload), the subject a consumer waiting for stock
subscribes to instead of every hold's change. Holds and sales are written by `taking.write_taken`:
they take units, so they write stock.changed only."""

from __future__ import annotations

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages, repository
from omnistock_platform.auth import current_principal
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.logging import request_id_var
from omnistock_platform.statement import Statement

# Movements that only take units (held, sold, sent away): after them nothing more is available.
TAKES_ONLY = frozenset({"hold", "commit", "transfer", "transfer_out"})


def gives_units(kind: str, level: pb.StockLevel) -> bool:
    """Whether a change of this kind, leaving the row at `level`, is announced as stock.available."""
    return kind not in TAKES_ONLY and level.available > 0


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
    events = [outbox.prepare("stock.changed", event)]
    if gives_units(kind, level):
        events.append(outbox.prepare("stock.available", event))
    statement = Statement()
    outbox.add_many(statement, events)
    await statement.execute(conn)
    return level
