"""ship to store: a reservation may wait for a transfer that brings its units to the store

Revision ID: 0006_reservations
Revises: 0004_reservations
Create Date: 2027-03-01

A new open status, awaiting_transfer: the status constraint and the open pickup codes' unique index
take it in. transfer_origin_id is written before the transfer is asked for (so a retry asks the same
origin), transfer_id and promised_at once it exists.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006_reservations"
down_revision: str | None = "0004_reservations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ("active", "cancelled", "collected", "converted", "expired", "failed", "pending", "ready_for_pickup")
_NEW = tuple(sorted((*_OLD, "awaiting_transfer")))
_OPEN_OLD = ("active", "pending", "ready_for_pickup")
_OPEN_NEW = ("active", "awaiting_transfer", "pending", "ready_for_pickup")


def _sql(statuses: tuple[str, ...]) -> str:
    return ", ".join(f"'{status}'" for status in statuses)


def _constraints(statuses: tuple[str, ...], open_statuses: tuple[str, ...]) -> None:
    op.drop_constraint("reservation_status_known", "reservations", schema="reservations", type_="check")
    op.create_check_constraint(
        "reservation_status_known", "reservations", f"status IN ({_sql(statuses)})", schema="reservations"
    )
    op.drop_index("uq_reservations_open_pickup_code", table_name="reservations", schema="reservations")
    op.create_index(
        "uq_reservations_open_pickup_code",
        "reservations",
        ["store_id", "pickup_code"],
        unique=True,
        schema="reservations",
        postgresql_where=sa.text(f"status IN ({_sql(open_statuses)})"),
    )


def upgrade() -> None:
    op.add_column(
        "reservations",
        sa.Column("allow_ship_to_store", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema="reservations",
    )
    for column in ("transfer_origin_id", "transfer_id"):
        op.add_column(
            "reservations",
            sa.Column(column, sqlmodel.sql.sqltypes.AutoString(), server_default="", nullable=False),
            schema="reservations",
        )
    op.add_column(
        "reservations", sa.Column("promised_at", sa.DateTime(timezone=True), nullable=True), schema="reservations"
    )
    _constraints(_NEW, _OPEN_NEW)


def downgrade() -> None:
    _constraints(_OLD, _OPEN_OLD)
    for column in ("promised_at", "transfer_id", "transfer_origin_id", "allow_ship_to_store"):
        op.drop_column("reservations", column, schema="reservations")
