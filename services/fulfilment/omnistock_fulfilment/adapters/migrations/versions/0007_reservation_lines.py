"""the newest lines of each reservation: a late event is prepared as of the newest

Revision ID: 0007_fulfilment
Revises: 0006_fulfilment
Create Date: 2027-03-02

reservation_lines keeps the lines each reservation's newest event said (by the reservation's
updated_at, which reservations' events carry from this release on): a reservation made and then
shortened can be heard in the other order (a retry waits while later events go ahead), and its task
is made, or its lines changed, as the newest event says. Events without updated_at (an older
reservations service) are read as they come.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_fulfilment"
down_revision: str | None = "0006_fulfilment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reservation_lines",
        sa.Column("reservation_id", sa.Text(), nullable=False),
        sa.Column("version", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("reservation_id"),
        schema="fulfilment",
    )


def downgrade() -> None:
    op.drop_table("reservation_lines", schema="fulfilment")
