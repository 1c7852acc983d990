"""fulfilment holds: an order or one of its allocations waits, its stock still held

Revision ID: 0005_orders
Revises: 0004_orders
Create Date: 2027-02-08

The holds are kept with their order (a JSON list, written under the order's row lock like every
other change of it); hold_expires_at is when the first active one runs out, so the expiry sweep
finds the orders it has to act on through a small partial index.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_orders"
down_revision: str | None = "0004_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column("fulfilment_holds", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        schema="orders",
    )
    op.add_column("orders", sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True), schema="orders")
    op.create_index(
        "ix_orders_orders_hold_expires",
        "orders",
        ["hold_expires_at"],
        unique=False,
        schema="orders",
        postgresql_where=sa.text("hold_expires_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_orders_orders_hold_expires",
        table_name="orders",
        schema="orders",
        postgresql_where=sa.text("hold_expires_at IS NOT NULL"),
    )
    op.drop_column("orders", "hold_expires_at", schema="orders")
    op.drop_column("orders", "fulfilment_holds", schema="orders")
