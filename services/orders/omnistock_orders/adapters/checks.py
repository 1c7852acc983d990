"""The orders service's reader for the system's checks (omnistock_platform.invariants): what its schema says
for the rules that span services, read on the caller's connection so that it sees the same
instant as every other service's reader."""

from __future__ import annotations

import json
from collections import defaultdict

import asyncpg

from omnistock_orders.domain.order import DONE, AllocationStatus, OrderStatus
from omnistock_orders.domain.returns import ReturnStatus
from omnistock_orders.domain.routing import Method
from omnistock_platform.facts import Allocation, Order, OrdersFacts, Return, ReturnLine


async def read(conn: asyncpg.Connection) -> OrdersFacts:
    allocations: dict[str, list[Allocation]] = defaultdict(list)
    for row in await conn.fetch(
        "SELECT order_id, allocation_id, location_id, hold_id, status, lines FROM orders.allocations ORDER BY seq"
    ):
        status = AllocationStatus(row["status"])
        allocations[row["order_id"]].append(
            Allocation(
                row["allocation_id"],
                row["location_id"],
                row["hold_id"],
                row["status"],
                {
                    sku: int(units)
                    for sku, units in (
                        json.loads(row["lines"]) if isinstance(row["lines"], str) else row["lines"]
                    ).items()
                },
                held=status is AllocationStatus.HELD,
                shipped=status is AllocationStatus.SHIPPED,
                done=status in DONE,
            )
        )
    orders = {
        row["order_id"]: Order(
            row["order_id"],
            row["request_id"],
            row["status"],
            row["method"],
            row["source"],
            row["created_at"],
            row["updated_at"],
            tuple(allocations[row["order_id"]]),
            pending=OrderStatus(row["status"]) is OrderStatus.PENDING,
            # A sale at a till is done on the spot: fulfilment makes no task for it.
            worked=Method(row["method"]) is not Method.CARRY_OUT,
            sets={
                str(line["sku"]): {str(part): int(units) for part, units in line["components"]}
                for line in (json.loads(row["lines"]) if isinstance(row["lines"], str) else row["lines"])
                if line.get("components")
            },
        )
        for row in await conn.fetch(
            "SELECT order_id, request_id, status, method, source, created_at, updated_at, lines FROM orders.orders"
        )
    }
    rerouting = {row["order_id"] for row in await conn.fetch("SELECT DISTINCT order_id FROM orders.reroutes")}
    returns = {
        row["return_id"]: Return(
            row["return_id"],
            row["order_id"],
            row["location_id"],
            row["status"],
            row["updated_at"],
            {
                str(line["sku"]): ReturnLine(
                    int(line["quantity"]), int(line["restocked"]), int(line["damaged"]), int(line["written_off"])
                )
                for line in (json.loads(row["lines"]) if isinstance(row["lines"], str) else row["lines"])
            },
            received=ReturnStatus(row["status"]) is ReturnStatus.RECEIVED,
            cancelled=ReturnStatus(row["status"]) is ReturnStatus.CANCELLED,
        )
        for row in await conn.fetch(
            "SELECT return_id, order_id, location_id, status, updated_at, lines FROM orders.returns"
        )
    }
    return OrdersFacts(orders, rerouting, returns)
