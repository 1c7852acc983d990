"""returns: whole sets returned by their SKU

Revision ID: 0008_orders
Revises: 0007_orders
Create Date: 2027-03-15

A return may name a set (a bundle SKU) the order delivered: its parts are among the return's lines
(the units that move stock), and the set itself is kept beside them, as JSON, so that a reader sees
what the customer brought back. Existing returns have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_orders"
down_revision: str | None = "0007_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "returns",
        sa.Column(
            "sets", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        schema="orders",
    )


def downgrade() -> None:
    op.drop_column("returns", "sets", schema="orders")
