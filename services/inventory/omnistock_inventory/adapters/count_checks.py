"""The invariants of cycle counts, as queries of the inventory schema (`omnistock verify` runs them with
the stock invariants): each query returns (subject, detail) per violation.

- A counted line's variance is counted minus the book at its ledger position: the on hand after the
  last movement of its stock row at or before the version it was counted at (0 before any).
- A count never double-books: a completed count posted each line with a variance as exactly one
  ADJUSTMENT movement of that variance (document_ref "count:<count_id>"), the one the line names; a line
  without a variance, and a count that is not completed, posted none.
"""

from __future__ import annotations

COUNT_CHECKS: dict[str, str] = {
    "count line variance is not counted minus the book at its ledger position": """
        SELECT l.count_id || '/' || l.sku AS subject,
               format('counted=%s book=%s variance=%s at version %s; the ledger says on hand %s there',
                      l.counted, l.book_on_hand, l.variance, l.version, COALESCE(m.on_hand_after, 0)) AS detail
        FROM inventory.count_lines l JOIN inventory.counts c USING (count_id)
        LEFT JOIN LATERAL (
            SELECT on_hand_after FROM inventory.movements
            WHERE location_id = c.location_id AND sku = l.sku AND version <= l.version
            ORDER BY version DESC, movement_id DESC LIMIT 1) m ON true
        WHERE l.counted IS NOT NULL
          AND (l.book_on_hand <> COALESCE(m.on_hand_after, 0) OR l.variance <> l.counted - l.book_on_hand)""",
    "count posted other than once per line with a variance": """
        SELECT l.count_id || '/' || l.sku AS subject,
               format('count %s, variance %s: %s adjustments of %s in all, line names movement %s',
                      c.status, COALESCE(l.variance, 0), COALESCE(p.n, 0), COALESCE(p.delta, 0),
                      COALESCE(l.movement_id::text, 'none')) AS detail
        FROM inventory.count_lines l JOIN inventory.counts c USING (count_id)
        LEFT JOIN (
            SELECT document_ref, location_id, sku, count(*) AS n, sum(on_hand_delta) AS delta,
                   min(movement_id) AS movement_id
            FROM inventory.movements WHERE kind = 'adjustment' AND document_ref LIKE 'count:%'
            GROUP BY document_ref, location_id, sku) p
          ON p.document_ref = 'count:' || l.count_id AND p.location_id = c.location_id AND p.sku = l.sku
        WHERE CASE WHEN c.status = 'completed' AND COALESCE(l.variance, 0) <> 0
                   THEN p.n IS DISTINCT FROM 1 OR p.delta <> l.variance OR l.movement_id IS DISTINCT FROM p.movement_id
                   ELSE p.n IS NOT NULL OR l.movement_id IS NOT NULL END""",
}
