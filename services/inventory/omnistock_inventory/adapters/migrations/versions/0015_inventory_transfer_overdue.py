"""transfers: when a shipped transfer was announced overdue

Revision ID: 0015_inventory
Revises: 0014_inventory
Create Date: 2027-04-02

A shipped transfer that passes its expected arrival without being received is announced once
(`inventory.transfer.overdue`), by inventory's sweep: `overdue_at` says it was, so no transfer is
announced twice. The index finds the shipped transfers not yet announced by their expected arrival.
Existing transfers have none: those already overdue are announced by the first sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_inventory"
down_revision: str | None = "0014_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("transfers", sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True), schema="inventory")
    op.create_index(
        "ix_inventory_transfers_due",
        "transfers",
        ["expected_arrival_at"],
        unique=False,
        schema="inventory",
        postgresql_where=sa.text("status = 'shipped' AND overdue_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_inventory_transfers_due", table_name="transfers", schema="inventory")
    op.drop_column("transfers", "overdue_at", schema="inventory")
