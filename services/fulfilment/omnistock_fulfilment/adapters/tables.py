"""The fulfilment schema: tasks, and tombstones of work withdrawn before it was announced."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from omnistock_platform.tables import platform_tables

SCHEMA = "fulfilment"


class TaskRow(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        # One task per kind and source (order allocation or reservation), however often it is announced.
        sa.UniqueConstraint("kind", "source_key", name="uq_fulfilment_tasks_source"),
        sa.Index("ix_fulfilment_tasks_worklist", "location_id", "promise_at", "created_at", "task_id"),
        sa.Index("ix_fulfilment_tasks_order", "order_id", postgresql_where=sa.text("order_id <> ''")),
        sa.Index("ix_fulfilment_tasks_reservation", "reservation_id", postgresql_where=sa.text("reservation_id <> ''")),
        {"schema": SCHEMA},
    )

    task_id: str = Field(primary_key=True, sa_type=sa.Text)
    kind: str = Field(nullable=False, sa_type=sa.Text)
    source_key: str = Field(nullable=False, sa_type=sa.Text)
    location_id: str = Field(nullable=False, sa_type=sa.Text)
    status: str = Field(nullable=False, sa_type=sa.Text)
    order_id: str = Field(default="", nullable=False, sa_type=sa.Text)
    allocation_id: str = Field(default="", nullable=False, sa_type=sa.Text)
    reservation_id: str = Field(default="", nullable=False, sa_type=sa.Text)
    hold_id: str = Field(default="", nullable=False, sa_type=sa.Text)
    pickup_code: str = Field(default="", nullable=False, sa_type=sa.Text)
    method: str = Field(default="unspecified", nullable=False, sa_type=sa.Text)
    # [{"sku": ..., "quantity": ..., "picked": ...}]; a bundle's line also "components": [[sku, units per set], ...]
    lines: list[dict[str, Any]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    promise_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    carrier: str = Field(default="", nullable=False, sa_type=sa.Text)
    tracking_number: str = Field(default="", nullable=False, sa_type=sa.Text)
    withdrawn_reason: str = Field(default="", nullable=False, sa_type=sa.Text)
    # Why the order's work waits (a fulfilment hold); "": it does not. A task on hold takes no step.
    hold_reason: str = Field(default="", nullable=False, sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()"))
    )
    # Strictly increases with every change of the row: watchers use it as the task's version.
    updated_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()"))
    )


class TombstoneRow(SQLModel, table=True):
    """An order or reservation whose work was withdrawn: a late announcement must not bring it back."""

    __tablename__ = "tombstones"
    __table_args__ = ({"schema": SCHEMA},)

    source: str = Field(primary_key=True, sa_type=sa.Text)
    reason: str = Field(nullable=False, sa_type=sa.Text)
    created_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))
    )


class OrderHoldsRow(SQLModel, table=True):
    """What fulfilment last heard of an order's active fulfilment holds (from its events, newest wins)."""

    __tablename__ = "order_holds"
    __table_args__ = ({"schema": SCHEMA},)

    order_id: str = Field(primary_key=True, sa_type=sa.Text)
    # The order's updated_at in the event: an older event never overwrites a newer one.
    version: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # [{"allocation_id": "" (the whole order) or an allocation, "reason": "payment_pending" ...}]
    holds: list[dict[str, Any]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    # {allocation_id: {"location_id", "hold_id", "lines": [[sku, units], ...]} while held, null once
    # not}, as the newest event said; null where not known (rows older than revision 0006).
    allocations: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB, nullable=True))
    # When the newest event promised the customer the goods; null when it promised nothing (or for
    # rows older than revision 0008).
    promised_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))


class ReservationLinesRow(SQLModel, table=True):
    """The lines a reservation keeps as its newest event said (a transfer or units in transit can
    leave it fewer): a reservation's event handled after a newer one prepares what the newer says."""

    __tablename__ = "reservation_lines"
    __table_args__ = ({"schema": SCHEMA},)

    reservation_id: str = Field(primary_key=True, sa_type=sa.Text)
    # The reservation's updated_at in the event: an older event never overwrites a newer one.
    version: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # [[sku, units], ...]
    lines: list[Any] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))


platform_tables(SCHEMA)
