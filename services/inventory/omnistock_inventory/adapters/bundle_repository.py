"""SQL of bundles: their definitions on the SKU rows, and the bundle lines of holds."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from omnistock_inventory.domain.bundles import Components, HoldBundle
from omnistock_inventory.domain.holds import LineKey
from omnistock_platform.statement import Statement

# Every change of a bundle definition takes this transaction lock: two definitions written at
# once can never nest one bundle in another (each checks the other's SKU is plain).
_DEFINITION_LOCK = 0x62756E646C65  # "bundle"


async def lock_definitions(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _DEFINITION_LOCK)


async def definitions(conn: asyncpg.Connection | asyncpg.Pool, skus: Sequence[str]) -> dict[str, Components]:
    """The bundles among `skus`: bundle SKU -> its components."""
    rows = await conn.fetch(
        "SELECT sku, components FROM inventory.skus WHERE sku = ANY($1::text[]) AND components <> '{}'::jsonb",
        list(skus),
    )
    return {row["sku"]: dict(row["components"]) for row in rows}


async def bundles_containing(conn: asyncpg.Connection, sku: str) -> list[str]:
    """The bundle SKUs that name `sku` as a component."""
    rows = await conn.fetch("SELECT sku FROM inventory.skus WHERE components ? $1 ORDER BY sku", sku)
    return [row["sku"] for row in rows]


async def has_stock_rows(conn: asyncpg.Connection, sku: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM inventory.stock WHERE sku = $1)", sku))


def add_hold_bundles(statement: Statement, bundles: Sequence[tuple[str, HoldBundle]]) -> None:
    """The bundle lines of holds being written, as a part of the holds' one statement."""
    if not bundles:
        return
    columns = list(
        zip(
            *[(hold_id, b.location_id, b.sku, b.quantity, b.committed, b.components) for hold_id, b in bundles],
            strict=True,
        )
    )
    statement.add(
        "INSERT INTO inventory.hold_bundles (hold_id, location_id, sku, quantity, committed, components)"
        f" SELECT * FROM {statement.unnest(columns, ('text[]', 'text[]', 'text[]', 'bigint[]', 'bigint[]', 'jsonb[]'))}"
    )


async def set_parts_held_with(conn: asyncpg.Connection, location_id: str, skus: Sequence[str]) -> list[LineKey]:
    """The rows at `location_id` of every component of the open sets that active holds keep there
    with any of `skus`: what giving such a set back would change besides the rows of `skus`."""
    rows = await conn.fetch(
        "SELECT DISTINCT part.key AS sku FROM inventory.hold_bundles b"
        " JOIN inventory.holds h ON h.hold_id = b.hold_id, jsonb_each(b.components) AS part"
        " WHERE b.location_id = $1 AND h.state = 'active' AND b.quantity - b.committed - b.released > 0"
        " AND b.components ?| $2::text[]",
        location_id,
        list(skus),
    )
    return [LineKey(location_id, row["sku"]) for row in rows]


async def hold_bundles(conn: asyncpg.Connection | asyncpg.Pool, hold_id: str) -> dict[LineKey, HoldBundle]:
    rows = await conn.fetch(
        "SELECT * FROM inventory.hold_bundles WHERE hold_id = $1 ORDER BY location_id, sku", hold_id
    )
    return {
        LineKey(row["location_id"], row["sku"]): HoldBundle(
            row["location_id"], row["sku"], row["quantity"], dict(row["components"]), row["committed"], row["released"]
        )
        for row in rows
    }


async def grow_hold_bundle(conn: asyncpg.Connection, hold_id: str, bundle: HoldBundle, sets: int) -> None:
    """`sets` more sets on a hold's bundle line (a new line, with `bundle`'s components, when the hold
    had none there; an existing one keeps the components it records)."""
    await conn.execute(
        "INSERT INTO inventory.hold_bundles (hold_id, location_id, sku, quantity, committed, components)"
        " VALUES ($1, $2, $3, $4, 0, $5)"
        " ON CONFLICT (hold_id, location_id, sku) DO UPDATE SET quantity = inventory.hold_bundles.quantity + $4",
        hold_id,
        bundle.location_id,
        bundle.sku,
        sets,
        bundle.components,
    )


async def settle_hold_bundles(
    conn: asyncpg.Connection, hold_id: str, changes: Sequence[tuple[LineKey, int]], column: str
) -> None:
    if column not in ("committed", "released"):
        raise ValueError(column)
    await conn.executemany(
        f"UPDATE inventory.hold_bundles SET {column} = {column} + $4"
        " WHERE hold_id = $1 AND location_id = $2 AND sku = $3",
        [(hold_id, key.location_id, key.sku, quantity) for key, quantity in changes if quantity > 0],
    )
