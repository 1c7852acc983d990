"""The invariants of bundles, as queries of the inventory schema (`omnistock verify` runs them with
the stock invariants): each row returned is (subject, detail) of a violation.

- A bundle has no stock rows: its stock is its components'.
- A hold's bundle line is on its component lines: for every component, the line holds at least the
  units its sets took, and has committed and released at least as many as its sets did (units of the
  same component held alone make up the rest).
"""

from __future__ import annotations

BUNDLE_CHECKS: dict[str, str] = {
    "a bundle has stock rows": """
        SELECT s.location_id || '/' || s.sku AS subject, format('on_hand=%s held=%s', s.on_hand, s.held) AS detail
        FROM inventory.stock s JOIN inventory.skus k ON k.sku = s.sku
        WHERE k.components <> '{}'::jsonb AND (s.on_hand <> 0 OR s.held <> 0 OR s.incoming <> 0)""",
    "a hold's bundle line is not on its component lines": """
        SELECT b.hold_id AS subject,
               format('%s/%s sets %s/%s/%s need %s of %s: line %s/%s/%s', b.location_id, b.sku, b.quantity,
                      b.committed, b.released, c.units, c.part, COALESCE(l.quantity, 0), COALESCE(l.committed, 0),
                      COALESCE(l.released, 0)) AS detail
        FROM inventory.hold_bundles b
        CROSS JOIN LATERAL (SELECT key AS part, value::bigint AS units FROM jsonb_each_text(b.components)) c
        LEFT JOIN inventory.hold_lines l
          ON l.hold_id = b.hold_id AND l.location_id = b.location_id AND l.sku = c.part
        WHERE COALESCE(l.quantity, 0) < b.quantity * c.units OR COALESCE(l.committed, 0) < b.committed * c.units
           OR COALESCE(l.released, 0) < b.released * c.units""",
}
