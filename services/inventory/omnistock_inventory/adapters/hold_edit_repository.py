"""SQL of holds changed in place: a line's quantity moved, a line added or removed."""

from __future__ import annotations

import asyncpg

from omnistock_inventory.domain.holds import LineKey


async def set_line_quantity(conn: asyncpg.Connection, hold_id: str, key: LineKey, quantity: int) -> None:
    """The line's units from now on (committed and released included); a line left with none goes."""
    if quantity == 0:
        await conn.execute(
            "DELETE FROM inventory.hold_lines WHERE hold_id = $1 AND location_id = $2 AND sku = $3",
            hold_id,
            key.location_id,
            key.sku,
        )
        return
    await conn.execute(
        "INSERT INTO inventory.hold_lines (hold_id, location_id, sku, quantity, committed, released)"
        " VALUES ($1, $2, $3, $4, 0, 0)"
        " ON CONFLICT (hold_id, location_id, sku) DO UPDATE SET quantity = EXCLUDED.quantity",
        hold_id,
        key.location_id,
        key.sku,
        quantity,
    )


async def add_line_units(conn: asyncpg.Connection, hold_id: str, key: LineKey, units: int) -> None:
    """More units on the line (a new line when the hold had none there)."""
    await conn.execute(
        "INSERT INTO inventory.hold_lines (hold_id, location_id, sku, quantity, committed, released)"
        " VALUES ($1, $2, $3, $4, 0, 0)"
        " ON CONFLICT (hold_id, location_id, sku) DO UPDATE SET quantity = inventory.hold_lines.quantity + $4",
        hold_id,
        key.location_id,
        key.sku,
        units,
    )


async def touch_hold(conn: asyncpg.Connection, hold_id: str) -> None:
    await conn.execute("UPDATE inventory.holds SET updated_at = now() WHERE hold_id = $1", hold_id)
