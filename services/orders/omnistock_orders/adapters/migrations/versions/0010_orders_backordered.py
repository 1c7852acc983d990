"""orders: backordered orders found oldest first

Revision ID: 0010_orders
Revises: 0009_orders
Create Date: 2027-04-20

Backordered units are filled when stock comes, oldest order first: the orders waiting are read by
creation among the backordered ones only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_orders"
down_revision: str | None = "0009_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_orders_backordered",
        "orders",
        ["created_at", "order_id"],
        schema="orders",
        postgresql_where=sa.text("status = 'backordered'"),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_orders_backordered", table_name="orders", schema="orders")
