"""the promise of each order's newest event: a late event's task is due as the newest says

Revision ID: 0008_fulfilment
Revises: 0007_fulfilment
Create Date: 2027-03-03

order_holds.promised_at keeps when the order's newest event promised the goods: an order re-promised
(a re-route, a fulfilment hold released later) can be heard before the allocation that makes its
task (a retry waits while later events go ahead), and the task is then due at the newer promise.
Null where the newest event promised nothing, or for rows kept before this revision: the event's own
promise is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_fulfilment"
down_revision: str | None = "0007_fulfilment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "order_holds", sa.Column("promised_at", sa.DateTime(timezone=True), nullable=True), schema="fulfilment"
    )


def downgrade() -> None:
    op.drop_column("order_holds", "promised_at", schema="fulfilment")
