"""The fulfilment schema: tasks, tombstones, and the platform's outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from omnistock_platform.migrations.platform_tables import create_platform_tables, drop_platform_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "fulfilment"


def upgrade() -> None:
    create_platform_tables(SCHEMA, first_shape=True)
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source_key", sa.Text(), nullable=False),
        sa.Column("location_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("allocation_id", sa.Text(), nullable=False),
        sa.Column("reservation_id", sa.Text(), nullable=False),
        sa.Column("hold_id", sa.Text(), nullable=False),
        sa.Column("pickup_code", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("promise_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("carrier", sa.Text(), nullable=False),
        sa.Column("tracking_number", sa.Text(), nullable=False),
        sa.Column("withdrawn_reason", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("task_id"),
        sa.UniqueConstraint("kind", "source_key", name="uq_fulfilment_tasks_source"),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_fulfilment_tasks_order",
        "tasks",
        ["order_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("order_id <> ''"),
    )
    op.create_index(
        "ix_fulfilment_tasks_reservation",
        "tasks",
        ["reservation_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("reservation_id <> ''"),
    )
    op.create_index(
        "ix_fulfilment_tasks_worklist",
        "tasks",
        ["location_id", "promise_at", "created_at", "task_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "tombstones",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("tombstones", schema=SCHEMA)
    op.drop_table("tasks", schema=SCHEMA)
    drop_platform_tables(SCHEMA)
