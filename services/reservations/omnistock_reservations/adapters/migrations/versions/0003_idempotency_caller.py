"""record who sent each request id: a stored answer is its caller's alone

Revision ID: 0003_reservations
Revises: 0002_reservations
Create Date: 2027-01-18

The idempotency store binds a request id to its caller (omnistock_platform.idempotency.caller_key):
the caller is part of the fingerprint, and kept in its own column so that a change cut short by a
crash is finished on behalf of whoever began it. Rows from before have the caller "": their
fingerprints name no caller, so a replay of one is refused rather than answered.
"""

from __future__ import annotations

from collections.abc import Sequence

from omnistock_platform.migrations.platform_tables import add_idempotency_caller, drop_idempotency_caller

revision: str = "0003_reservations"
down_revision: str | None = "0002_reservations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_idempotency_caller("reservations")


def downgrade() -> None:
    drop_idempotency_caller("reservations")
