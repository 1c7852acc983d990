"""cycle counts: count sessions and their lines

Revision ID: 0005_inventory
Revises: 0004_inventory
Create Date: 2027-02-08

A count session covers a scope at one location; each counted line keeps the stock row's version
(its ledger position) and the book on hand of the moment it was counted, and a check constraint
holds its variance to counted - book. A line's posted adjustment is one movement, never shared.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_inventory"
down_revision: str | None = "0004_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counts",
        sa.Column("count_id", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("skus", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("variance_threshold", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Text(), server_default="", nullable=False),
        sa.Column("cancel_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("variance_threshold >= 0", name="counts_threshold_not_negative"),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["inventory.locations.location_id"],
        ),
        sa.PrimaryKeyConstraint("count_id"),
        schema="inventory",
    )
    op.create_index(
        "ix_inventory_counts_created", "counts", ["created_at", "count_id"], unique=False, schema="inventory"
    )
    op.create_index(
        "ix_inventory_counts_location",
        "counts",
        ["location_id", "created_at", "count_id"],
        unique=False,
        schema="inventory",
    )
    op.create_table(
        "count_lines",
        sa.Column("count_id", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("counted", sa.BigInteger(), nullable=True),
        sa.Column("book_on_hand", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.Column("variance", sa.BigInteger(), nullable=True),
        sa.Column("previous_variance", sa.BigInteger(), nullable=True),
        sa.Column("counted_by", sa.Text(), server_default="", nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recounts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("zeroed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("approved_by", sa.Text(), server_default="", nullable=False),
        sa.Column("movement_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "counted IS NULL OR (counted >= 0 AND book_on_hand IS NOT NULL AND version IS NOT NULL AND variance = counted - book_on_hand)",
            name="count_lines_variance_exact",
        ),
        sa.CheckConstraint("movement_id IS NULL OR counted IS NOT NULL", name="count_lines_posted_when_counted"),
        sa.ForeignKeyConstraint(
            ["count_id"],
            ["inventory.counts.count_id"],
        ),
        sa.PrimaryKeyConstraint("count_id", "sku"),
        schema="inventory",
    )
    op.create_index(
        "ux_inventory_count_lines_movement",
        "count_lines",
        ["movement_id"],
        unique=True,
        schema="inventory",
        postgresql_where=sa.text("movement_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ux_inventory_count_lines_movement",
        table_name="count_lines",
        schema="inventory",
        postgresql_where=sa.text("movement_id IS NOT NULL"),
    )
    op.drop_table("count_lines", schema="inventory")
    op.drop_index("ix_inventory_counts_location", table_name="counts", schema="inventory")
    op.drop_index("ix_inventory_counts_created", table_name="counts", schema="inventory")
    op.drop_table("counts", schema="inventory")
