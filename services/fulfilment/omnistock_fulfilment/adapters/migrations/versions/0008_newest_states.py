"""one table of the newest state heard of each order and reservation

Revision ID: 0008_fulfilment
Revises: 0007_fulfilment
Create Date: 2027-03-09

order_holds (an order's fulfilment holds and allocations, revisions 0005 and 0006) and
reservation_lines (a reservation's lines, revision 0007) both kept what the newest event of their
source said, each with an upsert of its own. newest_states keeps both, keyed by (source_kind,
source_id), with the version and the state as JSON: an order's {"holds", "allocations"}, a
reservation's {"lines"}. Their rows are copied into it and the two tables dropped; the downgrade
copies them back.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_fulfilment"
down_revision: str | None = "0007_fulfilment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "newest_states",
        sa.Column("source_kind", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("version", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("source_kind", "source_id"),
        schema="fulfilment",
    )
    op.execute(
        "INSERT INTO fulfilment.newest_states (source_kind, source_id, version, state)"
        " SELECT 'order', order_id, version, jsonb_build_object('holds', holds, 'allocations', allocations)"
        " FROM fulfilment.order_holds"
    )
    op.execute(
        "INSERT INTO fulfilment.newest_states (source_kind, source_id, version, state)"
        " SELECT 'reservation', reservation_id, version, jsonb_build_object('lines', lines)"
        " FROM fulfilment.reservation_lines"
    )
    op.drop_table("reservation_lines", schema="fulfilment")
    op.drop_table("order_holds", schema="fulfilment")


def downgrade() -> None:
    op.create_table(
        "order_holds",
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("version", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("allocations", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("order_id"),
        schema="fulfilment",
    )
    op.create_table(
        "reservation_lines",
        sa.Column("reservation_id", sa.Text(), nullable=False),
        sa.Column("version", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("reservation_id"),
        schema="fulfilment",
    )
    # Allocations not known (null) come back as SQL NULL, as those rows had them.
    op.execute(
        "INSERT INTO fulfilment.order_holds (order_id, version, holds, allocations)"
        " SELECT source_id, version, state -> 'holds', nullif(state -> 'allocations', 'null'::jsonb)"
        " FROM fulfilment.newest_states WHERE source_kind = 'order'"
    )
    op.execute(
        "INSERT INTO fulfilment.reservation_lines (reservation_id, version, lines)"
        " SELECT source_id, version, state -> 'lines' FROM fulfilment.newest_states WHERE source_kind = 'reservation'"
    )
    op.drop_table("newest_states", schema="fulfilment")
