"""Inventory's invariants and its reader for the system's checks (omnistock_platform.invariants).

- `CHECKS`: the stock invariants as queries of the inventory schema, each returning (subject,
  detail) per violation: counters in range, the ledger replays to the counters, held equals the
  open units of active holds, no hold committed more than it held; the cycle-count, transfer,
  pool and bundle checks (count_checks.py, transfer_checks.py, pool_checks.py, bundle_checks.py)
  are folded in.
- `violations(conn)`: the violations of `CHECKS`, for `omnistock verify` and the tests.
- `read(conn)`: what the inventory schema says for the cross-service rules (every hold with its
  lines, every transfer that keeps its units for an owner) and the violations of `CHECKS`, read on
  the caller's connection so that they see the same instant as every other service's reader. The
  outbox check is left out there: the system's `outbox_published` covers every schema.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg

from omnistock_inventory.adapters.bundle_checks import BUNDLE_CHECKS
from omnistock_inventory.adapters.count_checks import COUNT_CHECKS
from omnistock_inventory.adapters.pool_checks import POOL_CHECKS
from omnistock_inventory.adapters.transfer_checks import TRANSFER_CHECKS
from omnistock_inventory.domain.holds import HoldState
from omnistock_inventory.domain.transfers import TransferStatus
from omnistock_platform.facts import Hold, HoldLine, InventoryFacts, Key, Transfer, Violation

OUTBOX_CHECK = "outbox event not published"
CHECKS: dict[str, str] = {
    "counters out of range (0 <= held <= on_hand + incoming + promisable in transit, on_hand >= 0)": """
        SELECT location_id || '/' || sku AS subject,
               format('on_hand=%s held=%s incoming=%s in_transit=%s reserved=%s', on_hand, held, incoming,
                      in_transit, in_transit_reserved) AS detail
        FROM inventory.stock WHERE on_hand < 0 OR held < 0
            OR held > on_hand + incoming + in_transit - in_transit_reserved
            OR in_transit_reserved < 0 OR in_transit_reserved > in_transit""",
    "ledger does not replay to the counters": """
        SELECT s.location_id || '/' || s.sku AS subject,
               format('on_hand=%s ledger=%s held=%s ledger=%s', s.on_hand, COALESCE(m.on_hand, 0),
                      s.held, COALESCE(m.held, 0)) AS detail
        FROM inventory.stock s LEFT JOIN (
            SELECT location_id, sku, sum(on_hand_delta) AS on_hand, sum(held_delta) AS held
            FROM inventory.movements GROUP BY location_id, sku) m USING (location_id, sku)
        WHERE s.on_hand <> COALESCE(m.on_hand, 0) OR s.held <> COALESCE(m.held, 0)""",
    "held differs from the open units of active holds": """
        SELECT s.location_id || '/' || s.sku AS subject,
               format('held=%s active holds=%s', s.held, COALESCE(h.open, 0)) AS detail
        FROM inventory.stock s LEFT JOIN (
            SELECT l.location_id, l.sku, sum(l.quantity - l.committed - l.released) AS open
            FROM inventory.hold_lines l JOIN inventory.holds h USING (hold_id)
            WHERE h.state = 'active' GROUP BY l.location_id, l.sku) h USING (location_id, sku)
        WHERE s.held <> COALESCE(h.open, 0)""",
    "settled hold still has open units": """
        SELECT h.hold_id AS subject, format('state=%s open=%s', h.state, sum(l.quantity - l.committed - l.released))
        FROM inventory.holds h JOIN inventory.hold_lines l USING (hold_id)
        WHERE h.state <> 'active' GROUP BY h.hold_id, h.state
        HAVING sum(l.quantity - l.committed - l.released) <> 0""",
    "hold committed more than it held": """
        SELECT hold_id AS subject, format('%s/%s committed=%s released=%s quantity=%s',
               location_id, sku, committed, released, quantity) AS detail
        FROM inventory.hold_lines WHERE committed + released > quantity""",
    "ledger commits differ from hold commits": """
        SELECT l.hold_id AS subject, format('%s/%s hold says %s, ledger says %s', l.location_id, l.sku,
               l.committed, COALESCE(-m.committed, 0)) AS detail
        FROM inventory.hold_lines l LEFT JOIN (
            SELECT hold_id, location_id, sku, sum(on_hand_delta) AS committed FROM inventory.movements
            WHERE kind = 'commit' GROUP BY hold_id, location_id, sku) m USING (hold_id, location_id, sku)
        WHERE l.committed <> COALESCE(-m.committed, 0)""",
    OUTBOX_CHECK: """
        SELECT event_id::text AS subject, format('subject %s, written %s', subject, created_at) AS detail
        FROM inventory.outbox WHERE published_at IS NULL AND created_at < now() - interval '30 seconds'""",
}
CHECKS.update(COUNT_CHECKS)
CHECKS.update(TRANSFER_CHECKS)
CHECKS.update(POOL_CHECKS)
CHECKS.update(BUNDLE_CHECKS)


def _json(value: Any) -> dict[str, Any]:
    """A jsonb column, whether the connection decodes it or not."""
    return dict(json.loads(value) if isinstance(value, str) else value)


async def read(conn: asyncpg.Connection) -> InventoryFacts:
    lines: dict[str, dict[Key, HoldLine]] = defaultdict(dict)
    for row in await conn.fetch(
        "SELECT hold_id, location_id, sku, quantity, committed, released FROM inventory.hold_lines"
    ):
        lines[row["hold_id"]][(row["location_id"], row["sku"])] = HoldLine(
            int(row["quantity"]), int(row["committed"]), int(row["released"])
        )
    holds = {
        row["hold_id"]: Hold(
            row["hold_id"],
            row["owner"],
            row["state"],
            row["created_at"],
            row["updated_at"],
            lines[row["hold_id"]],
            active=HoldState(row["state"]) is HoldState.ACTIVE,
        )
        for row in await conn.fetch("SELECT hold_id, owner, state, created_at, updated_at FROM inventory.holds")
    }
    moved, moved_at = await _return_movements(conn)
    return InventoryFacts(
        holds,
        await violations(conn, outbox=False),
        await _owned_transfers(conn),
        return_movements=moved,
        return_movements_at=moved_at,
        bundles={
            row["sku"]: {part: int(units) for part, units in _json(row["components"]).items()}
            for row in await conn.fetch("SELECT sku, components FROM inventory.skus WHERE components <> '{}'::jsonb")
        },
    )


async def violations(conn: asyncpg.Connection, *, outbox: bool = True) -> list[Violation]:
    """Every violation of `CHECKS`; without `outbox`, the outbox check is left out."""
    found = []
    for check, query in CHECKS.items():
        if check == OUTBOX_CHECK and not outbox:
            continue
        found += [Violation(check, str(row[0]), str(row[1])) for row in await conn.fetch(query)]
    return found


async def _owned_transfers(conn: asyncpg.Connection) -> dict[str, Transfer]:
    """Every transfer that keeps its units for an owner (ship to store), with its lines."""
    transfer_lines: dict[str, dict[str, int]] = defaultdict(dict)
    for row in await conn.fetch(
        "SELECT l.transfer_id, l.sku, l.quantity FROM inventory.transfer_lines l"
        " JOIN inventory.transfers t USING (transfer_id) WHERE t.hold_owner <> ''"
    ):
        transfer_lines[row["transfer_id"]][row["sku"]] = int(row["quantity"])
    return {
        row["transfer_id"]: Transfer(
            row["transfer_id"],
            row["origin_location_id"],
            row["destination_location_id"],
            row["status"],
            row["hold_owner"],
            row["origin_hold_id"],
            row["arrival_hold_id"],
            transfer_lines[row["transfer_id"]],
            row["updated_at"],
            draft=TransferStatus(row["status"]) is TransferStatus.DRAFT,
            in_transit=TransferStatus(row["status"]) is TransferStatus.SHIPPED,
        )
        for row in await conn.fetch("SELECT * FROM inventory.transfers WHERE hold_owner <> ''")
    }


async def _return_movements(
    conn: asyncpg.Connection,
) -> tuple[dict[str, dict[tuple[str, str, str], int]], dict[str, datetime]]:
    """What the movements filed under a return moved ("return:<id>", as orders books them), by return,
    location, SKU and the reason's first word, and when the last of them was booked."""
    found: dict[str, dict[tuple[str, str, str], int]] = defaultdict(dict)
    last: dict[str, datetime] = {}
    for row in await conn.fetch(
        "SELECT substr(document_ref, 8) AS return_id, location_id, sku, split_part(reason, ':', 1) AS why,"
        " sum(on_hand_delta) AS units, max(at) AS at FROM inventory.movements"
        " WHERE document_ref LIKE 'return:%' AND kind = 'adjustment'"
        " GROUP BY document_ref, location_id, sku, split_part(reason, ':', 1)"
    ):
        found[row["return_id"]][(row["location_id"], row["sku"], row["why"])] = int(row["units"])
        last[row["return_id"]] = max(row["at"], last.get(row["return_id"], row["at"]))
    return dict(found), last
