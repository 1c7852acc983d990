"""The invariants of transfers, as queries of the inventory schema (`omnistock verify` runs them with the
stock invariants): each query returns (subject, detail) per violation.

- Units in transit are counted once: the in-transit figure of every stock row equals the units of the
  shipped, not yet received transfers to that location.
- Units a ship-to-store transfer brings for its owner are counted once: every row's
  in_transit_reserved equals the units of the shipped, not yet received transfers with a hold owner.
- Held never exceeds what exists or is on its way to be promised: on hand, plus incoming for a
  backorderable SKU, plus the units in transit channels may be promised (in_transit less
  in_transit_reserved); a short receipt shortens the holds that promised the rest
  (service_layer/transit_promises.py).
- A transfer's lines are closed exactly when it is received, and a closed line counts every shipped
  unit once: shipped + over = received + damaged + short.
- Ledger entries on both sides: a transfer that shipped took each line's units out of on hand at the
  origin in TRANSFER_OUT movements (document_ref "transfer:<transfer_id>") and announced them in transit
  at the destination once; a received one put exactly the received units on hand there; a draft or a
  cancelled transfer moved nothing. (On hand never negative is the stock check of every row.)
"""

from __future__ import annotations

TRANSFER_CHECKS: dict[str, str] = {
    "in transit differs from the open transfers to the location": """
        SELECT s.location_id || '/' || s.sku AS subject,
               format('in_transit=%s, shipped transfers not yet received say %s', s.in_transit,
                      COALESCE(t.units, 0)) AS detail
        FROM inventory.stock s LEFT JOIN (
            SELECT r.destination_location_id AS location_id, l.sku, sum(l.quantity) AS units
            FROM inventory.transfers r JOIN inventory.transfer_lines l USING (transfer_id)
            WHERE r.status = 'shipped' GROUP BY r.destination_location_id, l.sku) t USING (location_id, sku)
        WHERE s.in_transit <> COALESCE(t.units, 0)
        UNION ALL
        SELECT t.location_id || '/' || t.sku, format('in transit %s with no stock row', t.units)
        FROM (SELECT r.destination_location_id AS location_id, l.sku, sum(l.quantity) AS units
              FROM inventory.transfers r JOIN inventory.transfer_lines l USING (transfer_id)
              WHERE r.status = 'shipped' GROUP BY r.destination_location_id, l.sku) t
        WHERE NOT EXISTS (SELECT 1 FROM inventory.stock s WHERE s.location_id = t.location_id AND s.sku = t.sku)""",
    "in transit reserved differs from the open ship-to-store transfers to the location": """
        SELECT s.location_id || '/' || s.sku AS subject,
               format('in_transit_reserved=%s, shipped ship-to-store transfers not yet received say %s',
                      s.in_transit_reserved, COALESCE(t.units, 0)) AS detail
        FROM inventory.stock s LEFT JOIN (
            SELECT r.destination_location_id AS location_id, l.sku, sum(l.quantity) AS units
            FROM inventory.transfers r JOIN inventory.transfer_lines l USING (transfer_id)
            WHERE r.status = 'shipped' AND r.hold_owner <> ''
            GROUP BY r.destination_location_id, l.sku) t USING (location_id, sku)
        WHERE s.in_transit_reserved <> COALESCE(t.units, 0)""",
    "held exceeds on hand and the units in transit channels may count": """
        SELECT s.location_id || '/' || s.sku AS subject,
               format('held=%s on_hand=%s incoming=%s (backorder %s) in_transit=%s reserved=%s', s.held, s.on_hand,
                      s.incoming, k.allow_backorder, s.in_transit, s.in_transit_reserved) AS detail
        FROM inventory.stock s JOIN inventory.skus k ON k.sku = s.sku
        WHERE s.held > s.on_hand + CASE WHEN k.allow_backorder THEN s.incoming ELSE 0 END
                       + s.in_transit - s.in_transit_reserved""",
    "transfer line closed other than when its transfer is received": """
        SELECT l.transfer_id || '/' || l.sku AS subject,
               format('transfer %s, line %s', t.status, CASE WHEN l.closed THEN 'closed' ELSE 'open' END) AS detail
        FROM inventory.transfer_lines l JOIN inventory.transfers t USING (transfer_id)
        WHERE l.closed <> (t.status = 'received')""",
    "transfer line does not count every shipped unit once": """
        SELECT transfer_id || '/' || sku AS subject,
               format('shipped %s + over %s != received %s + damaged %s + short %s',
                      quantity, over, received, damaged, short) AS detail
        FROM inventory.transfer_lines
        WHERE closed AND quantity + over <> received + damaged + short""",
    "transfer ledger entries differ from the transfer": """
        SELECT l.transfer_id || '/' || l.sku AS subject,
               format('%s: shipped %s, received %s; ledger out %s, in transit %s, in %s', r.status, l.quantity,
                      l.received, COALESCE(o.delta, 0), COALESCE(o.transit, 0), COALESCE(i.delta, 0)) AS detail
        FROM inventory.transfer_lines l JOIN inventory.transfers r USING (transfer_id)
        LEFT JOIN LATERAL (
            SELECT sum(on_hand_delta) FILTER (WHERE kind = 'transfer_out' AND location_id = r.origin_location_id)
                     AS delta,
                   count(*) FILTER (WHERE kind = 'transfer_in_transit' AND location_id = r.destination_location_id)
                     AS transit
            FROM inventory.movements
            WHERE location_id IN (r.origin_location_id, r.destination_location_id) AND sku = l.sku
              AND document_ref = 'transfer:' || l.transfer_id) o ON true
        LEFT JOIN LATERAL (
            SELECT sum(on_hand_delta) AS delta FROM inventory.movements
            WHERE location_id = r.destination_location_id AND sku = l.sku AND kind = 'transfer_in'
              AND document_ref = 'transfer:' || l.transfer_id) i ON true
        WHERE CASE WHEN r.status IN ('shipped', 'received')
                   THEN COALESCE(o.delta, 0) <> -l.quantity OR COALESCE(o.transit, 0) <> 1
                        OR COALESCE(i.delta, 0) <> CASE WHEN r.status = 'received' THEN l.received ELSE 0 END
                   ELSE COALESCE(o.delta, 0) <> 0 OR COALESCE(o.transit, 0) <> 0 OR i.delta IS NOT NULL END""",
}
