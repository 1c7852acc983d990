"""SQL of the orders schema, module functions taking the connection the service layer hands in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import asyncpg

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.domain.fulfilment_holds import FulfilmentHold
from omnistock_orders.domain.order import Allocation, AllocationStatus, Order, OrderLine, OrderSet, OrderStatus
from omnistock_orders.domain.routing import Method

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool
# (created_at, order_id) of the last order of a page: newest first.
Cursor: TypeAlias = tuple[datetime, str]


@dataclass(frozen=True)
class OrderRecord:
    """An order as stored: the domain order and what the rules do not need to know."""

    order: Order
    request_id: str
    channel: common_pb2.Channel.ValueType
    customer_id: str
    options: orders_pb2.RoutingOptions
    source: str
    ship_to: orders_pb2.Address | None = None
    store_id: str = ""
    reservation_id: str = ""
    currency: str = ""
    decision: orders_pb2.RoutingPlan | None = None
    attempt: int = 0
    pending_call: bytes | None = None
    cancel_reason: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Fulfilment holds, written by omnistock_orders.adapters.hold_repository (save leaves them be).
    holds: tuple[FulfilmentHold, ...] = ()

    @property
    def order_id(self) -> str:
        return self.order.order_id

    def with_order(self, order: Order) -> OrderRecord:
        return replace(self, order=order)

    def locations(self) -> set[str]:
        found = {a.location_id for a in self.order.allocations}
        return found | {self.store_id} if self.store_id else found


@dataclass(frozen=True)
class PendingCall:
    attempt: int
    call: bytes | None
    decision: orders_pb2.RoutingPlan | None
    status: OrderStatus


@dataclass(frozen=True)
class Reroute:
    attempt: int
    hold_request: bytes
    decision: orders_pb2.RoutingPlan


def _line_json(line: OrderLine) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "sku": line.sku,
        "quantity": line.quantity,
        "unit_price_minor": line.unit_price_minor,
        "currency": line.currency,
        "backordered": line.backordered,
        "cancelled": line.cancelled,
        "components": [[part, per_set] for part, per_set in line.components],
        "part_of": line.part_of,
    }


def set_json(split: OrderSet) -> dict[str, Any]:
    return {
        "sku": split.sku,
        "quantity": split.quantity,
        "unit_price_minor": split.unit_price_minor,
        "currency": split.currency,
        "components": [[part, per_set] for part, per_set in split.components],
    }


def _set(data: dict[str, Any]) -> OrderSet:
    return OrderSet(
        sku=str(data["sku"]),
        quantity=int(data["quantity"]),
        unit_price_minor=int(data.get("unit_price_minor", 0)),
        currency=str(data.get("currency", "")),
        components=tuple((str(part), int(per_set)) for part, per_set in data.get("components", ())),
    )


def _line(data: dict[str, Any]) -> OrderLine:
    return OrderLine(
        line_no=int(data["line_no"]),
        sku=str(data["sku"]),
        quantity=int(data["quantity"]),
        unit_price_minor=int(data.get("unit_price_minor", 0)),
        currency=str(data.get("currency", "")),
        backordered=int(data.get("backordered", 0)),
        cancelled=int(data.get("cancelled", 0)),
        components=tuple((str(part), int(per_set)) for part, per_set in data.get("components", ())),
        part_of=str(data.get("part_of", "")),
    )


def _allocation(row: asyncpg.Record) -> Allocation:
    return Allocation(
        allocation_id=row["allocation_id"],
        location_id=row["location_id"],
        hold_id=row["hold_id"],
        lines={str(sku): int(quantity) for sku, quantity in row["lines"].items()},
        status=AllocationStatus(row["status"]),
        distance_km=row["distance_km"],
    )


def _record(row: asyncpg.Record, allocations: Sequence[Allocation]) -> OrderRecord:
    order = Order(
        order_id=row["order_id"],
        method=Method(row["method"]),
        lines=tuple(_line(line) for line in row["lines"]),
        status=OrderStatus(row["status"]),
        allocations=tuple(allocations),
        sets=tuple(_set(split) for split in row["sets"]),
    )
    return OrderRecord(
        order=order,
        request_id=row["request_id"],
        channel=common_pb2.Channel.Value(row["channel"]),
        customer_id=row["customer_id"],
        options=orders_pb2.RoutingOptions.FromString(row["options"]),
        source=row["source"],
        ship_to=orders_pb2.Address.FromString(row["ship_to"]) if row["ship_to"] is not None else None,
        store_id=row["store_id"],
        reservation_id=row["reservation_id"],
        currency=row["currency"],
        decision=orders_pb2.RoutingPlan.FromString(row["decision"]) if row["decision"] is not None else None,
        attempt=row["attempt"],
        pending_call=bytes(row["pending_call"]) if row["pending_call"] is not None else None,
        cancel_reason=row["cancel_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        holds=tuple(FulfilmentHold.from_json(hold) for hold in row["fulfilment_holds"]),
    )


def _pending_call(row: asyncpg.Record) -> PendingCall:
    return PendingCall(
        attempt=row["attempt"],
        call=bytes(row["pending_call"]) if row["pending_call"] is not None else None,
        decision=orders_pb2.RoutingPlan.FromString(row["decision"]) if row["decision"] is not None else None,
        status=OrderStatus(row["status"]),
    )


async def insert_pending(
    conn: Connection, record: OrderRecord, fingerprint: bytes, claim: PendingCall | None = None
) -> bool:
    """Write a new PENDING order; False when its request id is already taken. With `claim`, the order
    is written with its first attempt already claimed (the call it will make, and its decision), as
    `claim_attempt` would record it: one statement instead of two."""
    order = record.order
    inserted = await conn.fetchval(
        """
        INSERT INTO orders.orders (order_id, request_id, fingerprint, channel, customer_id, method, ship_to,
            store_id, reservation_id, status, lines, total_minor, currency, options, source, attempt,
            cancel_reason, sets, pending_call, decision)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $17, '', $16, $18, $19)
        ON CONFLICT (request_id) DO NOTHING RETURNING true
        """,
        order.order_id,
        record.request_id,
        fingerprint,
        common_pb2.Channel.Name(record.channel),
        record.customer_id,
        order.method.value,
        record.ship_to.SerializeToString(deterministic=True) if record.ship_to is not None else None,
        record.store_id,
        record.reservation_id,
        order.status.value,
        [_line_json(line) for line in order.lines],
        order.total_minor,
        record.currency,
        record.options.SerializeToString(deterministic=True),
        record.source,
        [set_json(split) for split in order.sets],
        claim.attempt if claim is not None else 0,
        claim.call if claim is not None else None,
        claim.decision.SerializeToString(deterministic=True) if claim is not None and claim.decision else None,
    )
    return bool(inserted)


@asynccontextmanager
async def _one_moment(conn: Connection) -> AsyncIterator[asyncpg.Connection]:
    """An order is two reads (its row, then its allocations). Straight on the pool each would see the
    commits made before it, so a change committed between them was read half: a re-route's new
    allocations beside the decision from before it. One read-only snapshot serves both."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as own, own.transaction(isolation="repeatable_read", readonly=True):
            yield own
    else:
        yield conn


