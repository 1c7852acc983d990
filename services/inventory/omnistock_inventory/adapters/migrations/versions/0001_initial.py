"""initial inventory schema

Revision ID: 0001_inventory
Revises:
Create Date: 2026-11-23 11:58:08.983570
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from omnistock_platform.migrations.platform_tables import create_platform_tables, drop_platform_tables

revision: str = "0001_inventory"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables("inventory", first_shape=True)
    op.create_table(
        "holds",
        sa.Column("hold_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("hold_id"),
        schema="inventory",
    )
    op.create_index(
        "ix_inventory_holds_active_expiry",
        "holds",
        ["expires_at"],
        unique=False,
        schema="inventory",
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index("ix_inventory_holds_owner", "holds", ["owner"], unique=False, schema="inventory")
    op.create_table(
        "locations",
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("city", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("routing_rank", sa.Integer(), nullable=False),
        sa.Column("ships", sa.Boolean(), nullable=False),
        sa.Column("pickup", sa.Boolean(), nullable=False),
        sa.Column("till_sales", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("location_id"),
        schema="inventory",
    )
    op.create_index(op.f("ix_inventory_locations_city"), "locations", ["city"], unique=False, schema="inventory")
    op.create_table(
        "movements",
        sa.Column("movement_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("on_hand_delta", sa.BigInteger(), nullable=False),
        sa.Column("held_delta", sa.BigInteger(), nullable=False),
        sa.Column("on_hand_after", sa.BigInteger(), nullable=False),
        sa.Column("held_after", sa.BigInteger(), nullable=False),
        sa.Column("safety_stock_after", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("hold_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("document_ref", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("movement_id"),
        schema="inventory",
    )
    op.create_index(
        "ix_inventory_movements_row_time", "movements", ["location_id", "sku", "at"], unique=False, schema="inventory"
    )
    op.create_table(
        "skus",
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("allow_backorder", sa.Boolean(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sku"),
        schema="inventory",
    )
    op.create_table(
        "hold_lines",
        sa.Column("hold_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("committed", sa.BigInteger(), nullable=False),
        sa.Column("released", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("committed + released <= quantity", name="hold_line_within_quantity"),
        sa.CheckConstraint("quantity > 0 AND committed >= 0 AND released >= 0", name="hold_line_quantities"),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["inventory.holds.hold_id"],
        ),
        sa.PrimaryKeyConstraint("hold_id", "location_id", "sku"),
        schema="inventory",
    )
    op.create_index(
        "ix_inventory_hold_lines_row", "hold_lines", ["location_id", "sku"], unique=False, schema="inventory"
    )
    op.create_table(
        "stock",
        sa.Column("location_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("safety_stock", sa.BigInteger(), nullable=False),
        sa.Column("incoming", sa.BigInteger(), nullable=False),
        sa.Column("next_incoming_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("held >= 0 AND held <= on_hand + incoming", name="stock_held_within_on_hand"),
        sa.CheckConstraint("on_hand >= 0", name="stock_on_hand_not_negative"),
        sa.CheckConstraint("safety_stock >= 0 AND incoming >= 0", name="stock_counters_not_negative"),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["inventory.locations.location_id"],
        ),
        sa.ForeignKeyConstraint(
            ["sku"],
            ["inventory.skus.sku"],
        ),
        sa.PrimaryKeyConstraint("location_id", "sku"),
        schema="inventory",
    )
    op.create_index("ix_inventory_stock_sku", "stock", ["sku"], unique=False, schema="inventory")


def downgrade() -> None:
    op.drop_index("ix_inventory_stock_sku", table_name="stock", schema="inventory")
    op.drop_table("stock", schema="inventory")
    op.drop_index("ix_inventory_hold_lines_row", table_name="hold_lines", schema="inventory")
    op.drop_table("hold_lines", schema="inventory")
    op.drop_table("skus", schema="inventory")
    op.drop_index("ix_inventory_movements_row_time", table_name="movements", schema="inventory")
    op.drop_table("movements", schema="inventory")
    op.drop_index(op.f("ix_inventory_locations_city"), table_name="locations", schema="inventory")
    op.drop_table("locations", schema="inventory")
    op.drop_index("ix_inventory_holds_owner", table_name="holds", schema="inventory")
    op.drop_index(
        "ix_inventory_holds_active_expiry",
        table_name="holds",
        schema="inventory",
        postgresql_where=sa.text("state = 'active'"),
    )
    op.drop_table("holds", schema="inventory")
    drop_platform_tables("inventory")
