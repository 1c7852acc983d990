"""SQL of location groups and channel pools. Every function takes the unit of work's connection."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from omnistock_inventory.domain.stock import Pool

# A channel's pools, by location: the pools whose group holds the location. None: the channel has
# no pools at all and sells from every location.
PoolsByLocation = dict[str, list[Pool]] | None


async def upsert_group(
    conn: asyncpg.Connection, group_id: str, display_name: str, location_ids: Sequence[str]
) -> asyncpg.Record:
    """Create or replace a group and its members in one round trip."""
    row = await conn.fetchrow(
        "WITH g AS (INSERT INTO inventory.location_groups (group_id, display_name) VALUES ($1, $2)"
        "   ON CONFLICT (group_id) DO UPDATE SET display_name = EXCLUDED.display_name, updated_at = now()"
        "   RETURNING group_id, display_name),"
        " gone AS (DELETE FROM inventory.location_group_members WHERE group_id = $1"
        "   AND NOT (location_id = ANY($3::text[]))),"
        " added AS (INSERT INTO inventory.location_group_members (group_id, location_id)"
        "   SELECT $1, unnest($3::text[]) ON CONFLICT DO NOTHING)"
        " SELECT g.group_id, g.display_name, $3::text[] AS location_ids FROM g",
        group_id,
        display_name,
        sorted(set(location_ids)),
    )
    assert row is not None
    return row


async def list_groups(conn: asyncpg.Connection | asyncpg.Pool, *, after: str, limit: int) -> list[asyncpg.Record]:
    """Groups with their members, by group id, after `after`."""
    return await conn.fetch(
        "SELECT g.group_id, g.display_name,"
        ' COALESCE(array_agg(m.location_id ORDER BY m.location_id COLLATE "C")'
        "   FILTER (WHERE m.location_id IS NOT NULL), '{}') AS location_ids"
        " FROM inventory.location_groups g LEFT JOIN inventory.location_group_members m USING (group_id)"
        ' WHERE g.group_id COLLATE "C" > $1 GROUP BY g.group_id, g.display_name'
        ' ORDER BY g.group_id COLLATE "C" LIMIT $2',
        after,
        limit,
    )


async def known_groups(conn: asyncpg.Connection, group_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT group_id FROM inventory.location_groups WHERE group_id = ANY($1::text[])", list(group_ids)
    )
    return {row["group_id"] for row in rows}


async def set_channel_pools(conn: asyncpg.Connection, channel: str, pools: Sequence[Pool]) -> None:
    """Replace a channel's pools (two statements: one that deleted and inserted the same key at
    once would meet its own old row)."""
    await conn.execute("DELETE FROM inventory.channel_pools WHERE channel = $1", channel)
    await conn.execute(
        "INSERT INTO inventory.channel_pools"
        " (channel, group_id, cap_percent, buffer_units, allow_in_transit, allow_transfer_in_transit)"
        " SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::boolean[], $6::boolean[])",
        channel,
        [pool.group_id for pool in pools],
        [pool.cap_percent for pool in pools],
        [pool.buffer_units for pool in pools],
        [pool.allow_in_transit for pool in pools],
        [pool.allow_transfer_in_transit for pool in pools],
    )


async def list_channel_pools(
    conn: asyncpg.Connection | asyncpg.Pool, channel: str = "", *, after: tuple[str, str] = ("", ""), limit: int
) -> list[asyncpg.Record]:
    """Pools (of every channel, or of one), by channel and group id, after `after`."""
    return await conn.fetch(
        "SELECT channel, group_id, cap_percent, buffer_units, allow_in_transit, allow_transfer_in_transit"
        " FROM inventory.channel_pools"
        " WHERE ($1 = '' OR channel = $1)"
        ' AND (channel COLLATE "C", group_id COLLATE "C") > ($2 COLLATE "C", $3 COLLATE "C")'
        ' ORDER BY channel COLLATE "C", group_id COLLATE "C" LIMIT $4',
        channel,
        after[0],
        after[1],
        limit,
    )


async def pool_members(conn: asyncpg.Connection | asyncpg.Pool, channel: str = "") -> list[asyncpg.Record]:
    """Every pool (of every channel, or of one) with each location of its group (a pool of an
    empty group: location_id NULL)."""
    return await conn.fetch(
        "SELECT p.channel, p.group_id, p.cap_percent, p.buffer_units, p.allow_in_transit,"
        " p.allow_transfer_in_transit, m.location_id"
        " FROM inventory.channel_pools p LEFT JOIN inventory.location_group_members m USING (group_id)"
        " WHERE $1 = '' OR p.channel = $1",
        channel,
    )


async def pools_of(conn: asyncpg.Connection | asyncpg.Pool, channel: str) -> PoolsByLocation:
    """One channel's pools by location, as the database has them now."""
    return by_channel(await pool_members(conn, channel)).get(channel)


async def group_locations(conn: asyncpg.Connection | asyncpg.Pool, group_id: str) -> list[str] | None:
    """The group's locations; None when there is no such group."""
    row = await conn.fetchrow(
        "SELECT COALESCE(array_agg(m.location_id) FILTER (WHERE m.location_id IS NOT NULL), '{}') AS location_ids"
        " FROM inventory.location_groups g LEFT JOIN inventory.location_group_members m USING (group_id)"
        " WHERE g.group_id = $1 GROUP BY g.group_id",
        group_id,
    )
    return None if row is None else list(row["location_ids"])


def pool(row: asyncpg.Record) -> Pool:
    return Pool(
        row["group_id"],
        row["cap_percent"],
        row["buffer_units"],
        row["allow_in_transit"],
        row["allow_transfer_in_transit"],
    )


def by_channel(rows: Sequence[asyncpg.Record]) -> dict[str, dict[str, list[Pool]]]:
    """`pool_members` rows as channel -> location -> its pools (a channel with pools is a key even
    when none of its groups has a location)."""
    found: dict[str, dict[str, list[Pool]]] = {}
    for row in rows:
        locations = found.setdefault(row["channel"], {})
        if row["location_id"] is not None:
            locations.setdefault(row["location_id"], []).append(pool(row))
    return found
