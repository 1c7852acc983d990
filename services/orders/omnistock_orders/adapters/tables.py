"""The orders schema: orders, their allocations, and re-routes in flight."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from omnistock_platform.tables import platform_tables

SCHEMA = "orders"


def _timestamp() -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=False, server_default=sa.text("clock_timestamp()"))


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("request_id", name="uq_orders_orders_request_id"),
        sa.Index("ix_orders_orders_created", "created_at", "order_id"),
        sa.Index("ix_orders_orders_customer", "customer_id", "created_at", "order_id"),
        sa.Index("ix_orders_orders_store", "store_id", postgresql_where=sa.text("store_id <> ''")),
        sa.Index("ix_orders_orders_pending", "created_at", postgresql_where=sa.text("status = 'pending'")),
        sa.Index(
            "ix_orders_orders_backordered",
            "created_at",
            "order_id",
            postgresql_where=sa.text("status = 'backordered'"),
        ),
        sa.Index(
            "ix_orders_orders_hold_expires", "hold_expires_at", postgresql_where=sa.text("hold_expires_at IS NOT NULL")
        ),
        {"schema": SCHEMA},
    )

    order_id: str = Field(primary_key=True, sa_type=sa.Text)
    # The CreateOrder request id and a digest of the request: a retry returns this order.
    request_id: str = Field(nullable=False, sa_type=sa.Text)
    fingerprint: bytes = Field(nullable=False, sa_type=sa.LargeBinary)
    channel: str = Field(nullable=False, sa_type=sa.Text)
    customer_id: str = Field(nullable=False, sa_type=sa.Text)
    method: str = Field(nullable=False, sa_type=sa.Text)
    # omnistock.orders.v1.Address, serialized.
    ship_to: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    store_id: str = Field(default="", nullable=False, sa_type=sa.Text)
    reservation_id: str = Field(default="", nullable=False, sa_type=sa.Text)
    status: str = Field(nullable=False, sa_type=sa.Text)
    # [{"line_no", "sku", "quantity", "unit_price_minor", "currency", "backordered", "cancelled",
    #   "components": [[part, units per set]] (a set's, empty for a plain SKU),
    #   "part_of": the split set of a part line, empty otherwise}]
    lines: list[dict[str, Any]] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    # The split sets, whose part lines (above) name them in "part_of": [{"sku", "quantity",
    #   "unit_price_minor", "currency", "components": [[part, units per set]]}]
    sets: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    total_minor: int = Field(default=0, nullable=False, sa_type=sa.BigInteger)
    currency: str = Field(default="", nullable=False, sa_type=sa.Text)
    # omnistock.orders.v1.RoutingOptions, serialized: re-routes use the caller's options again.
    options: bytes = Field(nullable=False, sa_type=sa.LargeBinary)
    # omnistock.orders.v1.RoutingPlan the allocations came from.
    decision: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    # How the order gets its stock: "route", "carry_out" or "reservation".
    source: str = Field(nullable=False, sa_type=sa.Text)
    # The remote call of the current placement attempt, stored before it is made, so that a
    # retry or the recovery loop repeats exactly that call (same request id, same answer).
    attempt: int = Field(default=0, nullable=False)
    pending_call: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    cancel_reason: str = Field(default="", nullable=False, sa_type=sa.Text)
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
    # Fulfilment holds (domain.fulfilment_holds.FulfilmentHold.as_json), and when the first active one
    # runs out (NULL: none is active), which the expiry sweep looks for.
    fulfilment_holds: list[dict[str, Any]] = Field(
        sa_column=sa.Column(postgresql.JSONB, nullable=False, server_default="[]")
    )
    hold_expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class AllocationRow(SQLModel, table=True):
    __tablename__ = "allocations"
    __table_args__ = (
        sa.Index("ix_orders_allocations_order", "order_id", "seq"),
        sa.Index("ix_orders_allocations_location", "location_id", "order_id"),
        sa.Index("ix_orders_allocations_hold", "hold_id"),
        {"schema": SCHEMA},
    )

    allocation_id: str = Field(primary_key=True, sa_type=sa.Text)
    order_id: str = Field(nullable=False, foreign_key=f"{SCHEMA}.orders.order_id", sa_type=sa.Text)
    seq: int = Field(nullable=False)
    location_id: str = Field(nullable=False, sa_type=sa.Text)
    hold_id: str = Field(nullable=False, sa_type=sa.Text)
    # {"sku": quantity}
    lines: dict[str, int] = Field(sa_column=sa.Column(postgresql.JSONB, nullable=False))
    status: str = Field(nullable=False, sa_type=sa.Text)
    distance_km: float | None = Field(default=None, sa_type=sa.Float)
    # Its pick task has started (fulfilment's task events): an edit leaves its units be (0006_orders).
    picking_started: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )
    created_at: datetime = Field(sa_column=_timestamp())


class RerouteRow(SQLModel, table=True):
    """A re-route's hold request, written before inventory is asked, so a redelivered event
    asks again with the same request id and gets the same hold instead of a second one."""

    __tablename__ = "reroutes"
    __table_args__ = ({"schema": SCHEMA},)

    cause: str = Field(primary_key=True, sa_type=sa.Text)
    order_id: str = Field(nullable=False, sa_type=sa.Text)
    attempt: int = Field(nullable=False)
    hold_request: bytes = Field(nullable=False, sa_type=sa.LargeBinary)
    decision: bytes = Field(nullable=False, sa_type=sa.LargeBinary)
    created_at: datetime = Field(sa_column=_timestamp())


platform_tables(SCHEMA)

# The returns table lives in its own module; imported here so that Alembic sees the whole schema.
from omnistock_orders.adapters import return_tables  # noqa: E402, F401
