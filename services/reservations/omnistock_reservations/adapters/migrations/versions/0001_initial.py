"""initial reservations schema

Revision ID: 0001_reservations
Revises:
Create Date: 2026-11-23 12:07:58.942454
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from omnistock_platform.migrations.platform_tables import create_platform_tables, drop_platform_tables

revision: str = "0001_reservations"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables("reservations", first_shape=True)
    op.create_table(
        "reservations",
        sa.Column("reservation_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("request_fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("customer_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("customer_email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("customer_phone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("store_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pickup_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("hold_for", sa.Interval(), nullable=False),
        sa.Column("hold_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("failure", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'cancelled', 'collected', 'converted', 'expired', 'failed', 'pending', 'ready_for_pickup')",
            name="reservation_status_known",
        ),
        sa.PrimaryKeyConstraint("reservation_id"),
        sa.UniqueConstraint("request_id"),
        schema="reservations",
    )
    op.create_index(
        "ix_reservations_created", "reservations", ["created_at", "reservation_id"], unique=False, schema="reservations"
    )
    op.create_index(
        "ix_reservations_customer_created",
        "reservations",
        ["customer_id", "created_at", "reservation_id"],
        unique=False,
        schema="reservations",
    )
    op.create_index(
        "ix_reservations_holding_expiry",
        "reservations",
        ["expires_at"],
        unique=False,
        schema="reservations",
        postgresql_where=sa.text("status IN ('active', 'ready_for_pickup')"),
    )
    op.create_index(
        "ix_reservations_pending",
        "reservations",
        ["created_at"],
        unique=False,
        schema="reservations",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_reservations_store_created",
        "reservations",
        ["store_id", "created_at", "reservation_id"],
        unique=False,
        schema="reservations",
    )
    op.create_index(
        "uq_reservations_open_pickup_code",
        "reservations",
        ["store_id", "pickup_code"],
        unique=True,
        schema="reservations",
        postgresql_where=sa.text("status IN ('active', 'pending', 'ready_for_pickup')"),
    )
    op.create_table(
        "reservation_lines",
        sa.Column("reservation_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="reservation_line_quantity_positive"),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["reservations.reservations.reservation_id"],
        ),
        sa.PrimaryKeyConstraint("reservation_id", "line_no"),
        sa.UniqueConstraint("reservation_id", "sku", name="uq_reservation_lines_sku"),
        schema="reservations",
    )


def downgrade() -> None:
    op.drop_table("reservation_lines", schema="reservations")
    op.drop_index(
        "uq_reservations_open_pickup_code",
        table_name="reservations",
        schema="reservations",
        postgresql_where=sa.text("status IN ('active', 'pending', 'ready_for_pickup')"),
    )
    op.drop_index("ix_reservations_store_created", table_name="reservations", schema="reservations")
    op.drop_index(
        "ix_reservations_pending",
        table_name="reservations",
        schema="reservations",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_reservations_holding_expiry",
        table_name="reservations",
        schema="reservations",
        postgresql_where=sa.text("status IN ('active', 'ready_for_pickup')"),
    )
    op.drop_index("ix_reservations_customer_created", table_name="reservations", schema="reservations")
    op.drop_index("ix_reservations_created", table_name="reservations", schema="reservations")
    op.drop_table("reservations", schema="reservations")
    drop_platform_tables("reservations")
