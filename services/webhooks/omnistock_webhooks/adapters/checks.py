"""The webhooks service's reader for the system's checks (omnistock_platform.invariants): what its schema says
for the rules that span services, read on the caller's connection so that it sees the same
instant as every other service's reader."""

from __future__ import annotations

import asyncpg


async def read(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT subscription_id, ordering_key FROM webhooks.deliveries WHERE state = 'pending'"
        " GROUP BY subscription_id, ordering_key HAVING count(*) FILTER (WHERE is_head) <> 1"
        " OR min(stream_seq) <> min(stream_seq) FILTER (WHERE is_head)"
        " UNION SELECT subscription_id, ordering_key FROM webhooks.deliveries WHERE is_head AND state <> 'pending'"
    )
    return sorted(f"{row['subscription_id']}/{row['ordering_key']}" for row in rows)
