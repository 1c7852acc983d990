"""order edits: whether an allocation's pick task has started

Revision ID: 0006_orders
Revises: 0005_orders
Create Date: 2027-03-01

An edit never takes units out of a picker's hands: fulfilment's task events mark the allocation
whose picking started, and EditOrder leaves those allocations as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_orders"
down_revision: str | None = "0005_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "allocations",
        sa.Column("picking_started", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema="orders",
    )


def downgrade() -> None:
    op.drop_column("allocations", "picking_started", schema="orders")
