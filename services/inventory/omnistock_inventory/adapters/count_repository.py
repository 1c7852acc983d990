"""SQL of cycle counts: count sessions, their lines, and the stock positions lines are counted at.
Every function takes the unit of work's connection (or the pool, for reads)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from omnistock_inventory.domain.counts import BOOK_CORRECTIONS, CountScope, LineStatus, Scan, Summary

# The SKUs of a scope at a location that a count expects to find: those on hand there (for a list of
# SKUs, every SKU listed). $1 location, $2 scope, $3 the listed SKUs, $4 the attributes (keys and values
# lower-cased), matched as ListSkus matches them.
_EXPECTED = """
    SELECT w.sku FROM unnest($3::text[]) AS w(sku) WHERE $2 = 'skus'
    UNION
    SELECT s.sku FROM inventory.stock s JOIN inventory.skus k ON k.sku = s.sku
    WHERE $2 <> 'skus' AND s.location_id = $1 AND s.on_hand <> 0
      AND ($2 = 'all' OR NOT EXISTS (SELECT 1 FROM jsonb_each_text($4::jsonb) want WHERE NOT EXISTS (
        SELECT 1 FROM jsonb_each_text(k.attributes) have
        WHERE lower(have.key) = want.key AND lower(have.value) = want.value)))
"""

_SUMMARY = """
    SELECT count(*) AS lines,
           count(*) FILTER (WHERE status <> 'uncounted') AS counted,
           count(*) FILTER (WHERE status = 'uncounted') AS uncounted,
           count(*) FILTER (WHERE status = 'needs_review') AS needs_review,
           count(*) FILTER (WHERE COALESCE(variance, 0) <> 0) AS with_variance,
           COALESCE(sum(GREATEST(variance, 0)), 0) AS units_over,
           COALESCE(sum(GREATEST(-variance, 0)), 0) AS units_short,
           count(*) FILTER (WHERE zeroed AND status <> 'uncounted') AS zeroed
    FROM inventory.count_lines WHERE count_id = $1
"""


def _lowered(attributes: dict[str, str]) -> dict[str, str]:
    return {key.lower(): value.lower() for key, value in attributes.items()}


async def insert_count(
    conn: asyncpg.Connection,
    *,
    count_id: str,
    location_id: str,
    scope: CountScope,
    skus: Sequence[str],
    attributes: dict[str, str],
    variance_threshold: int,
    note: str,
    created_by: str,
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO inventory.counts (count_id, location_id, scope, skus, attributes, variance_threshold, note,"
        " status, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) RETURNING *",
        count_id,
        location_id,
        scope.value,
        list(skus),
        attributes,
        variance_threshold,
        note,
        created_by,
    )


async def any_sku_matches(conn: asyncpg.Connection, attributes: dict[str, str]) -> bool:
    """Whether the catalogue has a SKU with stock of its own (not a set) that has every attribute (keys
    and values matched as ListSkus and a count's scope match them)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM inventory.skus k WHERE k.components = '{}'::jsonb"
            " AND NOT EXISTS (SELECT 1 FROM jsonb_each_text($1::jsonb) want WHERE NOT EXISTS ("
            "  SELECT 1 FROM jsonb_each_text(k.attributes) have"
            "  WHERE lower(have.key) = want.key AND lower(have.value) = want.value)))",
            _lowered(attributes),
        )
    )


async def add_expected_lines(conn: asyncpg.Connection, count: asyncpg.Record) -> int:
    """Lines (uncounted) for the SKUs of the count's scope on hand at its location now that it does not
    have yet; how many were added."""
    result = await conn.execute(
        f"INSERT INTO inventory.count_lines (count_id, sku, status) SELECT $5, e.sku, 'uncounted' FROM ({_EXPECTED}) e"
        " ON CONFLICT (count_id, sku) DO NOTHING",
        count["location_id"],
        count["scope"],
        list(count["skus"]),
        _lowered(count["attributes"]),
        count["count_id"],
    )
    return int(result.split()[-1])


async def get_count(
    conn: asyncpg.Connection | asyncpg.Pool, count_id: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM inventory.counts WHERE count_id = $1" + (" FOR UPDATE" if lock else ""), count_id
    )


