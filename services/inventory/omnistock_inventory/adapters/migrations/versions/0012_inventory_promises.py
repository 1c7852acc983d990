"""promise settings: each location's calendar and lead times, for promise dates

Revision ID: 0012_inventory
Revises: 0013_inventory
Create Date: 2026-12-06

A location's time zone, opening hours, pickup preparation time, order cut-off and carrier lead
times per destination region (docs/promises.md), as the PromiseSettings message in JSON
(field names as in the proto); empty: the defaults (open around the clock in UTC, deliveries in
2 business days). Text, not jsonb: the stock view reads locations rows whole as composite
values, and asyncpg decodes no jsonb inside one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_inventory"
down_revision: str | None = "0013_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "locations",
        sa.Column("promise_settings", sa.Text(), nullable=False, server_default=""),
        schema="inventory",
    )


def downgrade() -> None:
    op.drop_column("locations", "promise_settings", schema="inventory")
