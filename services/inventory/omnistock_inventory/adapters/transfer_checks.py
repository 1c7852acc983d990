"""The invariants of transfers, as queries of the inventory schema (`omnistock verify` runs them with
the stock invariants): each query returns (subject, detail) per violation.

- A transfer's lines are closed exactly when it is received: a draft, shipped or cancelled transfer
  has no outcome booked, a received one has every line's outcome booked.
- A closed line counts every shipped unit once: shipped + over = received + damaged + short.
"""

from __future__ import annotations

TRANSFER_CHECKS: dict[str, str] = {
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
}
