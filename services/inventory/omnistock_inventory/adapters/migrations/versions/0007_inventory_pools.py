"""pools: location groups and channel pools

Revision ID: 0007_inventory
Revises: 0006_inventory
Create Date: 2027-03-01

A location group names a set of locations; a channel's pools say from which groups it may sell,
with a cap on the share of on hand and a buffer it may never take. No pool rows for a channel:
it sells from every location, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_inventory"
down_revision: str | None = "0006_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "location_groups",
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
        schema="inventory",
    )
    op.create_table(
        "location_group_members",
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["inventory.location_groups.group_id"]),
        sa.ForeignKeyConstraint(["location_id"], ["inventory.locations.location_id"]),
        sa.PrimaryKeyConstraint("group_id", "location_id"),
        schema="inventory",
    )
    op.create_index(
        "ix_inventory_location_group_members_location",
        "location_group_members",
        ["location_id"],
        unique=False,
        schema="inventory",
    )
    op.create_table(
        "channel_pools",
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False),
        sa.Column("cap_percent", sa.Integer(), server_default="100", nullable=False),
        sa.Column("buffer_units", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("allow_in_transit", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("cap_percent BETWEEN 1 AND 100", name="channel_pools_cap_percent"),
        sa.CheckConstraint("buffer_units >= 0", name="channel_pools_buffer_not_negative"),
        sa.ForeignKeyConstraint(["group_id"], ["inventory.location_groups.group_id"]),
        sa.PrimaryKeyConstraint("channel", "group_id"),
        schema="inventory",
    )


def downgrade() -> None:
    op.drop_table("channel_pools", schema="inventory")
    op.drop_index(
        "ix_inventory_location_group_members_location", table_name="location_group_members", schema="inventory"
    )
    op.drop_table("location_group_members", schema="inventory")
    op.drop_table("location_groups", schema="inventory")
