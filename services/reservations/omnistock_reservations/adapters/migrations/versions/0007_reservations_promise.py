"""promise: when the customer can collect a reservation, as promised when it was made

Revision ID: 0007_reservations
Revises: 0006_reservations
Create Date: 2026-12-06

The promise (docs/promises.md) in JSON: kind, moment, location, time zone, local date and time,
and its wording; moved when a transfer arrives later than promised. Null for reservations made
before promises were, and while pending or failed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_reservations"
down_revision: str | None = "0006_reservations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reservations", sa.Column("promise", postgresql.JSONB(), nullable=True), schema="reservations")


def downgrade() -> None:
    op.drop_column("reservations", "promise", schema="reservations")
