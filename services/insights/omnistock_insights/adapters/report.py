"""Reading the figures: the daily counts summed by period, channel and location."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypeAlias

import asyncpg

from omnistock_insights.adapters.tables import SCHEMA
from omnistock_insights.domain.periods import DateRange, Grouping
from omnistock_insights.domain.tally import COUNTS, Sheet

Connection: TypeAlias = asyncpg.Connection | asyncpg.Pool

# (period key, channel, location): the order of the rows and where a page continues.
RowKey = tuple[date, str, str]


@dataclass(frozen=True)
class ReportFilter:
    dates: DateRange
    grouping: Grouping
    # "" for every channel or location.
    channel: str = ""
    location_id: str = ""
    # Whether rows are told apart by channel and by location; a dimension left out is summed over
    # and reads "" in the rows.
    by_channel: bool = True
    by_location: bool = True


@dataclass(frozen=True)
class Revenue:
    currency: str
    amount_minor: int
    orders: int


@dataclass(frozen=True)
class Shortfall:
    sku: str
    refusals: int
    units_requested: int
    units_short: int


@dataclass
class ReportRow:
    key: RowKey
    counts: dict[str, int]
    revenue: list[Revenue] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    median_ready_seconds: float = 0.0
    median_ship_seconds: float = 0.0


def _period(column: str, grouping: Grouping) -> str:
    """The period a day belongs to; every query passes the range's first day as $1."""
    if grouping is Grouping.RANGE:
        return "$1::date"
    return f"date_trunc('week', {column}::timestamp)::date" if grouping is Grouping.WEEK else column


def _dimensions(where: ReportFilter, channel: str, location: str) -> tuple[str, str]:
    """The channel and location a row is known by: the columns, or '' where they are summed over."""
    return (channel if where.by_channel else "''::text", location if where.by_location else "''::text")


def _sums(sheet: Sheet) -> str:
    return ", ".join(f"sum({name})::bigint AS {name}" for name in COUNTS[sheet])


async def rows(conn: Connection, where: ReportFilter, after: RowKey | None, limit: int) -> list[ReportRow]:
    period = _period("day", where.grouping)
    channel, location = _dimensions(where, "channel", "location_id")
    # A row of nothing but zeros is what is left where counts moved away (an order's location
    # became known): it is not shown.
    anything = " + ".join(f"sum({name})" for name in COUNTS[Sheet.DAILY])
    records = await conn.fetch(
        f"SELECT * FROM (SELECT {period} AS period, {channel} AS channel, {location} AS location_id,"
        f" {_sums(Sheet.DAILY)}"
        f" FROM {SCHEMA}.daily"
        " WHERE day BETWEEN $1 AND $2 AND ($3 = '' OR channel = $3) AND ($4 = '' OR location_id = $4)"
        f" GROUP BY 1, 2, 3 HAVING {anything} <> 0) AS grouped"
        " WHERE $5::date IS NULL OR (period, channel, location_id) > ($5::date, $6, $7)"
        " ORDER BY period, channel, location_id LIMIT $8",
        where.dates.first,
        where.dates.last,
        where.channel,
        where.location_id,
        after[0] if after else None,
        after[1] if after else "",
        after[2] if after else "",
        limit,
    )
    rows = {
        (r["period"], r["channel"], r["location_id"]): ReportRow(
            key=(r["period"], r["channel"], r["location_id"]),
            counts={name: int(r[name]) for name in COUNTS[Sheet.DAILY]},
        )
        for r in records
    }
    if rows:
        await _revenue(conn, where, rows)
        await _shortfalls(conn, where, rows)
        await _medians(conn, where, rows)
    return list(rows.values())


async def _detail(
    conn: Connection,
    where: ReportFilter,
    rows: dict[RowKey, ReportRow],
    table: str,
    day: str,
    select: str,
    rest: str = "",
) -> list[tuple[RowKey, asyncpg.Record]]:
    """Per-row details from another table: the query names the page's keys by their parts,
    and what comes back is matched to the rows exactly."""
    period = _period(day, where.grouping)
    keys: Sequence[RowKey] = list(rows)
    columns = ("bucket_channel", "bucket_location") if day == "bucket_day" else ("channel", "location_id")
    channel, location = _dimensions(where, *columns)
    records = await conn.fetch(
        f"SELECT {period} AS period, {channel} AS channel, {location} AS location_id, {select}"
        f" FROM {SCHEMA}.{table}"
        f" WHERE {day} BETWEEN $1 AND $2 AND {period} = ANY($3::date[])"
        f" AND {channel} = ANY($4::text[]) AND {location} = ANY($5::text[])"
        f" AND ($6 = '' OR {columns[0]} = $6) AND ($7 = '' OR {columns[1]} = $7) {rest}",
        where.dates.first,
        where.dates.last,
        sorted({key[0] for key in keys}),
        sorted({key[1] for key in keys}),
        sorted({key[2] for key in keys}),
        where.channel,
        where.location_id,
    )
    found = []
    for record in records:
        key = (record["period"], record["channel"], record["location_id"])
        if key in rows:
            found.append((key, record))
    return found


async def _revenue(conn: Connection, where: ReportFilter, rows: dict[RowKey, ReportRow]) -> None:
    for key, record in await _detail(
        conn,
        where,
        rows,
        "daily_revenue",
        "day",
        f"currency, {_sums(Sheet.REVENUE)}",
        "GROUP BY 1, 2, 3, currency HAVING sum(orders) <> 0 OR sum(amount_minor) <> 0 ORDER BY currency",
    ):
        rows[key].revenue.append(Revenue(str(record["currency"]), int(record["amount_minor"]), int(record["orders"])))


async def _shortfalls(conn: Connection, where: ReportFilter, rows: dict[RowKey, ReportRow]) -> None:
    for key, record in await _detail(
        conn,
        where,
        rows,
        "daily_shortfalls",
        "day",
        f"sku, {_sums(Sheet.SHORTFALL)}",
        "GROUP BY 1, 2, 3, sku HAVING sum(refusals) <> 0 OR sum(units_short) <> 0"
        " ORDER BY units_short DESC, refusals DESC, sku",
    ):
        rows[key].shortfalls.append(
            Shortfall(
                str(record["sku"]),
                int(record["refusals"]),
                int(record["units_requested"]),
                int(record["units_short"]),
            )
        )


async def _medians(conn: Connection, where: ReportFilter, rows: dict[RowKey, ReportRow]) -> None:
    """Medians cannot be summed from daily counts: they are read from the facts."""
    for table, start, end, attribute in (
        ("reservation_facts", "created_at", "ready_at", "median_ready_seconds"),
        ("order_facts", "created_at", "shipped_at", "median_ship_seconds"),
    ):
        for key, record in await _detail(
            conn,
            where,
            rows,
            table,
            "bucket_day",
            f"percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(0, extract(epoch FROM {end} - {start}))) AS median",
            f"AND {end} IS NOT NULL AND {start} IS NOT NULL GROUP BY 1, 2, 3",
        ):
            setattr(rows[key], attribute, float(record["median"]))
