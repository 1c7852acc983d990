"""initial insights schema

Revision ID: 0001_insights
Revises:
Create Date: 2026-11-23 12:17:34.468850
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from omnistock_platform.migrations.platform_tables import create_platform_tables, drop_platform_tables

revision: str = "0001_insights"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables("insights", first_shape=True)
    op.create_table(
        "applied_events",
        sa.Column("event_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="insights",
    )
    op.create_table(
        "daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("reservations_created", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reservations_collected", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reservations_expired", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reservations_cancelled", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reservations_converted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reservations_ready", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ready_time_ms_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("units", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders_cancelled", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders_ship", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders_pickup", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders_carry_out", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders_allocated", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders_split", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders_rerouted", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders_shipped", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ship_time_ms_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tasks_picked", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tasks_short_picked", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("demand_refused", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("short_lines", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("stock_changes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("oversells", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "location_id"),
        schema="insights",
    )
    op.create_table(
        "daily_revenue",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("orders", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "location_id", "currency"),
        schema="insights",
    )
    op.create_table(
        "daily_shortfalls",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("refusals", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("units_requested", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("units_short", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", "location_id", "sku"),
        schema="insights",
    )
    op.create_table(
        "order_facts",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("method", sa.Text(), server_default="unspecified", nullable=False),
        sa.Column("store_id", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("units", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("revenue", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("first_allocation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("allocation_inferred", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("rerouted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("cancelled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bucket_day", sa.Date(), nullable=True),
        sa.Column("bucket_channel", sa.Text(), nullable=True),
        sa.Column("bucket_location", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("order_id"),
        schema="insights",
    )
    op.create_index("ix_insights_order_facts_bucket", "order_facts", ["bucket_day"], unique=False, schema="insights")
    op.create_table(
        "reservation_facts",
        sa.Column("reservation_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("store_id", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("failed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("bucket_day", sa.Date(), nullable=True),
        sa.Column("bucket_channel", sa.Text(), nullable=True),
        sa.Column("bucket_location", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("reservation_id"),
        schema="insights",
    )
    op.create_index(
        "ix_insights_reservation_facts_bucket", "reservation_facts", ["bucket_day"], unique=False, schema="insights"
    )
    op.create_table(
        "task_facts",
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), server_default="", nullable=False),
        sa.Column("reservation_id", sa.Text(), server_default="", nullable=False),
        sa.Column("location_id", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pick", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("task_id"),
        schema="insights",
    )
    op.create_index(
        "ix_insights_task_facts_order",
        "task_facts",
        ["order_id"],
        unique=False,
        schema="insights",
        postgresql_where=sa.text("order_id <> ''"),
    )
    op.create_index(
        "ix_insights_task_facts_reservation",
        "task_facts",
        ["reservation_id"],
        unique=False,
        schema="insights",
        postgresql_where=sa.text("reservation_id <> ''"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_insights_task_facts_reservation",
        table_name="task_facts",
        schema="insights",
        postgresql_where=sa.text("reservation_id <> ''"),
    )
    op.drop_index(
        "ix_insights_task_facts_order",
        table_name="task_facts",
        schema="insights",
        postgresql_where=sa.text("order_id <> ''"),
    )
    op.drop_table("task_facts", schema="insights")
    op.drop_index("ix_insights_reservation_facts_bucket", table_name="reservation_facts", schema="insights")
    op.drop_table("reservation_facts", schema="insights")
    op.drop_index("ix_insights_order_facts_bucket", table_name="order_facts", schema="insights")
    op.drop_table("order_facts", schema="insights")
    op.drop_table("daily_shortfalls", schema="insights")
    op.drop_table("daily_revenue", schema="insights")
    op.drop_table("daily", schema="insights")
    op.drop_table("applied_events", schema="insights")
    drop_platform_tables("insights")
