"""Counts to add to the figures of a channel, a location and a day.

Handlers never add to a figure directly: they compute what a journey
contributes before and after an event and apply the difference. A repeated or
late event whose contribution is unchanged adds nothing, and a journey whose
location becomes known moves its counts instead of counting twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Sheet(StrEnum):
    """Which table a count belongs to; its detail names the row within the bucket."""

    DAILY = "daily"  # detail: ""
    REVENUE = "revenue"  # detail: currency
    SHORTFALL = "shortfall"  # detail: SKU


# The counts each sheet keeps; every name is a column of its table.
COUNTS: Mapping[Sheet, tuple[str, ...]] = {
    Sheet.DAILY: (
        "reservations_created",
        "reservations_collected",
        "reservations_expired",
        "reservations_cancelled",
        "reservations_converted",
        "reservations_ready",
        "ready_time_ms_sum",
        "orders",
        "units",
        "orders_cancelled",
        "orders_ship",
        "orders_pickup",
        "orders_carry_out",
        "orders_allocated",
        "orders_split",
        "orders_rerouted",
        "orders_shipped",
        "ship_time_ms_sum",
        "tasks_picked",
        "tasks_short_picked",
        "demand_refused",
        "short_lines",
        "stock_changes",
        "oversells",
        "counts_completed",
        "count_lines",
        "count_lines_matched",
        "count_units_over",
        "count_units_short",
        "orders_held",
        "orders_hold_expired",
        "returns_authorised",
        "returns_received",
        "units_returned",
        "units_restocked",
        "units_damaged",
        "units_written_off",
    ),
    Sheet.REVENUE: ("amount_minor", "orders"),
    Sheet.SHORTFALL: ("refusals", "units_requested", "units_short"),
}

# Figures of no channel (stock checks) are kept under this one.
NO_CHANNEL = "unspecified"


@dataclass(frozen=True, order=True)
class Bucket:
    day: date
    channel: str
    location_id: str


@dataclass(frozen=True, order=True)
class Cell:
    sheet: Sheet
    bucket: Bucket
    detail: str = ""


@dataclass
class Tally:
    cells: dict[Cell, dict[str, int]] = field(default_factory=dict)

    def add(self, sheet: Sheet, bucket: Bucket, detail: str = "", /, **counts: int) -> Tally:
        unknown = counts.keys() - set(COUNTS[sheet])
        if unknown:
            raise ValueError(f"{sheet} keeps no {sorted(unknown)}")
        row = self.cells.setdefault(Cell(sheet, bucket, detail), {})
        for name, value in counts.items():
            row[name] = row.get(name, 0) + value
        return self

    def merge(self, other: Tally, sign: int = 1) -> Tally:
        for cell, counts in other.cells.items():
            row = self.cells.setdefault(cell, {})
            for name, value in counts.items():
                row[name] = row.get(name, 0) + sign * value
        return self

    def __add__(self, other: Tally) -> Tally:
        return Tally().merge(self).merge(other)

    def __sub__(self, other: Tally) -> Tally:
        return Tally().merge(self).merge(other, -1)

    def nonzero(self) -> Iterator[tuple[Cell, dict[str, int]]]:
        """Cells with something to add, in a fixed order: concurrent writers lock rows alike."""
        for cell in sorted(self.cells):
            counts = {name: value for name, value in self.cells[cell].items() if value}
            if counts:
                yield cell, counts

    def __bool__(self) -> bool:
        return any(True for _ in self.nonzero())

    def totals(self, sheet: Sheet, name: str) -> dict[tuple[str, str], int]:
        """`name` summed over days and locations, by (channel, detail)."""
        found: dict[tuple[str, str], int] = {}
        for cell, counts in self.nonzero():
            if cell.sheet == sheet and name in counts:
                key = (cell.bucket.channel, cell.detail)
                found[key] = found.get(key, 0) + counts[name]
        return found
