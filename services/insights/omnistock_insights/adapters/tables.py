"""The insights schema: the figures by channel, location and day, and the facts they come from.

Everything here is a projection of the event stream: `RebuildInsights` empties
it and replays the stream into it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from omnistock_insights.domain.tally import COUNTS, Sheet
from omnistock_platform.tables import platform_tables

SCHEMA = "insights"
platform_tables(SCHEMA)


def _counts(sheet: Sheet) -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.BigInteger, nullable=False, server_default="0") for name in COUNTS[sheet]]


def _bucket() -> list[sa.Column[Any]]:
    return [
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("location_id", sa.Text, primary_key=True),
    ]


# The sheets' columns are the domain's list of counts (domain.tally.COUNTS), so they are declared from it.
daily = sa.Table("daily", SQLModel.metadata, *_bucket(), *_counts(Sheet.DAILY), schema=SCHEMA)
daily_revenue = sa.Table(
    "daily_revenue",
    SQLModel.metadata,
    *_bucket(),
    sa.Column("currency", sa.Text, primary_key=True),
    *_counts(Sheet.REVENUE),
    schema=SCHEMA,
)
daily_shortfalls = sa.Table(
    "daily_shortfalls",
    SQLModel.metadata,
    *_bucket(),
    sa.Column("sku", sa.Text, primary_key=True),
    *_counts(Sheet.SHORTFALL),
    schema=SCHEMA,
)


def _moment() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True))


def _text(default: str) -> Any:
    return Field(default=default, sa_column=sa.Column(sa.Text, nullable=False, server_default=default))


def _flag() -> Any:
    return Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))


class AppliedEvent(SQLModel, table=True):
    """Events the projection has counted. Unlike the inbox, which the live consumer owns, a
    rebuild empties it with the figures, so live and replayed events are counted once together."""

    __tablename__ = "applied_events"
    __table_args__ = {"schema": SCHEMA}

    event_id: str = Field(sa_column=sa.Column(postgresql.UUID(as_uuid=False), primary_key=True))
    applied_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    )


# A fact row starts as a bare id (every column has a default) so that it can be locked before it is known.
# Each keeps the bucket it is counted in (bucket_*), for the medians read straight from the facts.
class ReservationFactRow(SQLModel, table=True):
    __tablename__ = "reservation_facts"
    __table_args__ = (sa.Index("ix_insights_reservation_facts_bucket", "bucket_day"), {"schema": SCHEMA})

    reservation_id: str = Field(primary_key=True, sa_type=sa.Text)
    channel: str | None = Field(default=None, sa_type=sa.Text)
    store_id: str = _text("")
    created_at: datetime | None = _moment()
    ready_at: datetime | None = _moment()
    outcome: str | None = Field(default=None, sa_type=sa.Text)
    failed: bool = _flag()
    bucket_day: date | None = Field(default=None, sa_type=sa.Date)
    bucket_channel: str | None = Field(default=None, sa_type=sa.Text)
    bucket_location: str | None = Field(default=None, sa_type=sa.Text)


class OrderFactRow(SQLModel, table=True):
    __tablename__ = "order_facts"
    __table_args__ = (sa.Index("ix_insights_order_facts_bucket", "bucket_day"), {"schema": SCHEMA})

    order_id: str = Field(primary_key=True, sa_type=sa.Text)
    channel: str | None = Field(default=None, sa_type=sa.Text)
    method: str = _text("unspecified")
    store_id: str = _text("")
    created_at: datetime | None = _moment()
    units: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    # {"EUR": 12990}
    revenue: dict[str, int] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}"))
    # ["WH-1", "STORE-2"] or null before the first allocation.
    first_allocation: list[str] | None = Field(default=None, sa_column=sa.Column(postgresql.JSONB, nullable=True))
    allocation_inferred: bool = _flag()
    rerouted: bool = _flag()
    cancelled: bool = _flag()
    shipped_at: datetime | None = _moment()
    bucket_day: date | None = Field(default=None, sa_type=sa.Date)
    bucket_channel: str | None = Field(default=None, sa_type=sa.Text)
    bucket_location: str | None = Field(default=None, sa_type=sa.Text)
    held: bool = _flag()
    hold_expired: bool = _flag()
    # When the order was as units and revenue say: the latest description of it wins.
    described_at: datetime | None = _moment()


class TaskFactRow(SQLModel, table=True):
    __tablename__ = "task_facts"
    __table_args__ = (
        sa.Index("ix_insights_task_facts_order", "order_id", postgresql_where=sa.text("order_id <> ''")),
        sa.Index(
            "ix_insights_task_facts_reservation", "reservation_id", postgresql_where=sa.text("reservation_id <> ''")
        ),
        {"schema": SCHEMA},
    )

    task_id: str = Field(primary_key=True, sa_type=sa.Text)
    order_id: str = _text("")
    reservation_id: str = _text("")
    location_id: str = _text("")
    created_at: datetime | None = _moment()
    pick: str | None = Field(default=None, sa_type=sa.Text)


# What a rebuild empties, in the order it locks them.
PROJECTION_TABLES = (
    f"{SCHEMA}.applied_events",
    f"{SCHEMA}.reservation_facts",
    f"{SCHEMA}.order_facts",
    f"{SCHEMA}.task_facts",
    f"{SCHEMA}.daily",
    f"{SCHEMA}.daily_revenue",
    f"{SCHEMA}.daily_shortfalls",
)