async def by_request_id(conn: Connection, request_id: str) -> tuple[OrderRecord, bytes] | None:
    async with _one_moment(conn) as reading:
        row = await reading.fetchrow("SELECT * FROM orders.orders WHERE request_id = $1", request_id)
        if row is None:
            return None
        allocations = await _allocations(reading, [row["order_id"]])
    return _record(row, allocations.get(row["order_id"], [])), bytes(row["fingerprint"])


async def get(conn: Connection, order_id: str, *, lock: bool = False) -> OrderRecord | None:
    query = "SELECT * FROM orders.orders WHERE order_id = $1" + (" FOR UPDATE" if lock else "")
    async with _one_moment(conn) as reading:
        row = await reading.fetchrow(query, order_id)
        if row is None:
            return None
        allocations = await _allocations(reading, [order_id])
    return _record(row, allocations.get(order_id, []))


async def lock_placing(conn: asyncpg.Connection, order_id: str) -> tuple[OrderStatus, int, datetime] | None:
    """Lock the order's row and answer its status, attempt and creation time (None when it is gone):
    while an order is PENDING nothing but its placement changes it, so the placement that holds this
    lock on its own attempt needs no more of the row than the record it already has."""
    row = await conn.fetchrow(
        "SELECT status, attempt, created_at FROM orders.orders WHERE order_id = $1 FOR UPDATE", order_id
    )
    return (OrderStatus(row["status"]), row["attempt"], row["created_at"]) if row is not None else None


async def _allocations(conn: Connection, order_ids: list[str]) -> dict[str, list[Allocation]]:
    rows = await conn.fetch(
        "SELECT * FROM orders.allocations WHERE order_id = ANY($1::text[]) ORDER BY order_id, seq", order_ids
    )
    found: dict[str, list[Allocation]] = {}
    for row in rows:
        found.setdefault(row["order_id"], []).append(_allocation(row))
    return found


