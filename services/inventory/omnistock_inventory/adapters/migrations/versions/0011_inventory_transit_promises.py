"""Units in transit promisable to channels whose pools allow them

Revision ID: 0011_inventory
Revises: 0010_inventory
Create Date: 2027-03-08

A pool may let its channel promise units shipped on transfers to its locations before they are
received (`channel_pools.allow_transfer_in_transit`). Units a ship-to-store transfer brings for its
own reservation are never promised to anyone else: `stock.in_transit_reserved` counts them (part of
`in_transit`). A hold may then exceed on hand by the promisable units in transit, so the stock
invariant becomes held <= on_hand + incoming + in_transit - in_transit_reserved.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_inventory"
down_revision: str | None = "0010_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD_BEFORE = "held >= 0 AND held <= on_hand + incoming"
HELD_NOW = "held >= 0 AND held <= on_hand + incoming + in_transit - in_transit_reserved"


def upgrade() -> None:
    op.add_column(
        "channel_pools",
        sa.Column("allow_transfer_in_transit", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema="inventory",
    )
    op.add_column(
        "stock",
        sa.Column("in_transit_reserved", sa.BigInteger(), server_default="0", nullable=False),
        schema="inventory",
    )
    op.execute(
        "UPDATE inventory.stock s SET in_transit_reserved = t.units FROM ("
        " SELECT r.destination_location_id AS location_id, l.sku, sum(l.quantity) AS units"
        " FROM inventory.transfers r JOIN inventory.transfer_lines l ON l.transfer_id = r.transfer_id"
        " WHERE r.status = 'shipped' AND r.hold_owner <> '' GROUP BY 1, 2) t"
        " WHERE s.location_id = t.location_id AND s.sku = t.sku"
    )
    op.create_check_constraint(
        "stock_in_transit_reserved_within",
        "stock",
        "in_transit_reserved >= 0 AND in_transit_reserved <= in_transit",
        schema="inventory",
    )
    op.drop_constraint("stock_held_within_on_hand", "stock", schema="inventory", type_="check")
    op.create_check_constraint("stock_held_within_on_hand", "stock", HELD_NOW, schema="inventory")


def downgrade() -> None:
    op.drop_constraint("stock_held_within_on_hand", "stock", schema="inventory", type_="check")
    op.create_check_constraint("stock_held_within_on_hand", "stock", HELD_BEFORE, schema="inventory")
    op.drop_constraint("stock_in_transit_reserved_within", "stock", schema="inventory", type_="check")
    op.drop_column("stock", "in_transit_reserved", schema="inventory")
    op.drop_column("channel_pools", "allow_transfer_in_transit", schema="inventory")