async def set_status(
    conn: asyncpg.Connection,
    count_id: str,
    status: str,
    *,
    reviewed: bool = False,
    closed_by: str | None = None,
    cancel_reason: str | None = None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE inventory.counts SET status = $2,"
        " reviewed_at = CASE WHEN $3 THEN now() ELSE reviewed_at END,"
        " closed_at = CASE WHEN $4::text IS NULL THEN closed_at ELSE now() END,"
        " closed_by = COALESCE($4, closed_by), cancel_reason = COALESCE($5, cancel_reason), updated_at = now()"
        " WHERE count_id = $1 RETURNING *",
        count_id,
        status,
        reviewed,
        closed_by,
        cancel_reason,
    )


async def touch(conn: asyncpg.Connection, count_id: str) -> asyncpg.Record:
    return await conn.fetchrow(
        "UPDATE inventory.counts SET updated_at = now() WHERE count_id = $1 RETURNING *", count_id
    )


async def list_counts(
    conn: asyncpg.Pool,
    *,
    location_ids: Sequence[str],
    status: str,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first, by (created_at, count_id); [] as location_ids stands for every location."""
    return await conn.fetch(
        "SELECT * FROM inventory.counts WHERE (cardinality($1::text[]) = 0 OR location_id = ANY($1::text[]))"
        " AND ($2 = '' OR status = $2)"
        " AND ($3::timestamptz IS NULL OR (created_at, count_id) < ($3, $4))"
        " ORDER BY created_at DESC, count_id DESC LIMIT $5",
        list(location_ids),
        status,
        after[0] if after else None,
        after[1] if after else "",
        limit,
    )


async def summary(conn: asyncpg.Connection | asyncpg.Pool, count_id: str) -> Summary:
    row = await conn.fetchrow(_SUMMARY, count_id)
    return Summary(**{key: int(value) for key, value in dict(row).items()})


async def get_line(
    conn: asyncpg.Connection | asyncpg.Pool, count_id: str, sku: str, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM inventory.count_lines WHERE count_id = $1 AND sku = $2" + (" FOR UPDATE" if lock else ""),
        count_id,
        sku,
    )


async def list_lines(
    conn: asyncpg.Connection | asyncpg.Pool, count_id: str, *, statuses: Sequence[str], after: str, limit: int
) -> list[asyncpg.Record]:
    """By SKU; [] as statuses stands for every status."""
    return await conn.fetch(
        "SELECT * FROM inventory.count_lines WHERE count_id = $1"
        " AND (cardinality($2::text[]) = 0 OR status = ANY($2::text[])) AND sku > $3"
        ' ORDER BY sku COLLATE "C" LIMIT $4',
        count_id,
        list(statuses),
        after,
        limit,
    )


async def zeroed_lines(conn: asyncpg.Connection, count_id: str, limit: int) -> list[asyncpg.Record]:
    """Lines standing at zero because nobody scanned them, by SKU."""
    return await conn.fetch(
        "SELECT * FROM inventory.count_lines WHERE count_id = $1 AND zeroed AND status <> 'uncounted'"
        ' ORDER BY sku COLLATE "C" LIMIT $2',
        count_id,
        limit,
    )


async def position(conn: asyncpg.Connection, location_id: str, sku: str) -> tuple[int, int] | None:
    """The stock row's on hand and version as of now: the ledger position a scan is taken at."""
    row = await conn.fetchrow(
        "SELECT on_hand, version FROM inventory.stock WHERE location_id = $1 AND sku = $2", location_id, sku
    )
    return (int(row["on_hand"]), int(row["version"])) if row is not None else None


async def save_scan(
    conn: asyncpg.Connection,
    count_id: str,
    sku: str,
    scan: Scan,
    *,
    status: LineStatus,
    previous_variance: int | None,
    counted_by: str,
    recount: bool,
) -> asyncpg.Record:
    """Write a person's count of a line (adding the line when the scope allows a SKU it did not expect)."""
    return await conn.fetchrow(
        "INSERT INTO inventory.count_lines (count_id, sku, status, counted, book_on_hand, version, variance,"
        " previous_variance, counted_by, counted_at, recounts, zeroed)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), 0, false)"
        " ON CONFLICT (count_id, sku) DO UPDATE SET status = EXCLUDED.status, counted = EXCLUDED.counted,"
        " book_on_hand = EXCLUDED.book_on_hand, version = EXCLUDED.version, variance = EXCLUDED.variance,"
        " previous_variance = EXCLUDED.previous_variance, counted_by = EXCLUDED.counted_by,"
        " counted_at = EXCLUDED.counted_at, zeroed = false, approved_by = '',"
        " recounts = count_lines.recounts + CASE WHEN $10 THEN 1 ELSE 0 END"
        " RETURNING *",
        count_id,
        sku,
        status.value,
        scan.counted,
        scan.book_on_hand,
        scan.version,
        scan.variance,
        previous_variance,
        counted_by,
        recount,
    )


async def zero_uncounted(
    conn: asyncpg.Connection, count_id: str, location_id: str, *, threshold: int, counted_by: str
) -> list[asyncpg.Record]:
    """Every uncounted line counts as zero at its stock row's position of this moment (a SKU without a
    row at the location is at version 0 with nothing on hand). Returns the lines zeroed."""
    return await conn.fetch(
        "UPDATE inventory.count_lines l SET counted = 0, book_on_hand = p.on_hand, version = p.version,"
        " variance = -p.on_hand, previous_variance = NULL, zeroed = true, counted_by = $4, counted_at = now(),"
        " status = CASE WHEN p.on_hand <= $3 THEN 'counted' ELSE 'needs_review' END"
        " FROM (SELECT u.sku, COALESCE(s.on_hand, 0) AS on_hand, COALESCE(s.version, 0) AS version"
        "   FROM inventory.count_lines u LEFT JOIN inventory.stock s ON s.location_id = $2 AND s.sku = u.sku"
        "   WHERE u.count_id = $1 AND u.status = 'uncounted') p"
        " WHERE l.count_id = $1 AND l.sku = p.sku RETURNING l.*",
        count_id,
        location_id,
        threshold,
        counted_by,
    )


async def lines_needing_review(conn: asyncpg.Connection, count_id: str, *, lock: bool = False) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM inventory.count_lines WHERE count_id = $1 AND status = 'needs_review'"
        ' ORDER BY sku COLLATE "C"' + (" FOR UPDATE" if lock else ""),
        count_id,
    )


