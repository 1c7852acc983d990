"""the newest allocations of each order: a late event is read as of the newest

Revision ID: 0006_fulfilment
Revises: 0005_fulfilment
Create Date: 2027-03-01

Beside the order's fulfilment holds, order_holds keeps each allocation as the newest event said it
(its lines while held, null once it is not). An event handled after a newer one (a retry, or one
handled by another copy of the service) makes or changes tasks as the newest event says, never as
it said itself. Null on rows written before this revision: their events are read as they come.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_fulfilment"
down_revision: str | None = "0005_fulfilment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "order_holds",
        sa.Column("allocations", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="fulfilment",
    )


def downgrade() -> None:
    op.drop_column("order_holds", "allocations", schema="fulfilment")
