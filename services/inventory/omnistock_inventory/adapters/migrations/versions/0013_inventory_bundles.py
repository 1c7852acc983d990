"""bundles: a SKU made of components, and the bundle lines of holds

Revision ID: 0013_inventory
Revises: 0011_inventory
Create Date: 2027-04-01

A bundle is a SKU whose `components` (component SKU -> units per bundle) are not empty; it has
no stock rows of its own. `allow_split` lets an order take its components from several locations.
A hold of a bundle holds its components on the hold's ordinary lines; `hold_bundles` keeps the
bundle lines it was asked for (with the components as they were then), so that the components
are committed and released together.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_inventory"
down_revision: str | None = "0011_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "skus",
        sa.Column("components", postgresql.JSONB(), server_default="{}", nullable=False),
        schema="inventory",
    )
    op.add_column(
        "skus", sa.Column("allow_split", sa.Boolean(), server_default="false", nullable=False), schema="inventory"
    )
    op.create_table(
        "hold_bundles",
        sa.Column("hold_id", sa.String(), sa.ForeignKey("inventory.holds.hold_id"), nullable=False),
        sa.Column("location_id", sa.String(), nullable=False),
        sa.Column("sku", sa.String(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("committed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("released", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("components", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("hold_id", "location_id", "sku"),
        sa.CheckConstraint("quantity > 0 AND committed >= 0 AND released >= 0", name="hold_bundle_quantities"),
        sa.CheckConstraint("committed + released <= quantity", name="hold_bundle_within_quantity"),
        schema="inventory",
    )


def downgrade() -> None:
    op.drop_table("hold_bundles", schema="inventory")
    op.drop_column("skus", "allow_split", schema="inventory")
    op.drop_column("skus", "components", schema="inventory")
