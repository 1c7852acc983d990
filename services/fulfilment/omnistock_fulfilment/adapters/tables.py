"""The fulfilment schema: tasks, tombstones of work withdrawn before it was announced, the newest
state heard of each source, and the units an edit after the pick gives back."""

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


class NewestStateRow(SQLModel, table=True):
    """The newest state heard of an order or a reservation (adapters.newest_states): an event
    handled after a newer one reads as the newer says."""

    __tablename__ = "newest_states"
    __table_args__ = ({"schema": SCHEMA},)

    # "order" or "reservation"
    source_kind: str = Field(primary_key=True, sa_type=sa.Text)
    source_id: str = Field(primary_key=True, sa_type=sa.Text)
    # The source's updated_at in the event: an older event never overwrites a newer one.
    version: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # An order: {"holds": [{"allocation_id": "" (the whole order) or an allocation, "reason": ...}],
    # "allocations": {allocation_id: {"location_id", "hold_id", "lines": [[sku, units], ...]} while
    # held, null once not} (null where not known: kept before allocations were), "promised_at": when
    # its newest event promised the goods (ISO 8601; null when it promised nothing, or not kept)}.
    # A reservation: {"lines": [[sku, units], ...]}.
    state: dict[str, Any] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))


class EditGiveBackRow(SQLModel, table=True):
    """Units an order edit added to a task whose pick was confirmed, which fulfilment asks inventory to
    give back: recorded before it asks (adapters.give_backs), so that the edit's event handled again
    after a crash announces them short even though inventory no longer holds them."""

    __tablename__ = "edit_give_backs"
    __table_args__ = ({"schema": SCHEMA},)

    task_id: str = Field(primary_key=True, sa_type=sa.Text)
    # The edit's event id.
    cause: str = Field(primary_key=True, sa_type=sa.Text)
    # {sku: units}
    units: dict[str, int] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    created_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()"))
    )


platform_tables(SCHEMA)
