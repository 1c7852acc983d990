"""The orders schema: orders, allocations, re-routes, and the platform's outbox, inbox and idempotency tables.

Revision ID: 0001_orders
Revises:
Create Date: 2026-11-23 12:09:21.199768
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from omnistock_platform.migrations.platform_tables import create_platform_tables, drop_platform_tables

revision: str = "0001_orders"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables("orders", first_shape=True)
    op.create_table(
        "orders",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("ship_to", sa.LargeBinary(), nullable=True),
        sa.Column("store_id", sa.Text(), nullable=False),
        sa.Column("reservation_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("options", sa.LargeBinary(), nullable=False),
        sa.Column("decision", sa.LargeBinary(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("pending_call", sa.LargeBinary(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("order_id"),
        sa.UniqueConstraint("request_id", name="uq_orders_orders_request_id"),
        schema="orders",
    )
    op.create_index("ix_orders_orders_created", "orders", ["created_at", "order_id"], unique=False, schema="orders")
    op.create_index(
        "ix_orders_orders_customer", "orders", ["customer_id", "created_at", "order_id"], unique=False, schema="orders"
    )
    op.create_index(
        "ix_orders_orders_pending",
        "orders",
        ["created_at"],
        unique=False,
        schema="orders",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_orders_orders_store",
        "orders",
        ["store_id"],
        unique=False,
        schema="orders",
        postgresql_where=sa.text("store_id <> ''"),
    )
    op.create_table(
        "reroutes",
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("hold_request", sa.LargeBinary(), nullable=False),
        sa.Column("decision", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("cause"),
        schema="orders",
    )
    op.create_table(
        "allocations",
        sa.Column("allocation_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("hold_id", sa.Text(), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("distance_km", sa.Float(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.orders.order_id"],
        ),
        sa.PrimaryKeyConstraint("allocation_id"),
        schema="orders",
    )
    op.create_index("ix_orders_allocations_hold", "allocations", ["hold_id"], unique=False, schema="orders")
    op.create_index(
        "ix_orders_allocations_location", "allocations", ["location_id", "order_id"], unique=False, schema="orders"
    )
    op.create_index("ix_orders_allocations_order", "allocations", ["order_id", "seq"], unique=False, schema="orders")


def downgrade() -> None:
    op.drop_index("ix_orders_allocations_order", table_name="allocations", schema="orders")
    op.drop_index("ix_orders_allocations_location", table_name="allocations", schema="orders")
    op.drop_index("ix_orders_allocations_hold", table_name="allocations", schema="orders")
    op.drop_table("allocations", schema="orders")
    op.drop_table("reroutes", schema="orders")
    op.drop_index(
        "ix_orders_orders_store", table_name="orders", schema="orders", postgresql_where=sa.text("store_id <> ''")
    )
    op.drop_index(
        "ix_orders_orders_pending", table_name="orders", schema="orders", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_index("ix_orders_orders_customer", table_name="orders", schema="orders")
    op.drop_index("ix_orders_orders_created", table_name="orders", schema="orders")
    op.drop_table("orders", schema="orders")
    drop_platform_tables("orders")
