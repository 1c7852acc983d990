"""the units an edit after the pick gives back, recorded before inventory is asked

Revision ID: 0009_fulfilment
Revises: 0008_fulfilment
Create Date: 2027-03-16

An order edit that adds units to a task whose pick is confirmed has inventory give back what the
hold still has for them, then announces them short. edit_give_backs keeps, per task and edit (its
event id), the units asked for, committed before inventory is asked: the edit's event handled again
after a crash in between finishes from it instead of finding nothing left to give back.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_fulfilment"
down_revision: str | None = "0008_fulfilment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "edit_give_backs",
        sa.Column("task_id", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("units", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "cause"),
        schema="fulfilment",
    )


def downgrade() -> None:
    op.drop_table("edit_give_backs", schema="fulfilment")
