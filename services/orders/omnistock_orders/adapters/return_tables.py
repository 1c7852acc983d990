"""The returns table of the orders schema: what comes back of an order, and what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

SCHEMA = "orders"


def _timestamp() -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()"))


class ReturnRow(SQLModel, table=True):
    __tablename__ = "returns"
    __table_args__ = (
        sa.Index("ix_orders_returns_created", "created_at", "return_id"),
        sa.Index("ix_orders_returns_order", "order_id", postgresql_where=sa.text("order_id <> ''")),
        sa.Index("ix_orders_returns_location", "location_id", "created_at", "return_id"),
        {"schema": SCHEMA},
    )

    return_id: str = Field(primary_key=True, sa_type=sa.Text)
    # Empty for a till return without an order.
    order_id: str = Field(default="", nullable=False, sa_type=sa.Text)
    channel: str = Field(nullable=False, sa_type=sa.Text)
    customer_id: str = Field(default="", nullable=False, sa_type=sa.Text)
    location_id: str = Field(nullable=False, sa_type=sa.Text)
    by_post: bool = Field(default=False, nullable=False)
    reason: str = Field(default="", nullable=False, sa_type=sa.Text)
    status: str = Field(nullable=False, sa_type=sa.Text)
    # [{"sku", "quantity", "restocked", "damaged", "written_off"}]
    lines: list[dict[str, Any]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    # Whole sets returned by their SKU, their parts among the lines:
    # [{"sku", "quantity", "components": [[part, per_set]], "restocked", "damaged", "written_off"}]
    sets: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    received_by: str = Field(default="", nullable=False, sa_type=sa.Text)
    cancel_reason: str = Field(default="", nullable=False, sa_type=sa.Text)
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
    received_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