async def lines_of(conn: asyncpg.Connection, count_id: str, skus: Sequence[str]) -> list[asyncpg.Record]:
    """The named lines, locked, by SKU."""
    return await conn.fetch(
        "SELECT * FROM inventory.count_lines WHERE count_id = $1 AND sku = ANY($2::text[])"
        ' ORDER BY sku COLLATE "C" FOR UPDATE',
        count_id,
        list(skus),
    )


async def approve(conn: asyncpg.Connection, count_id: str, skus: Sequence[str], approved_by: str) -> list[Any]:
    return await conn.fetch(
        "UPDATE inventory.count_lines SET status = 'approved', approved_by = $3"
        " WHERE count_id = $1 AND sku = ANY($2::text[]) AND status = 'needs_review' RETURNING *",
        count_id,
        list(skus),
        approved_by,
    )


async def lines_to_post(conn: asyncpg.Connection, count_id: str) -> list[asyncpg.Record]:
    """The counted lines with a variance, locked, by SKU."""
    return await conn.fetch(
        "SELECT * FROM inventory.count_lines WHERE count_id = $1 AND counted IS NOT NULL AND variance <> 0"
        ' ORDER BY sku COLLATE "C" FOR UPDATE',
        count_id,
    )


async def corrected_since_counted(
    conn: asyncpg.Connection, count_id: str, location_id: str, lines: Sequence[asyncpg.Record]
) -> list[str]:
    """The SKUs among `lines` whose book was corrected after the line's ledger position: another
    count posted an adjustment, or someone adjusted the stock for a reason that corrects the book
    (`BOOK_CORRECTIONS`, the name that starts a manual adjustment's reason). Such a correction
    changed the book and not the shelf, so this line's variance, taken before it, would book the same
    difference again."""
    rows = await conn.fetch(
        'SELECT DISTINCT m.sku COLLATE "C" AS sku FROM inventory.movements AS m'
        " JOIN unnest($2::text[], $3::bigint[]) AS line(sku, version) ON m.sku = line.sku"
        " WHERE m.location_id = $1 AND m.version > line.version AND m.document_ref <> $4"
        " AND (m.document_ref LIKE 'count:%'"
        "   OR (m.kind = 'adjustment' AND m.on_hand_delta <> 0"
        "     AND substring(m.reason FROM '^[a-z_]+') = ANY($5::text[])))"
        " ORDER BY 1",
        location_id,
        [line["sku"] for line in lines],
        [line["version"] for line in lines],
        f"count:{count_id}",
        sorted(BOOK_CORRECTIONS),
    )
    return [row["sku"] for row in rows]


