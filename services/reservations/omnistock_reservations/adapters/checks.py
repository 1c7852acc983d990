"""The reservations service's reader for the system's checks (omnistock_platform.invariants): what its schema says
for the rules that span services, read on the caller's connection so that it sees the same
instant as every other service's reader."""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from omnistock_platform.facts import Reservation
from omnistock_reservations.domain.status import HOLDING, Status


async def read(conn: asyncpg.Connection) -> dict[str, Reservation]:
    lines: dict[str, dict[str, int]] = defaultdict(dict)
    for row in await conn.fetch("SELECT reservation_id, sku, quantity FROM reservations.reservation_lines"):
        lines[row["reservation_id"]][row["sku"]] = int(row["quantity"])
    rows = await conn.fetch(
        "SELECT reservation_id, request_id, status, store_id, hold_id, order_id, created_at, updated_at,"
        " transfer_id FROM reservations.reservations"
    )
    return {row["reservation_id"]: _fact(row, lines[row["reservation_id"]]) for row in rows}


def _fact(row: asyncpg.Record, lines: dict[str, int]) -> Reservation:
    status = Status(row["status"])
    return Reservation(
        row["reservation_id"],
        row["request_id"],
        row["status"],
        row["store_id"],
        row["hold_id"],
        row["order_id"],
        lines,
        row["created_at"],
        row["updated_at"],
        row["transfer_id"],
        pending=status is Status.PENDING,
        holds_stock=status in HOLDING,
        awaiting_transfer=status is Status.AWAITING_TRANSFER,
        collected=status is Status.COLLECTED,
    )
