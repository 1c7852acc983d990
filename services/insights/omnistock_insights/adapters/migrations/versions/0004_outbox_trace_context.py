"""keep the trace context with each outbox row

Revision ID: 0004_insights
Revises: 0003_insights
Create Date: 2027-01-20

The relay publishes an event after the request that caused it has ended; the W3C traceparent of
that request, written with the row, lets the event's publication and handling join its trace
(omnistock_platform.telemetry). Empty while tracing is off.
"""

from __future__ import annotations

from collections.abc import Sequence

from omnistock_platform.migrations.platform_tables import add_outbox_trace_context, drop_outbox_trace_context

revision: str = "0004_insights"
down_revision: str | None = "0003_insights"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_trace_context("insights")


def downgrade() -> None:
    drop_outbox_trace_context("insights")
