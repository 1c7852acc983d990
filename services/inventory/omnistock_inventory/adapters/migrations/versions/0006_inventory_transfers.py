"""transfers: transfers between locations and their lines

Revision ID: 0006_inventory
Revises: 0005_inventory
Create Date: 2027-02-15

A transfer moves SKUs from an origin to a different destination; a closed line accounts for every
shipped unit exactly once (shipped + over = received + damaged + short), held by a check constraint.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_inventory"
down_revision: str | None = "0005_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Units shipped to a location on transfers and not yet received: shown as incoming there.
    op.add_column(
        "stock", sa.Column("in_transit", sa.BigInteger(), server_default="0", nullable=False), schema="inventory"
    )
    op.create_check_constraint("stock_in_transit_not_negative", "stock", "in_transit >= 0", schema="inventory")
    op.create_table(
        "transfers",
        sa.Column("transfer_id", sa.Text(), nullable=False),
        sa.Column("origin_location_id", sa.Text(), nullable=False),
        sa.Column("destination_location_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("expected_arrival_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_by", sa.Text(), server_default="", nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.Text(), server_default="", nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.Text(), server_default="", nullable=False),
        sa.Column("cancel_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("origin_location_id <> destination_location_id", name="transfers_two_ends"),
        sa.CheckConstraint("status IN ('draft', 'shipped', 'received', 'cancelled')", name="transfers_status_known"),
        sa.ForeignKeyConstraint(["origin_location_id"], ["inventory.locations.location_id"]),
        sa.ForeignKeyConstraint(["destination_location_id"], ["inventory.locations.location_id"]),
        sa.PrimaryKeyConstraint("transfer_id"),
        schema="inventory",
    )
    op.create_index(
        "ix_inventory_transfers_created", "transfers", ["created_at", "transfer_id"], unique=False, schema="inventory"
    )
    op.create_index(
        "ix_inventory_transfers_origin",
        "transfers",
        ["origin_location_id", "created_at", "transfer_id"],
        unique=False,
        schema="inventory",
    )
    op.create_index(
        "ix_inventory_transfers_destination",
        "transfers",
        ["destination_location_id", "created_at", "transfer_id"],
        unique=False,
        schema="inventory",
    )
    op.create_table(
        "transfer_lines",
        sa.Column("transfer_id", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("damaged", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("short", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("over", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("closed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("quantity > 0", name="transfer_lines_quantity_positive"),
        sa.CheckConstraint(
            "received >= 0 AND damaged >= 0 AND short >= 0 AND over >= 0 AND (short = 0 OR over = 0)",
            name="transfer_lines_outcome_in_range",
        ),
        sa.CheckConstraint(
            "NOT closed OR quantity + over = received + damaged + short", name="transfer_lines_counted_once"
        ),
        sa.ForeignKeyConstraint(["transfer_id"], ["inventory.transfers.transfer_id"]),
        sa.ForeignKeyConstraint(["sku"], ["inventory.skus.sku"]),
        sa.PrimaryKeyConstraint("transfer_id", "sku"),
        schema="inventory",
    )


def downgrade() -> None:
    op.drop_table("transfer_lines", schema="inventory")
    op.drop_index("ix_inventory_transfers_destination", table_name="transfers", schema="inventory")
    op.drop_index("ix_inventory_transfers_origin", table_name="transfers", schema="inventory")
    op.drop_index("ix_inventory_transfers_created", table_name="transfers", schema="inventory")
    op.drop_table("transfers", schema="inventory")
    op.drop_constraint("stock_in_transit_not_negative", "stock", schema="inventory")
    op.drop_column("stock", "in_transit", schema="inventory")
