"""The tables of location groups and channel pools (schema "inventory"), migrated by Alembic
(revision 0007_inventory).

A location group names a set of locations; a channel's pools say from which groups it may sell,
with a cap on the share of on hand and a buffer of units it may never take. A channel with no pool
rows sells from every location.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

SCHEMA = "inventory"


def _now() -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class LocationGroup(SQLModel, table=True):
    __tablename__ = "location_groups"
    __table_args__ = {"schema": SCHEMA}

    group_id: str = Field(primary_key=True, sa_type=sa.Text)
    display_name: str = Field(sa_type=sa.Text)
    updated_at: datetime = Field(sa_column=_now())


class LocationGroupMember(SQLModel, table=True):
    __tablename__ = "location_group_members"
    __table_args__ = (
        # The hold statements look a location's groups up by location.
        sa.Index("ix_inventory_location_group_members_location", "location_id"),
        {"schema": SCHEMA},
    )

    group_id: str = Field(primary_key=True, sa_type=sa.Text, foreign_key=f"{SCHEMA}.location_groups.group_id")
    location_id: str = Field(primary_key=True, sa_type=sa.Text, foreign_key=f"{SCHEMA}.locations.location_id")


class ChannelPool(SQLModel, table=True):
    __tablename__ = "channel_pools"
    __table_args__ = (
        sa.CheckConstraint("cap_percent BETWEEN 1 AND 100", name="channel_pools_cap_percent"),
        sa.CheckConstraint("buffer_units >= 0", name="channel_pools_buffer_not_negative"),
        {"schema": SCHEMA},
    )

    # "web", "app", "chat", "pos", "backoffice" or "marketplace" (domain.stock.Channel)
    channel: str = Field(primary_key=True, sa_type=sa.Text)
    group_id: str = Field(primary_key=True, sa_type=sa.Text, foreign_key=f"{SCHEMA}.location_groups.group_id")
    cap_percent: int = Field(default=100, sa_type=sa.Integer, sa_column_kwargs={"server_default": "100"})
    buffer_units: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    allow_in_transit: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Units shipped on transfers to the group's locations count before receipt (migration 0011_inventory).
    allow_transfer_in_transit: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    updated_at: datetime = Field(sa_column=_now())
