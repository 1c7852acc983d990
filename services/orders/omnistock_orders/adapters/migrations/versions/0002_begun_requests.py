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

from omnistock_platform.migrations.platform_tables import add_begun_requests, drop_begun_requests

revision: str = "0002_orders"
down_revision: str | None = "0001_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_begun_requests("orders")


def downgrade() -> None:
    drop_begun_requests("orders")
