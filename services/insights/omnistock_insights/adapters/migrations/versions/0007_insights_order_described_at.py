"""an edited order counts as edited

Revision ID: 0007_insights
Revises: 0006_insights
Create Date: 2027-03-15

An order's units and revenue are those of its latest description (the order's updated_at in its
event), not of the first event seen: an order edited after it was placed counts its new lines.
Orders counted before keep their figures until their next event, or a rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_insights"
down_revision: str | None = "0006_insights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "order_facts", sa.Column("described_at", sa.DateTime(timezone=True), nullable=True), schema="insights"
    )


def downgrade() -> None:
    op.drop_column("order_facts", "described_at", schema="insights")