async def claim_attempt(
    conn: Connection, order_id: str, attempt: int, call: bytes, decision: orders_pb2.RoutingPlan | None
) -> PendingCall | None:
    """Record the call attempt `attempt` will make, unless a later attempt is already recorded.
    Returns the attempt to make (this one or the later one), or None when the order is gone."""
    row = await conn.fetchrow(
        """
        UPDATE orders.orders SET attempt = $2, pending_call = $3, decision = $4, updated_at = clock_timestamp()
        WHERE order_id = $1 AND status = 'pending' AND attempt < $2
        RETURNING attempt, pending_call, decision, status
        """,
        order_id,
        attempt,
        call,
        decision.SerializeToString(deterministic=True) if decision is not None else None,
    )
    if row is not None:
        return _pending_call(row)
    # Not claimed: read the row afresh (a statement of its own sees what a concurrent attempt committed).
    return await pending_call(conn, order_id)


async def pending_call(conn: Connection, order_id: str) -> PendingCall | None:
    row = await conn.fetchrow(
        "SELECT attempt, pending_call, decision, status FROM orders.orders WHERE order_id = $1", order_id
    )
    return _pending_call(row) if row is not None else None


async def drop_pending(conn: Connection, order_id: str, attempt: int) -> bool:
    """Remove an order that never got its stock, unless another attempt has started meanwhile."""
    deleted = await conn.fetchval(
        "DELETE FROM orders.orders WHERE order_id = $1 AND status = 'pending' AND attempt = $2 RETURNING true",
        order_id,
        attempt,
    )
    return bool(deleted)


async def save(conn: asyncpg.Connection, record: OrderRecord) -> OrderRecord:
    """Write the order's status, lines, decision and allocations; returns it as stored."""
    order = record.order
    updated_at = await conn.fetchval(
        """
        UPDATE orders.orders SET status = $2, lines = $3, decision = $4, cancel_reason = $5,
            pending_call = CASE WHEN $2 = 'pending' THEN pending_call END, updated_at = clock_timestamp()
        WHERE order_id = $1 RETURNING updated_at
        """,
        order.order_id,
        order.status.value,
        [_line_json(line) for line in order.lines],
        record.decision.SerializeToString(deterministic=True) if record.decision is not None else None,
        record.cancel_reason,
    )
    if order.allocations:
        await conn.executemany(
            """
            INSERT INTO orders.allocations (allocation_id, order_id, seq, location_id, hold_id, lines, status,
                distance_km)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (allocation_id) DO UPDATE SET lines = EXCLUDED.lines, status = EXCLUDED.status
            """,
            [
                (
                    allocation.allocation_id,
                    order.order_id,
                    seq,
                    allocation.location_id,
                    allocation.hold_id,
                    dict(allocation.lines),
                    allocation.status.value,
                    allocation.distance_km,
                )
                for seq, allocation in enumerate(order.allocations)
            ],
        )
    pending_call = record.pending_call if order.status is OrderStatus.PENDING else None
    return replace(record, updated_at=updated_at, pending_call=pending_call)


