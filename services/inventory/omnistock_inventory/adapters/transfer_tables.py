"""The tables of transfers (schema "inventory"), migrated by Alembic (revisions 0006_inventory, 0009_inventory,
0014_inventory, 0015_inventory).

A line keeps what it shipped and, once the transfer is received, how every shipped unit ended:
received (on hand at the destination, over included), damaged or short (written off). The database
holds a closed line to the balance of the domain (shipped + over = received + damaged + short).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

SCHEMA = "inventory"


def _now() -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class Transfer(SQLModel, table=True):
    """A transfer from one location to another and where it is in its life."""

    __tablename__ = "transfers"
    __table_args__ = (
        sa.CheckConstraint("origin_location_id <> destination_location_id", name="transfers_two_ends"),
        sa.CheckConstraint("status IN ('draft', 'shipped', 'received', 'cancelled')", name="transfers_status_known"),
        sa.Index("ix_inventory_transfers_origin", "origin_location_id", "created_at", "transfer_id"),
        sa.Index("ix_inventory_transfers_destination", "destination_location_id", "created_at", "transfer_id"),
        sa.Index("ix_inventory_transfers_created", "created_at", "transfer_id"),
        sa.Index(
            "ix_inventory_transfers_origin_hold", "origin_hold_id", postgresql_where=sa.text("origin_hold_id <> ''")
        ),
        sa.Index(
            "ix_inventory_transfers_due",
            "expected_arrival_at",
            postgresql_where=sa.text("status = 'shipped' AND overdue_at IS NULL"),
        ),
        {"schema": SCHEMA},
    )

    transfer_id: str = Field(primary_key=True, sa_type=sa.Text)
    origin_location_id: str = Field(sa_type=sa.Text, foreign_key=f"{SCHEMA}.locations.location_id")
    destination_location_id: str = Field(sa_type=sa.Text, foreign_key=f"{SCHEMA}.locations.location_id")
    # "draft", "shipped", "received" or "cancelled"
    status: str = Field(sa_type=sa.Text)
    expected_arrival_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # When inventory announced the shipped transfer overdue (past its expected arrival, not received).
    overdue_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    note: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    created_by: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(sa_column=_now())
    shipped_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    shipped_by: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    received_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    received_by: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    cancelled_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    cancelled_by: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    cancel_reason: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    updated_at: datetime = Field(sa_column=_now())
    # Ship to store: who the units are for, the hold at the origin until they ship, the hold at the
    # destination taken with the receipt, and how long that one lasts.
    hold_owner: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    origin_hold_id: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    arrival_hold_id: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    hold_for: timedelta = Field(
        default=timedelta(0), sa_type=sa.Interval, sa_column_kwargs={"server_default": sa.text("interval '0'")}
    )
    # The sets the transfer was asked for, each moving as its components (which are its lines):
    # [{"sku", "quantity", "components": {part: units per set}}]
    sets: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )


class TransferLineRow(SQLModel, table=True):
    """One SKU of a transfer: the quantity it moves and, once closed, how every unit ended."""

    __tablename__ = "transfer_lines"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="transfer_lines_quantity_positive"),
        sa.CheckConstraint(
            "received >= 0 AND damaged >= 0 AND short >= 0 AND over >= 0 AND (short = 0 OR over = 0)",
            name="transfer_lines_outcome_in_range",
        ),
        sa.CheckConstraint(
            "NOT closed OR quantity + over = received + damaged + short", name="transfer_lines_counted_once"
        ),
        {"schema": SCHEMA},
    )

    transfer_id: str = Field(primary_key=True, sa_type=sa.Text, foreign_key=f"{SCHEMA}.transfers.transfer_id")
    sku: str = Field(primary_key=True, sa_type=sa.Text, foreign_key=f"{SCHEMA}.skus.sku")
    quantity: int = Field(sa_type=sa.BigInteger)
    received: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    damaged: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    short: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    over: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    closed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
