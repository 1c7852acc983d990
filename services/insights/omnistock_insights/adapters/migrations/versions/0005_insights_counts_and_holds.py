"""cycle counts and fulfilment holds in the figures

Revision ID: 0005_insights
Revises: 0004_insights
Create Date: 2027-02-08

The daily sheet counts completed cycle counts (lines counted, lines matching the book, units over
and short) and orders put on a fulfilment hold (and those a hold cancelled); an order's fact
remembers whether it was held. A rebuild fills them from the stream like every other figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_insights"
down_revision: str | None = "0004_insights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAILY = (
    "counts_completed",
    "count_lines",
    "count_lines_matched",
    "count_units_over",
    "count_units_short",
    "orders_held",
    "orders_hold_expired",
)
FACTS = ("held", "hold_expired")


def upgrade() -> None:
    for name in DAILY:
        op.add_column("daily", sa.Column(name, sa.BigInteger(), server_default="0", nullable=False), schema="insights")
    for name in FACTS:
        op.add_column(
            "order_facts",
            sa.Column(name, sa.Boolean(), server_default=sa.text("false"), nullable=False),
            schema="insights",
        )


def downgrade() -> None:
    for name in reversed(FACTS):
        op.drop_column("order_facts", name, schema="insights")
    for name in reversed(DAILY):
        op.drop_column("daily", name, schema="insights")