async def page(
    conn: Connection,
    *,
    customer_id: str = "",
    channel: str = "",
    status: str = "",
    location_ids: Iterable[str] | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> list[OrderRecord]:
    """Newest first, by (created_at, order_id), so pages never skip or repeat an order."""
    conditions: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if customer_id:
        conditions.append(f"o.customer_id = {arg(customer_id)}")
    if channel:
        conditions.append(f"o.channel = {arg(channel)}")
    if status:
        conditions.append(f"o.status = {arg(status)}")
    if location_ids is not None:
        wanted = arg(sorted(location_ids))
        conditions.append(
            f"(o.store_id = ANY({wanted}::text[]) OR EXISTS (SELECT 1 FROM orders.allocations a"
            f" WHERE a.order_id = o.order_id AND a.location_id = ANY({wanted}::text[])))"
        )
    if after is not None:
        conditions.append(f"(o.created_at, o.order_id) < ({arg(after[0])}, {arg(after[1])})")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    async with _one_moment(conn) as reading:
        rows = await reading.fetch(
            f"SELECT o.* FROM orders.orders o {where} ORDER BY o.created_at DESC, o.order_id DESC LIMIT {arg(limit)}",
            *args,
        )
        allocations = await _allocations(reading, [row["order_id"] for row in rows])
    return [_record(row, allocations.get(row["order_id"], [])) for row in rows]


async def stale_pending(conn: Connection, older_than: timedelta, limit: int = 50) -> list[str]:
    rows = await conn.fetch(
        "SELECT order_id FROM orders.orders WHERE status = 'pending' AND created_at < now() - $1::interval"
        " ORDER BY created_at LIMIT $2",
        older_than,
        limit,
    )
    return [row["order_id"] for row in rows]


async def backordered(
    conn: Connection, *, sku: str = "", after: Cursor | None = None, limit: int = 50
) -> list[tuple[Cursor, str, str]]:
    """Orders with units waiting for stock (of `sku`, when given), oldest first after `after`:
    ((created_at, order_id), method, store_id) each."""
    conditions = ["status = 'backordered'"]
    args: list[Any] = []
    if sku:
        args.append(sku)
        conditions.append(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(lines) AS line"
            f" WHERE line->>'sku' = ${len(args)} AND (line->>'backordered')::bigint > 0)"
        )
    if after is not None:
        args.extend(after)
        conditions.append(f"(created_at, order_id) > (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT order_id, created_at, method, store_id FROM orders.orders WHERE {' AND '.join(conditions)}"
        f" ORDER BY created_at, order_id LIMIT ${len(args)}",
        *args,
    )
    return [((row["created_at"], row["order_id"]), row["method"], row["store_id"]) for row in rows]


async def fills_left_behind(conn: Connection, prefix: str, limit: int) -> list[str]:
    """Orders waiting for nothing any more (cancelled since) with a re-route whose
    cause starts with `prefix` still recorded: a fill cut short once inventory may have taken its
    hold. Nothing else asks to fill them again."""
    rows = await conn.fetch(
        "SELECT DISTINCT r.order_id FROM orders.reroutes AS r JOIN orders.orders AS o USING (order_id)"
        " WHERE starts_with(r.cause, $1) AND o.status <> 'backordered' ORDER BY r.order_id LIMIT $2",
        prefix,
        limit,
    )
    return [row["order_id"] for row in rows]


async def open_pickups_at(conn: Connection, store_id: str) -> list[tuple[str, orders_pb2.RoutingPlan | None]]:
    """The pickup orders at the store that are still to be handed over, with their decisions (which
    keep their promises), by id."""
    rows = await conn.fetch(
        "SELECT order_id, decision FROM orders.orders WHERE store_id = $1 AND method = 'pickup'"
        " AND status IN ('allocated', 'partially_shipped') ORDER BY order_id",
        store_id,
    )
    return [
        (row["order_id"], orders_pb2.RoutingPlan.FromString(row["decision"]) if row["decision"] is not None else None)
        for row in rows
    ]


async def orders_with_hold(conn: Connection, hold_id: str) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT order_id FROM orders.allocations WHERE hold_id = $1", hold_id)
    return [row["order_id"] for row in rows]


# Re-routes in flight.


async def reroute(conn: Connection, cause: str) -> Reroute | None:
    row = await conn.fetchrow("SELECT attempt, hold_request, decision FROM orders.reroutes WHERE cause = $1", cause)
    if row is None:
        return None
    return Reroute(row["attempt"], bytes(row["hold_request"]), orders_pb2.RoutingPlan.FromString(row["decision"]))


async def save_reroute(
    conn: Connection,
    cause: str,
    order_id: str,
    attempt: int,
    hold_request: bytes,
    decision: orders_pb2.RoutingPlan,
) -> None:
    await conn.execute(
        """
        INSERT INTO orders.reroutes (cause, order_id, attempt, hold_request, decision) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (cause) DO UPDATE SET attempt = EXCLUDED.attempt, hold_request = EXCLUDED.hold_request,
            decision = EXCLUDED.decision
        """,
        cause,
        order_id,
        attempt,
        hold_request,
        decision.SerializeToString(deterministic=True),
    )


async def reroutes_begun_by(conn: Connection, cause: str) -> dict[str, Reroute]:
    """The re-routes an event began and has not finished: its own cause, and its parts (`cause:...`)."""
    rows = await conn.fetch(
        "SELECT cause, attempt, hold_request, decision FROM orders.reroutes"
        " WHERE cause = $1 OR starts_with(cause, $1 || ':') ORDER BY cause",
        cause,
    )
    return {
        row["cause"]: Reroute(
            row["attempt"], bytes(row["hold_request"]), orders_pb2.RoutingPlan.FromString(row["decision"])
        )
        for row in rows
    }


async def forget_reroute(conn: Connection, cause: str) -> None:
    await conn.execute("DELETE FROM orders.reroutes WHERE cause = $1", cause)
