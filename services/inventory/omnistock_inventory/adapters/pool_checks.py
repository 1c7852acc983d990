"""The invariant of channel pools, as a query of the inventory schema (`omnistock verify` runs it
with the stock invariants): each row returned is (subject, detail) of a violation.

- Pools never exceed stock: at no stock row does a channel with pools get more than the row has to
  give (on hand less held, plus incoming for a backorderable SKU, plus the units in transit that
  are not reserved for a ship-to-store owner where one of its pools there allows them), computed
  by the same SQL that every hold statement and read applies (`repository.channel_available_sql`).
"""

from __future__ import annotations

from omnistock_inventory.adapters.repository import channel_available_sql

_CHANNEL_AVAILABLE = channel_available_sql(
    use_safety_stock="false", backorder="k.allow_backorder", channel="c.channel", location="s.location_id"
)

POOL_CHECKS: dict[str, str] = {
    "a channel's pool offers more than the stock has": f"""
        SELECT s.location_id || '/' || s.sku || ' ' || c.channel AS subject,
               format('channel may take %s, on_hand=%s held=%s incoming=%s', {_CHANNEL_AVAILABLE},
                      s.on_hand, s.held, s.incoming) AS detail
        FROM inventory.stock s JOIN inventory.skus k ON k.sku = s.sku
        CROSS JOIN (SELECT DISTINCT channel FROM inventory.channel_pools) c
        WHERE GREATEST(0, {_CHANNEL_AVAILABLE})
              > GREATEST(0, s.on_hand - s.held + CASE WHEN k.allow_backorder THEN s.incoming ELSE 0 END
                  + CASE WHEN EXISTS (SELECT 1 FROM inventory.channel_pools q
                      JOIN inventory.location_group_members g ON g.group_id = q.group_id
                      WHERE q.channel = c.channel AND g.location_id = s.location_id AND q.allow_transfer_in_transit)
                    THEN s.in_transit - s.in_transit_reserved ELSE 0 END)""",
}
