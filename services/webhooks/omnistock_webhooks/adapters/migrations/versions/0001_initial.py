"""initial webhooks schema

Revision ID: 0001_webhooks
Revises:
Create Date: 2026-12-06 12:01:49.321822
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from omnistock_platform.migrations.platform_tables import create_platform_tables, drop_platform_tables

revision: str = "0001_webhooks"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables("webhooks")
    op.create_table(
        "events",
        sa.Column("event_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="webhooks",
    )
    op.create_table(
        "subscriptions",
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("secret_created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id"),
        schema="webhooks",
    )
    op.create_index(
        "ix_webhooks_subscriptions_created",
        "subscriptions",
        ["created_at", "subscription_id"],
        unique=False,
        schema="webhooks",
    )
    op.create_table(
        "deliveries",
        sa.Column("delivery_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("stream_seq", sa.BigInteger(), nullable=False),
        sa.Column("ordering_key", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default="pending", nullable=False),
        sa.Column("is_head", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replays", sa.Integer(), server_default="0", nullable=False),
        sa.Column("replayed_after", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'dead')", name="ck_webhooks_deliveries_state"),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["webhooks.events.event_id"],
        ),
        sa.ForeignKeyConstraint(["subscription_id"], ["webhooks.subscriptions.subscription_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhooks_deliveries_event"),
        schema="webhooks",
    )
    op.create_index(
        "ix_webhooks_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        unique=False,
        schema="webhooks",
        postgresql_where=sa.text("is_head AND state = 'pending'"),
    )
    op.create_index("ix_webhooks_deliveries_event_id", "deliveries", ["event_id"], unique=False, schema="webhooks")
    op.create_index(
        "ix_webhooks_deliveries_finished",
        "deliveries",
        ["finished_at"],
        unique=False,
        schema="webhooks",
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_index(
        "ix_webhooks_deliveries_log", "deliveries", ["subscription_id", "delivery_id"], unique=False, schema="webhooks"
    )
    op.create_index(
        "ix_webhooks_deliveries_queue",
        "deliveries",
        ["subscription_id", "ordering_key", "stream_seq"],
        unique=False,
        schema="webhooks",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "attempts",
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), server_default="0", nullable=False),
        sa.Column("latency", sa.Interval(), nullable=True),
        sa.Column("error", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhooks.deliveries.delivery_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id", "number"),
        schema="webhooks",
    )


def downgrade() -> None:
    op.drop_table("attempts", schema="webhooks")
    op.drop_index(
        "ix_webhooks_deliveries_queue",
        table_name="deliveries",
        schema="webhooks",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_index("ix_webhooks_deliveries_log", table_name="deliveries", schema="webhooks")
    op.drop_index(
        "ix_webhooks_deliveries_finished",
        table_name="deliveries",
        schema="webhooks",
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.drop_index("ix_webhooks_deliveries_event_id", table_name="deliveries", schema="webhooks")
    op.drop_index(
        "ix_webhooks_deliveries_due",
        table_name="deliveries",
        schema="webhooks",
        postgresql_where=sa.text("is_head AND state = 'pending'"),
    )
    op.drop_table("deliveries", schema="webhooks")
    op.drop_index("ix_webhooks_subscriptions_created", table_name="subscriptions", schema="webhooks")
    op.drop_table("subscriptions", schema="webhooks")
    op.drop_table("events", schema="webhooks")
    drop_platform_tables("webhooks")
