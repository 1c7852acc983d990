"""change_seq: one increasing number for every change of stock, locations and SKUs

Revision ID: 0010_inventory
Revises: 0009_inventory
Create Date: 2027-03-01

Each process keeps stock in memory for its reads. It catches up with "every row whose change_seq
is above what I have", so a change is never missed, even when its notification is lost: a
trigger gives every inserted or updated row the next value of inventory.change_seq, whoever writes
it. The writer's transaction id is taken before the number, so that a transaction that started
after a reader's snapshot can only hold numbers above everything that snapshot saw (the readers'
watermark relies on it). One notification per statement that changed rows (its highest number) on
inventory_stock_changes wakes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_inventory"
down_revision: str | None = "0009_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("stock", "locations", "skus")


def upgrade() -> None:
    op.execute("CREATE SEQUENCE inventory.change_seq AS bigint")
    op.execute(
        "CREATE FUNCTION inventory.next_change_seq() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN PERFORM pg_current_xact_id(); NEW.change_seq := nextval('inventory.change_seq'); RETURN NEW; END $$"
    )
    op.execute(
        "CREATE FUNCTION inventory.notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$"
        " DECLARE latest bigint; BEGIN SELECT max(change_seq) INTO latest FROM changed;"
        " IF latest IS NOT NULL THEN PERFORM pg_notify('inventory_stock_changes', latest::text); END IF;"
        " RETURN NULL; END $$"
    )
    for table in TABLES:
        op.add_column(
            table, sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False), schema="inventory"
        )
        op.execute(f"UPDATE inventory.{table} SET change_seq = nextval('inventory.change_seq')")
        op.create_index(f"ix_inventory_{table}_change_seq", table, ["change_seq"], schema="inventory")
        op.execute(
            f"CREATE TRIGGER {table}_change_seq BEFORE INSERT OR UPDATE ON inventory.{table}"
            " FOR EACH ROW EXECUTE FUNCTION inventory.next_change_seq()"
        )
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER {table}_notify_{event.lower()} AFTER {event} ON inventory.{table}"
                " REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION inventory.notify_changes()"
            )


def downgrade() -> None:
    for table in TABLES:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER {table}_notify_{event} ON inventory.{table}")
        op.execute(f"DROP TRIGGER {table}_change_seq ON inventory.{table}")
        op.drop_index(f"ix_inventory_{table}_change_seq", table_name=table, schema="inventory")
        op.drop_column(table, "change_seq", schema="inventory")
    op.execute("DROP FUNCTION inventory.notify_changes()")
    op.execute("DROP FUNCTION inventory.next_change_seq()")
    op.execute("DROP SEQUENCE inventory.change_seq")
