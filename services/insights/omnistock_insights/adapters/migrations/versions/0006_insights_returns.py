"""returns in the figures

Revision ID: 0006_insights
Revises: 0005_insights
Create Date: 2027-03-01

The daily sheet counts returns authorised and received, and the units received by what inspection
found (restocked, damaged, written off); the return rate is units returned over units sold. A
rebuild fills them from the stream like every other figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_insights"
down_revision: str | None = "0005_insights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAILY = (
    "returns_authorised",
    "returns_received",
    "units_returned",
    "units_restocked",
    "units_damaged",
    "units_written_off",
)


def upgrade() -> None:
    for name in DAILY:
        op.add_column("daily", sa.Column(name, sa.BigInteger(), server_default="0", nullable=False), schema="insights")


def downgrade() -> None:
    for name in reversed(DAILY):
        op.drop_column("daily", name, schema="insights")
