"""Inventory's tables (schema "inventory"), migrated by Alembic."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from omnistock_platform.tables import platform_tables

SCHEMA = "inventory"
platform_tables(SCHEMA)


def _now() -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _change_seq() -> Any:
    """Set by a trigger on every insert and update from inventory.change_seq (migration 0010_inventory):
    the processes' in-memory stock catches up by it."""
    return Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"}, index=True)


class Location(SQLModel, table=True):
    __tablename__ = "locations"
    __table_args__ = {"schema": SCHEMA}

    location_id: str = Field(primary_key=True)
    name: str
    kind: str
    city: str = Field(index=True)
    latitude: float
    longitude: float
    routing_rank: int = 0
    ships: bool = False
    pickup: bool = False
    till_sales: bool = False
    active: bool = True
    # PromiseSettings in JSON, as text (migration 0012_inventory says why); empty: the defaults.
    promise_settings: str = Field(default="", sa_type=sa.Text, sa_column_kwargs={"server_default": ""})
    updated_at: datetime = Field(sa_column=_now())
    change_seq: int = _change_seq()


class Sku(SQLModel, table=True):
    __tablename__ = "skus"
    __table_args__ = {"schema": SCHEMA}

    sku: str = Field(primary_key=True)
    title: str
    attributes: dict[str, str] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}"))
    allow_backorder: bool = False
    price_minor: int = Field(default=0, sa_type=sa.BigInteger)
    currency: str = "EUR"
    updated_at: datetime = Field(sa_column=_now())
    change_seq: int = _change_seq()
    # A bundle's components (component SKU -> units per bundle); empty for a plain SKU (0013_inventory).
    components: dict[str, int] = Field(
        default_factory=dict, sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="{}")
    )
    allow_split: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})


class Stock(SQLModel, table=True):
    __tablename__ = "stock"
    __table_args__ = (
        sa.CheckConstraint("on_hand >= 0", name="stock_on_hand_not_negative"),
        sa.CheckConstraint(
            "held >= 0 AND held <= on_hand + incoming + in_transit - in_transit_reserved",
            name="stock_held_within_on_hand",
        ),
        sa.CheckConstraint("safety_stock >= 0 AND incoming >= 0", name="stock_counters_not_negative"),
        sa.CheckConstraint("in_transit >= 0", name="stock_in_transit_not_negative"),
        sa.CheckConstraint(
            "in_transit_reserved >= 0 AND in_transit_reserved <= in_transit", name="stock_in_transit_reserved_within"
        ),
        sa.Index("ix_inventory_stock_sku", "sku"),
        {"schema": SCHEMA},
    )

    location_id: str = Field(primary_key=True, foreign_key=f"{SCHEMA}.locations.location_id")
    sku: str = Field(primary_key=True, foreign_key=f"{SCHEMA}.skus.sku")
    on_hand: int = Field(default=0, sa_type=sa.BigInteger)
    held: int = Field(default=0, sa_type=sa.BigInteger)
    safety_stock: int = Field(default=0, sa_type=sa.BigInteger)
    incoming: int = Field(default=0, sa_type=sa.BigInteger)
    next_incoming_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Units shipped here on transfers and not yet received (migration 0006_inventory).
    in_transit: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    # Of in_transit, the units ship-to-store transfers bring for their own owner: never promised to a
    # channel (migration 0011_inventory).
    in_transit_reserved: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    version: int = Field(default=0, sa_type=sa.BigInteger)
    updated_at: datetime = Field(sa_column=_now())
    change_seq: int = _change_seq()


class Hold(SQLModel, table=True):
    __tablename__ = "holds"
    __table_args__ = (
        sa.Index("ix_inventory_holds_active_expiry", "expires_at", postgresql_where=sa.text("state = 'active'")),
        sa.Index("ix_inventory_holds_owner", "owner"),
        {"schema": SCHEMA},
    )

    hold_id: str = Field(primary_key=True)
    owner: str
    channel: str
    state: str
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    created_at: datetime = Field(sa_column=_now())
    updated_at: datetime = Field(sa_column=_now())


class HoldLine(SQLModel, table=True):
    __tablename__ = "hold_lines"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0 AND committed >= 0 AND released >= 0", name="hold_line_quantities"),
        sa.CheckConstraint("committed + released <= quantity", name="hold_line_within_quantity"),
        sa.Index("ix_inventory_hold_lines_row", "location_id", "sku"),
        {"schema": SCHEMA},
    )

    hold_id: str = Field(primary_key=True, foreign_key=f"{SCHEMA}.holds.hold_id")
    location_id: str = Field(primary_key=True)
    sku: str = Field(primary_key=True)
    quantity: int = Field(sa_type=sa.BigInteger)
    committed: int = Field(default=0, sa_type=sa.BigInteger)
    released: int = Field(default=0, sa_type=sa.BigInteger)


class HoldBundle(SQLModel, table=True):
    """A bundle line of a hold: its components' units are on the hold's lines (0013_inventory)."""

    __tablename__ = "hold_bundles"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0 AND committed >= 0 AND released >= 0", name="hold_bundle_quantities"),
        sa.CheckConstraint("committed + released <= quantity", name="hold_bundle_within_quantity"),
        {"schema": SCHEMA},
    )

    hold_id: str = Field(primary_key=True, foreign_key=f"{SCHEMA}.holds.hold_id")
    location_id: str = Field(primary_key=True)
    sku: str = Field(primary_key=True)
    quantity: int = Field(sa_type=sa.BigInteger)
    committed: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    released: int = Field(default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": "0"})
    components: dict[str, int] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))


class Movement(SQLModel, table=True):
    """The append-only ledger: every change of a stock row, with who and why."""

    __tablename__ = "movements"
    __table_args__ = (
        sa.Index("ix_inventory_movements_row_time", "location_id", "sku", "at"),
        {"schema": SCHEMA},
    )

    movement_id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))
    location_id: str
    sku: str
    kind: str
    reason: str = ""
    on_hand_delta: int = Field(sa_type=sa.BigInteger)
    held_delta: int = Field(sa_type=sa.BigInteger)
    on_hand_after: int = Field(sa_type=sa.BigInteger)
    held_after: int = Field(sa_type=sa.BigInteger)
    safety_stock_after: int = Field(sa_type=sa.BigInteger)
    version: int = Field(sa_type=sa.BigInteger)
    hold_id: str = ""
    actor: str = ""
    request_id: str = ""
    document_ref: str = ""
    at: datetime = Field(sa_column=_now())


# Cycle counts keep their tables in a module of their own; imported so that Alembic sees them too.
from omnistock_inventory.adapters import count_tables as _count_tables  # noqa: E402, F401
from omnistock_inventory.adapters import pool_tables as _pool_tables  # noqa: E402, F401
from omnistock_inventory.adapters import transfer_tables as _transfer_tables  # noqa: E402, F401
