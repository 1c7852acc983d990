"""The insights service's reader for the system's checks (omnistock_platform.invariants): what its schema says
for the rules that span services, read on the caller's connection so that it sees the same
instant as every other service's reader."""

from __future__ import annotations

import asyncpg

from omnistock_platform.facts import InsightsFacts


async def read(conn: asyncpg.Connection) -> InsightsFacts:
    order_ids = {row[0] for row in await conn.fetch("SELECT order_id FROM insights.order_facts")}
    reservation_ids = {row[0] for row in await conn.fetch("SELECT reservation_id FROM insights.reservation_facts")}
    counted_orders = await conn.fetchval(
        "SELECT count(*) FROM insights.order_facts WHERE channel IS NOT NULL AND created_at IS NOT NULL"
    )
    counted_reservations = await conn.fetchval(
        "SELECT count(*) FROM insights.reservation_facts"
        " WHERE NOT failed AND channel IS NOT NULL AND created_at IS NOT NULL"
    )
    daily = await conn.fetchrow(
        "SELECT COALESCE(sum(orders), 0) AS orders, COALESCE(sum(reservations_created), 0) AS reservations"
        " FROM insights.daily"
    )
    assert daily is not None
    return InsightsFacts(
        frozenset(order_ids),
        frozenset(reservation_ids),
        int(counted_orders),
        int(counted_reservations),
        int(daily["orders"]),
        int(daily["reservations"]),
    )
