"""Inventory's invariants and its reader for the system's checks (omnistock_platform.invariants).

- `CHECKS`: the stock invariants as queries of the inventory schema, each returning (subject,
  detail) per violation: counters in range, the ledger replays to the counters, held equals the
  open units of active holds, no hold committed more than it held; the cycle-count checks
  (count_checks.py) are folded in.
- `read(conn)`: what the inventory schema says for the cross-service rules (every hold with its
  lines) and the violations of `CHECKS`, read on the caller's connection so that they see the
  same instant as every other service's reader. The outbox check is left out there: the system's
  `outbox_published` covers every schema.
"""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from omnistock_inventory.adapters.count_checks import COUNT_CHECKS
from omnistock_inventory.adapters.transfer_checks import TRANSFER_CHECKS
from omnistock_platform.facts import Hold, HoldLine, InventoryFacts, Key, Violation

CHECKS: dict[str, str] = {
    "counters out of range (0 <= held <= on_hand + incoming, on_hand >= 0)": """
        SELECT location_id || '/' || sku AS subject,
               format('on_hand=%s held=%s incoming=%s', on_hand, held, incoming) AS detail
        FROM inventory.stock WHERE on_hand < 0 OR held < 0 OR held > on_hand + incoming""",
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
    "outbox event not published": """
        SELECT event_id::text AS subject, format('subject %s, written %s', subject, created_at) AS detail
        FROM inventory.outbox WHERE published_at IS NULL AND created_at < now() - interval '30 seconds'""",
}
CHECKS.update(COUNT_CHECKS)
CHECKS.update(TRANSFER_CHECKS)


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
            row["hold_id"], row["owner"], row["state"], row["created_at"], row["updated_at"], lines[row["hold_id"]]
        )
        for row in await conn.fetch("SELECT hold_id, owner, state, created_at, updated_at FROM inventory.holds")
    }
    stock_violations = []
    for check, query in CHECKS.items():
        if "outbox" in check:
            continue
        for row in await conn.fetch(query):
            stock_violations.append(Violation(check, str(row[0]), str(row[1])))
    return InventoryFacts(holds, stock_violations)
