"""The platform's tables in a service's migrations: the outbox, the inbox and the idempotency
store (their SQLModel side is omnistock_platform.tables). A service's first revision calls
`create_platform_tables(schema)` and its downgrade `drop_platform_tables(schema)`.

The first five services created them before the idempotency store kept the begun request and its
caller and before the outbox kept the trace context; their first revisions pass `first_shape=True`
and their revisions 0002 to 0004 add those columns with the `add_*` functions below, so that a
database migrated long ago and a new one end with the same columns in the same order. A new
service creates the tables whole.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def _now() -> sa.TextClause:
    return sa.text("now()")


def _request_column() -> sa.Column[bytes]:
    return sa.Column("request", sa.LargeBinary(), nullable=True)


def _caller_column() -> sa.Column[str]:
    return sa.Column("caller", sa.Text(), nullable=False, server_default="")


def _traceparent_column() -> sa.Column[str]:
    return sa.Column("traceparent", sa.Text(), nullable=True)


def create_platform_tables(schema: str, *, first_shape: bool = False) -> None:
    later_idempotency: list[sa.Column[Any]] = [] if first_shape else [_request_column(), _caller_column()]
    op.create_table(
        "idempotency",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        *later_idempotency,
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
        schema=schema,
    )
    op.create_index(f"ix_{schema}_idempotency_created_at", "idempotency", ["created_at"], schema=schema)
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
        schema=schema,
    )
    later_outbox: list[sa.Column[Any]] = [] if first_shape else [_traceparent_column()]
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        *later_outbox,
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
        schema=schema,
    )
    op.create_index(
        f"ix_{schema}_outbox_unpublished",
        "outbox",
        ["id"],
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )


def drop_platform_tables(schema: str) -> None:
    op.drop_index(
        f"ix_{schema}_outbox_unpublished",
        table_name="outbox",
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema=schema)
    op.drop_table("inbox", schema=schema)
    op.drop_index(f"ix_{schema}_idempotency_created_at", table_name="idempotency", schema=schema)
    op.drop_table("idempotency", schema=schema)


def add_begun_requests(schema: str) -> None:
    """The request of a change begun before another service acts (omnistock_platform.resuming)."""
    op.add_column("idempotency", _request_column(), schema=schema)


def drop_begun_requests(schema: str) -> None:
    op.drop_column("idempotency", "request", schema=schema)


def add_idempotency_caller(schema: str) -> None:
    """Who sent each request id (omnistock_platform.idempotency.caller_key)."""
    op.add_column("idempotency", _caller_column(), schema=schema)


def drop_idempotency_caller(schema: str) -> None:
    op.drop_column("idempotency", "caller", schema=schema)


def add_outbox_trace_context(schema: str) -> None:
    """The W3C traceparent of the request that wrote each outbox row (omnistock_platform.telemetry)."""
    op.add_column("outbox", _traceparent_column(), schema=schema)


def drop_outbox_trace_context(schema: str) -> None:
    op.drop_column("outbox", "traceparent", schema=schema)
