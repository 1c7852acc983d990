"""ship to store: a transfer may bring units held for someone (a reservation) from origin to destination

Revision ID: 0009_inventory
Revises: 0007_inventory
Create Date: 2027-03-01

hold_owner names who the units are for; origin_hold_id is the hold that keeps them at the origin until
they ship; arrival_hold_id the hold that keeps the received units at the destination, taken with the
receipt; hold_for how long that one lasts.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_inventory"
down_revision: str | None = "0007_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("hold_owner", "origin_hold_id", "arrival_hold_id"):
        op.add_column("transfers", sa.Column(column, sa.Text(), server_default="", nullable=False), schema="inventory")
    op.add_column(
        "transfers",
        sa.Column("hold_for", sa.Interval(), server_default=sa.text("interval '0'"), nullable=False),
        schema="inventory",
    )
    op.create_index(
        "ix_inventory_transfers_origin_hold",
        "transfers",
        ["origin_hold_id"],
        unique=False,
        schema="inventory",
        postgresql_where=sa.text("origin_hold_id <> ''"),
    )


def downgrade() -> None:
    op.drop_index("ix_inventory_transfers_origin_hold", table_name="transfers", schema="inventory")
    for column in ("hold_for", "arrival_hold_id", "origin_hold_id", "hold_owner"):
        op.drop_column("transfers", column, schema="inventory")
