"""returns: units of an order coming back to a store or by post, and what inspection found

Revision ID: 0007_orders
Revises: 0006_orders
Create Date: 2027-03-01

One row per return, its lines (with the conditions found at receipt) kept as JSON like an order's.
Returns are read by order (what may still come back), by location (a store's or warehouse's list)
and newest first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_orders"
down_revision: str | None = "0006_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "returns",
        sa.Column("return_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("by_post", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_by", sa.Text(), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("return_id"),
        schema="orders",
    )
    op.create_index("ix_orders_returns_created", "returns", ["created_at", "return_id"], unique=False, schema="orders")
    op.create_index(
        "ix_orders_returns_location",
        "returns",
        ["location_id", "created_at", "return_id"],
        unique=False,
        schema="orders",
    )
    op.create_index(
        "ix_orders_returns_order",
        "returns",
        ["order_id"],
        unique=False,
        schema="orders",
        postgresql_where=sa.text("order_id <> ''"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_orders_returns_order", table_name="returns", schema="orders", postgresql_where=sa.text("order_id <> ''")
    )
    op.drop_index("ix_orders_returns_location", table_name="returns", schema="orders")
    op.drop_index("ix_orders_returns_created", table_name="returns", schema="orders")
    op.drop_table("returns", schema="orders")
