"""The webhooks schema: subscriptions, the events they are sent, one delivery per event and
subscription, and every attempt of a delivery (the delivery log)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import SQLModel

from omnistock_platform.tables import platform_tables

SCHEMA = "webhooks"
platform_tables(SCHEMA)


subscriptions = sa.Table(
    "subscriptions",
    SQLModel.metadata,
    sa.Column("subscription_id", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", postgresql.ARRAY(sa.Text), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    # 0: the service's webhook_max_attempts.
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="0"),
    # Signing secrets: read by the dispatcher only, never answered after creation or rotation.
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("previous_secret", sa.Text, nullable=True),
    sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("secret_created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ix_webhooks_subscriptions_created", "created_at", "subscription_id"),
    schema=SCHEMA,
)

# The body of an event as every subscription receives it, kept once however many receive it.
events = sa.Table(
    "events",
    SQLModel.metadata,
    sa.Column("event_id", postgresql.UUID(as_uuid=False), primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # Its place in the stream: deliveries of one ordering key go in this order.
    sa.Column("stream_seq", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    schema=SCHEMA,
)

deliveries = sa.Table(
    "deliveries",
    SQLModel.metadata,
    sa.Column("delivery_id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "subscription_id",
        sa.Text,
        sa.ForeignKey(f"{SCHEMA}.subscriptions.subscription_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("event_id", postgresql.UUID(as_uuid=False), sa.ForeignKey(f"{SCHEMA}.events.event_id"), nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("stream_seq", sa.BigInteger, nullable=False),
    sa.Column("ordering_key", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    # The first pending delivery of its (subscription, ordering key): the only one that may be sent.
    sa.Column("is_head", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # Set while a dispatcher sends it; another may take it over once this has passed (a crash).
    sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("replays", sa.Integer, nullable=False, server_default="0"),
    # `attempts` when it was last replayed: the attempts of the current round are the difference.
    sa.Column("replayed_after", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhooks_deliveries_event"),
    sa.CheckConstraint("state IN ('pending', 'delivered', 'dead')", name="ck_webhooks_deliveries_state"),
    sa.Index(
        "ix_webhooks_deliveries_queue",
        "subscription_id",
        "ordering_key",
        "stream_seq",
        postgresql_where=sa.text("state = 'pending'"),
    ),
    sa.Index(
        "ix_webhooks_deliveries_due", "next_attempt_at", postgresql_where=sa.text("is_head AND state = 'pending'")
    ),
    sa.Index("ix_webhooks_deliveries_log", "subscription_id", "delivery_id"),
    sa.Index("ix_webhooks_deliveries_event_id", "event_id"),
    sa.Index("ix_webhooks_deliveries_finished", "finished_at", postgresql_where=sa.text("finished_at IS NOT NULL")),
    schema=SCHEMA,
)

attempts = sa.Table(
    "attempts",
    SQLModel.metadata,
    sa.Column(
        "delivery_id",
        sa.BigInteger,
        sa.ForeignKey(f"{SCHEMA}.deliveries.delivery_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    # 0: no answer (yet).
    sa.Column("status_code", sa.Integer, nullable=False, server_default="0"),
    # NULL while the attempt runs, or when its process died during it.
    sa.Column("latency", sa.Interval, nullable=True),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    schema=SCHEMA,
)
