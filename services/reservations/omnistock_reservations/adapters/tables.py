"""Reservations' tables (schema "reservations"), migrated by Alembic."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from omnistock_platform.tables import platform_tables
from omnistock_reservations.domain.status import OPEN, Status

SCHEMA = "reservations"
platform_tables(SCHEMA)


def _sql_list(statuses: frozenset[Status] | set[Status]) -> str:
    return ", ".join(f"'{status.value}'" for status in sorted(statuses))


OPEN_SQL = _sql_list(OPEN)
HOLDING_SQL = _sql_list({Status.ACTIVE, Status.READY_FOR_PICKUP})
ALL_SQL = _sql_list(set(Status))


def _now() -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class Reservation(SQLModel, table=True):
    __tablename__ = "reservations"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({ALL_SQL})", name="reservation_status_known"),
        # A pickup code names one open reservation at its store; closed ones free it again.
        sa.Index(
            "uq_reservations_open_pickup_code",
            "store_id",
            "pickup_code",
            unique=True,
            postgresql_where=sa.text(f"status IN ({OPEN_SQL})"),
        ),
        sa.Index("ix_reservations_store_created", "store_id", "created_at", "reservation_id"),
        sa.Index("ix_reservations_customer_created", "customer_id", "created_at", "reservation_id"),
        sa.Index("ix_reservations_created", "created_at", "reservation_id"),
        sa.Index("ix_reservations_pending", "created_at", postgresql_where=sa.text("status = 'pending'")),
        sa.Index(
            "ix_reservations_holding_expiry", "expires_at", postgresql_where=sa.text(f"status IN ({HOLDING_SQL})")
        ),
        {"schema": SCHEMA},
    )

    reservation_id: str = Field(primary_key=True)
    # The create request: a retry finds its reservation by this, and must match the fingerprint.
    request_id: str = Field(sa_column=sa.Column(sa.Text, nullable=False, unique=True))
    request_fingerprint: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    channel: str
    customer_id: str
    customer_name: str = ""
    customer_email: str = ""
    customer_phone: str = ""
    store_id: str
    pickup_code: str
    status: str
    hold_for: timedelta = Field(sa_column=sa.Column(sa.Interval, nullable=False))
    hold_id: str = ""
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    ready_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    order_id: str = ""
    cancel_reason: str = ""
    # Why it FAILED (the shortfall and alternatives), replayed to a retried request.
    failure: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB, nullable=True))
    # Ship to store: allowed by the caller; the origin chosen (written before the transfer is asked
    # for, so a retry asks the same one), the transfer and the arrival it promises.
    allow_ship_to_store: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    transfer_origin_id: str = Field(default="", sa_column_kwargs={"server_default": ""})
    transfer_id: str = Field(default="", sa_column_kwargs={"server_default": ""})
    promised_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # When the customer can collect it (docs/promises.md), in JSON (migration 0007_reservations).
    promise: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB, nullable=True))
    # Last time reconciliation compared it with its hold in inventory.
    verified_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(sa_column=_now())
    updated_at: datetime = Field(sa_column=_now())


class ReservationLine(SQLModel, table=True):
    __tablename__ = "reservation_lines"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="reservation_line_quantity_positive"),
        sa.UniqueConstraint("reservation_id", "sku", name="uq_reservation_lines_sku"),
        {"schema": SCHEMA},
    )

    reservation_id: str = Field(primary_key=True, foreign_key=f"{SCHEMA}.reservations.reservation_id")
    line_no: int = Field(primary_key=True)
    sku: str
    quantity: int = Field(sa_type=sa.BigInteger)
