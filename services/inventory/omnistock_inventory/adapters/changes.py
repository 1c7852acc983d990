"""The changes of stock, locations and SKUs since a change number, read for the in-memory view."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

CHANNEL = "inventory_stock_changes"


@dataclass(frozen=True)
class Snapshot:
    """Which transactions a read saw: every one below xmin and every one below xmax not in xip."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def finished(self, xid: int) -> bool:
        """Whether the transaction had ended (committed or not) when this snapshot was taken."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.xip)


@dataclass(frozen=True)
class Changes:
    snapshot: Snapshot
    at: datetime
    locations: list[asyncpg.Record]
    skus: list[asyncpg.Record]  # (sku, allow_backorder, change_seq, components as JSON text)
    stock: list[asyncpg.Record]
    # The transactions running at the snapshot that may have changed rows of the three tables
    # (see `writers`).
    writers: frozenset[int] = frozenset()


async def changes_since(conn: asyncpg.Connection | asyncpg.Pool, after: int) -> Changes:
    """Every row of the three tables changed after `after`, all as of one snapshot (one statement),
    with that snapshot and its time."""
    row = await conn.fetchrow(
        "SELECT pg_current_snapshot()::text AS snapshot, clock_timestamp() AS at,"
        # Read after the snapshot was taken: transactions still running that hold no lock on the
        # three tables have changed none of their rows (a writer keeps its lock to the end).
        # Each running transaction with an id, and whether it holds a lock on one of the three tables.
        # The lock table is read once (it visits every backend's slots; read per transaction it
        # cost the database more than the rest of the round).
        " ARRAY(WITH locks AS MATERIALIZED (SELECT pid, locktype, mode, granted, transactionid, database, relation"
        "     FROM pg_locks)"
        "   SELECT ROW(x.transactionid::text::bigint, x.pid IN (SELECT r.pid FROM locks r"
        "     WHERE r.locktype = 'relation'"
        "     AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        "     AND r.relation IN ('inventory.stock'::regclass, 'inventory.locations'::regclass,"
        "       'inventory.skus'::regclass)))"
        "   FROM locks x WHERE x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted)"
        "   AS transactions,"
        " ARRAY(SELECT l FROM inventory.locations l WHERE l.change_seq > $1) AS locations,"
        # The SKUs' attributes (jsonb) are not needed here, and asyncpg decodes no jsonb in a row:
        # a bundle's components come as text.
        " ARRAY(SELECT ROW(k.sku, k.allow_backorder, k.change_seq, k.components::text) FROM inventory.skus k"
        "   WHERE k.change_seq > $1) AS skus,"
        " ARRAY(SELECT s FROM inventory.stock s WHERE s.change_seq > $1) AS stock",
        after,
    )
    assert row is not None
    snapshot = Snapshot.parse(row["snapshot"])
    return Changes(
        snapshot,
        row["at"],
        row["locations"],
        row["skus"],
        row["stock"],
        writers=writers(snapshot, [(int(xid), bool(locks)) for xid, locks in row["transactions"]]),
    )


def writers(snapshot: Snapshot, transactions: Iterable[tuple[int, bool]]) -> frozenset[int]:
    """The transactions running at `snapshot` that may hold change numbers it did not see, from the
    transactions running just after it (32-bit id, whether it holds a lock on one of the tables).

    A snapshot lists the running transactions only below its xmax, one past the newest that had
    ended: a transaction that took its id before that one, and its change number before that
    one's, is running at the snapshot without being listed. Those are found among the
    transactions holding a lock on the tables. Those of the snapshot's list are kept unless seen
    running without such a lock (one that ended meanwhile may have committed a change the snapshot
    did not see). One above xmax that ended before the locks were read is not found: its changes
    are committed before the next round's snapshot, which is why only a later round confirms a
    snapshot's number (StockView._round)."""
    bystanders: set[int] = set()
    found: set[int] = set()
    for xid, locks in transactions:
        if not locks:
            bystanders.add(xid)
            continue
        full = widened(xid, snapshot.xmax)
        if full >= snapshot.xmax:
            found.add(full)
    return frozenset(xid for xid in snapshot.xip if xid % 2**32 not in bystanders) | found


def widened(xid: int, near: int) -> int:
    """pg_locks names a transaction by its 32-bit id, the snapshot by the 64-bit one: the 64-bit id
    nearest `near` (running transactions are far less than 2**31 apart)."""
    return near + (xid - near + 2**31) % 2**32 - 2**31


async def last_change(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """The highest change number handed out so far (committed or not)."""
    value = await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM inventory.change_seq")
    return int(value or 0)