async def lock_rows(conn: asyncpg.Connection, location_id: str, skus: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The stock rows of the SKUs at the location, locked in the order every multi-row lock takes them
    (location, then SKU, "C" collation), so a posting never deadlocks with a hold."""
    rows = await conn.fetch(
        "SELECT location_id, sku, on_hand, held, version, in_transit - in_transit_reserved AS promisable"
        " FROM inventory.stock"
        ' WHERE location_id = $1 AND sku = ANY($2::text[]) ORDER BY sku COLLATE "C" FOR UPDATE',
        location_id,
        list(skus),
    )
    return {row["sku"]: row for row in rows}


async def adjustment_at(conn: asyncpg.Connection, location_id: str, sku: str, version: int) -> asyncpg.Record:
    """The adjustment movement that took the (locked) row to `version`: one, since the version moved with it."""
    row = await conn.fetchrow(
        "SELECT * FROM inventory.movements WHERE location_id = $1 AND sku = $2 AND version = $3"
        " AND kind = 'adjustment' ORDER BY movement_id DESC LIMIT 1",
        location_id,
        sku,
        version,
    )
    assert row is not None, f"no adjustment of {location_id}/{sku} at version {version}"
    return row


async def set_movement(conn: asyncpg.Connection, count_id: str, sku: str, movement_id: int) -> None:
    await conn.execute(
        "UPDATE inventory.count_lines SET movement_id = $3 WHERE count_id = $1 AND sku = $2",
        count_id,
        sku,
        movement_id,
    )


async def lock_open_counts(conn: asyncpg.Connection, location_id: str) -> list[str]:
    """The counts not yet completed at the location, locked in count order (before any stock row, as
    their scans and postings lock them). Every one of them, not only those with a line already seen
    counted: a scan being written holds its count's lock and its line is seen once it is written, so
    taking the lock waits for it."""
    rows = await conn.fetch(
        "SELECT count_id FROM inventory.counts WHERE location_id = $1 AND status IN ('open', 'in_review')"
        ' ORDER BY count_id COLLATE "C" FOR UPDATE',
        location_id,
    )
    return [row["count_id"] for row in rows]


async def carry_lines(
    conn: asyncpg.Connection, count_ids: Sequence[str], sku: str, since: datetime, row: asyncpg.Record, delta: int
) -> list[asyncpg.Record]:
    """Lines of the SKU in the (locked) counts counted after `since`, at a ledger position before the
    adjustment of `delta` that took the stock row to `row`, move to that position: their counted
    figure by what the book did between the scan and the adjustment (as the shelf did), their book by
    that and the adjustment. The units the adjustment took off were already missing from the scan, so
    the line's variance no longer counts them. Re-judged against the count's threshold. A line whose
    counted figure would drop below zero stays where it is. Returns the lines moved."""
    # What the book did between the scan and the adjustment: on hand just before it ($4 - $5) less the
    # book at the scan. The variance after the move is the line's less the adjustment.
    moved = "($4::bigint - $5::bigint - l.book_on_hand)"
    return await conn.fetch(
        f"UPDATE inventory.count_lines l SET counted = l.counted + {moved}, book_on_hand = $4, version = $6,"
        " variance = l.variance - $5,"
        " status = CASE WHEN abs(l.variance - $5) <= c.variance_threshold THEN 'counted'"
        "   WHEN l.status = 'counted' THEN 'needs_review' ELSE l.status END,"
        " approved_by = CASE WHEN abs(l.variance - $5) <= c.variance_threshold THEN '' ELSE l.approved_by END"
        " FROM inventory.counts c"
        " WHERE c.count_id = l.count_id AND l.count_id = ANY($1::text[]) AND l.sku = $2 AND l.counted IS NOT NULL"
        f" AND l.counted_at > $3 AND l.version < $6 AND l.counted + {moved} >= 0"
        " RETURNING l.*",
        list(count_ids),
        sku,
        since,
        row["on_hand"],
        delta,
        row["version"],
    )


async def completed_scans_since(conn: asyncpg.Connection, location_id: str, sku: str, since: datetime) -> list[str]:
    """The completed counts at the location whose line of the SKU was counted after `since` (and so
    posted the shelf of that moment), the last completed last."""
    rows = await conn.fetch(
        "SELECT c.count_id FROM inventory.counts c JOIN inventory.count_lines l USING (count_id)"
        " WHERE c.location_id = $1 AND c.status = 'completed' AND l.sku = $2 AND l.counted IS NOT NULL"
        " AND l.counted_at > $3 ORDER BY c.closed_at, c.count_id",
        location_id,
        sku,
        since,
    )
    return [row["count_id"] for row in rows]
