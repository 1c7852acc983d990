"""Tables every service has in its own schema: the outbox, the inbox and the
idempotency store. Each service's table module calls `platform_tables(schema)`
so that Alembic sees them in the SQLModel metadata next to the service's own."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import SQLModel


def platform_tables(schema: str) -> None:
    metadata = SQLModel.metadata
    if f"{schema}.outbox" in metadata.tables:
        return
    sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        # The W3C traceparent of what wrote the row, when traced (omnistock_platform.telemetry).
        sa.Column("traceparent", sa.Text, nullable=True),
        sa.Index(f"ix_{schema}_outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
        schema=schema,
    )
    sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=False), primary_key=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )
    sa.Table(
        "idempotency",
        metadata,
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
        # Who sent it (omnistock_platform.idempotency.caller_key): the answer is theirs alone.
        sa.Column("caller", sa.Text, nullable=False, server_default=""),
        sa.Column("response", sa.LargeBinary, nullable=True),
        # The request of a change begun before another service acts (see IdempotencyStore.begin):
        # what the service needs to finish it itself should nobody retry it.
        sa.Column("request", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Index(f"ix_{schema}_idempotency_created_at", "created_at"),
        schema=schema,
    )
