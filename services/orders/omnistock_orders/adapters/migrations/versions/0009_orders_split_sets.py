"""orders: splittable sets ordered as their parts

Revision ID: 0009_orders
Revises: 0008_orders
Create Date: 2027-04-02

A set with allow_split is ordered as its parts (one line per component, naming the set in its
"part_of"), so that routing may take each part from another location; the set itself (its sets,
price and components at placement) is kept beside the lines, as JSON. Existing orders have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_orders"
down_revision: str | None = "0008_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column(
            "sets", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        schema="orders",
    )


def downgrade() -> None:
    op.drop_column("orders", "sets", schema="orders")
