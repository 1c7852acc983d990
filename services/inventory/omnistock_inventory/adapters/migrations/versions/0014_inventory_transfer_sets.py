"""transfers: the sets a transfer was asked for

Revision ID: 0014_inventory
Revises: 0012_inventory
Create Date: 2027-03-15

A transfer moves physical units: a line naming a set (a bundle SKU) is expanded into its components
when the transfer is created, and the set is kept on the transfer beside those lines (JSON: SKU,
sets, units per set of each component) so that its movements are explained. Existing transfers have
none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_inventory"
down_revision: str | None = "0012_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "transfers",
        sa.Column(
            "sets", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        schema="inventory",
    )


def downgrade() -> None:
    op.drop_column("transfers", "sets", schema="inventory")
