"""The tables of cycle counts (schema "inventory"), migrated by Alembic (revision 0005_inventory)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

SCHEMA = "inventory"


def _now() -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class CountSession(SQLModel, table=True):
    """A count session at one location: its scope, threshold and where it is in its life."""

    __tablename__ = "counts"
    __table_args__ = (
        sa.CheckConstraint("variance_threshold >= 0", name="counts_threshold_not_negative"),
        sa.Index("ix_inventory_counts_location", "location_id", "created_at", "count_id"),
        sa.Index("ix_inventory_counts_created", "created_at", "count_id"),
        {"schema": SCHEMA},
    )

    count_id: str = Field(primary_key=True, sa_type=sa.Text)
    location_id: str = Field(sa_type=sa.Text, foreign_key=f"{SCHEMA}.locations.location_id")
    # "all", "skus" or "attributes"
    scope: str = Field(sa_type=sa.Text)
    skus: list[str] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="[]"))
    attributes: dict[str, str] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}"))
    variance_threshold: int = Field(sa_type=sa.BigInteger)
    note: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    # "open", "in_review", "completed" or "cancelled"
    status: str = Field(sa_type=sa.Text)
    created_by: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(sa_column=_now())
    reviewed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    closed_by: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    cancel_reason: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    updated_at: datetime = Field(sa_column=_now())


class CountLineRow(SQLModel, table=True):
    """One SKU of a count. Once counted it keeps the ledger position (the stock row's version) and the
    book on hand of that moment, and the database holds its variance to counted - book."""

    __tablename__ = "count_lines"
    __table_args__ = (
        sa.CheckConstraint(
            "counted IS NULL OR (counted >= 0 AND book_on_hand IS NOT NULL AND version IS NOT NULL"
            " AND variance = counted - book_on_hand)",
            name="count_lines_variance_exact",
        ),
        sa.CheckConstraint("movement_id IS NULL OR counted IS NOT NULL", name="count_lines_posted_when_counted"),
        sa.Index(
            "ux_inventory_count_lines_movement",
            "movement_id",
            unique=True,
            postgresql_where=sa.text("movement_id IS NOT NULL"),
        ),
        {"schema": SCHEMA},
    )

    count_id: str = Field(primary_key=True, sa_type=sa.Text, foreign_key=f"{SCHEMA}.counts.count_id")
    sku: str = Field(primary_key=True, sa_type=sa.Text)
    # "uncounted", "counted", "needs_review", "confirmed" or "approved"
    status: str = Field(sa_type=sa.Text)
    counted: int | None = Field(default=None, sa_type=sa.BigInteger)
    book_on_hand: int | None = Field(default=None, sa_type=sa.BigInteger)
    version: int | None = Field(default=None, sa_type=sa.BigInteger)
    variance: int | None = Field(default=None, sa_type=sa.BigInteger)
    # The variance of the scan before the latest one: a recount that finds it again confirms it.
    previous_variance: int | None = Field(default=None, sa_type=sa.BigInteger)
    counted_by: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    counted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    recounts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    zeroed: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    approved_by: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    movement_id: int | None = Field(default=None, sa_type=sa.BigInteger)
