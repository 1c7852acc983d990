"""SQL of returns, module functions taking the connection the service layer hands in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from omnistock_orders.domain.returns import Return, ReturnLine, ReturnSet, ReturnStatus

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool
# (created_at, return_id) of the last return of a page: newest first.
Cursor: TypeAlias = tuple[datetime, str]


def _line_json(line: ReturnLine) -> dict[str, Any]:
    return {
        "sku": line.sku,
        "quantity": line.quantity,
        "restocked": line.restocked,
        "damaged": line.damaged,
        "written_off": line.written_off,
    }


def _set_json(found: ReturnSet) -> dict[str, Any]:
    return {
        "sku": found.sku,
        "quantity": found.quantity,
        "components": [[part, per_set] for part, per_set in found.components],
        "restocked": found.restocked,
        "damaged": found.damaged,
        "written_off": found.written_off,
    }


def _set(data: dict[str, Any]) -> ReturnSet:
    return ReturnSet(
        sku=str(data["sku"]),
        quantity=int(data["quantity"]),
        components=tuple((str(part), int(per_set)) for part, per_set in data["components"]),
        restocked=int(data.get("restocked", 0)),
        damaged=int(data.get("damaged", 0)),
        written_off=int(data.get("written_off", 0)),
    )


def _return(row: asyncpg.Record) -> Return:
    return Return(
        return_id=row["return_id"],
        order_id=row["order_id"],
        channel=row["channel"],
        customer_id=row["customer_id"],
        location_id=row["location_id"],
        by_post=row["by_post"],
        reason=row["reason"],
        status=ReturnStatus(row["status"]),
        lines=tuple(
            ReturnLine(
                sku=str(line["sku"]),
                quantity=int(line["quantity"]),
                restocked=int(line.get("restocked", 0)),
                damaged=int(line.get("damaged", 0)),
                written_off=int(line.get("written_off", 0)),
            )
            for line in row["lines"]
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        received_at=row["received_at"],
        received_by=row["received_by"],
        cancel_reason=row["cancel_reason"],
        sets=tuple(_set(found) for found in row["sets"]),
    )


async def insert(conn: asyncpg.Connection, found: Return) -> Return:
    row = await conn.fetchrow(
        """
        INSERT INTO orders.returns (return_id, order_id, channel, customer_id, location_id, by_post, reason,
            status, lines, sets, received_by, cancel_reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', '') RETURNING *
        """,
        found.return_id,
        found.order_id,
        found.channel,
        found.customer_id,
        found.location_id,
        found.by_post,
        found.reason,
        found.status.value,
        [_line_json(line) for line in found.lines],
        [_set_json(item) for item in found.sets],
    )
    return _return(row)


async def get(conn: Connection, return_id: str, *, lock: bool = False) -> Return | None:
    row = await conn.fetchrow(
        f"SELECT * FROM orders.returns WHERE return_id = $1{' FOR UPDATE' if lock else ''}", return_id
    )
    return _return(row) if row is not None else None


async def of_order(conn: Connection, order_id: str) -> list[Return]:
    rows = await conn.fetch("SELECT * FROM orders.returns WHERE order_id = $1 ORDER BY created_at, return_id", order_id)
    return [_return(row) for row in rows]


async def save(conn: asyncpg.Connection, found: Return) -> Return:
    row = await conn.fetchrow(
        """
        UPDATE orders.returns SET status = $2, lines = $3, received_by = $4, received_at = $5,
            cancel_reason = $6, sets = $7, updated_at = clock_timestamp()
        WHERE return_id = $1 RETURNING *
        """,
        found.return_id,
        found.status.value,
        [_line_json(line) for line in found.lines],
        found.received_by,
        found.received_at,
        found.cancel_reason,
        [_set_json(item) for item in found.sets],
    )
    return _return(row)


async def page(
    conn: Connection,
    *,
    order_id: str = "",
    status: str = "",
    location_ids: Iterable[str] | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> list[Return]:
    """Newest first, by (created_at, return_id), so pages never skip or repeat a return."""
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if order_id:
        conditions.append(f"order_id = {arg(order_id)}")
    if status:
        conditions.append(f"status = {arg(status)}")
    if location_ids is not None:
        conditions.append(f"location_id = ANY({arg(sorted(location_ids))}::text[])")
    if after is not None:
        conditions.append(f"(created_at, return_id) < ({arg(after[0])}, {arg(after[1])})")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = await conn.fetch(
        f"SELECT * FROM orders.returns {where} ORDER BY created_at DESC, return_id DESC LIMIT {arg(limit)}", *args
    )
    return [_return(row) for row in rows]
