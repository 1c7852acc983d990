"""keep the request of a change begun before another service acts

Revision ID: 0002_orders
Revises: 0001_orders
Create Date: 2026-11-23

A change that asks another service to act before writing its own part stores its request id
before the call; with the request kept too, the service finishes the change itself when its
caller never comes back (omnistock_platform.resuming).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_orders"
down_revision: str | None = "0001_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("idempotency", sa.Column("request", sa.LargeBinary(), nullable=True), schema="orders")


def downgrade() -> None:
    op.drop_column("idempotency", "request", schema="orders")
