"""fulfilment holds: tasks of an order on hold wait, blocked

Revision ID: 0005_fulfilment
Revises: 0004_fulfilment
Create Date: 2027-02-08

Fulfilment keeps what the orders' events last said of each order's active fulfilment holds
(order_holds, newest event wins) and marks the order's unfinished tasks with the reason they wait
(tasks.hold_reason); a task with a reason takes no step until the hold is released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_fulfilment"
down_revision: str | None = "0004_fulfilment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_holds",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("version", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("order_id"),
        schema="fulfilment",
    )
    op.add_column("tasks", sa.Column("hold_reason", sa.Text(), server_default="", nullable=False), schema="fulfilment")


def downgrade() -> None:
    op.drop_column("tasks", "hold_reason", schema="fulfilment")
    op.drop_table("order_holds", schema="fulfilment")
