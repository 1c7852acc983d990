"""Cycle counts: the rules of a count taken while the location keeps selling.

A line is counted at a ledger position: the stock row's version and its book on hand at the moment
of the scan. Its variance is counted minus that book, so a sale, a hold or a receipt that happens
after the scan is in the book and on the shelf alike and drops out of the difference; posting the
variance as a delta on the on hand of the moment of posting then makes the book equal the shelf.

A variance larger than the count's threshold (either way) needs a second look before it is posted:
a recount that finds the same variance confirms it (two counts agree), one within the threshold
settles it, or somebody other than the counter approves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class CountStatus(StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class CountScope(StrEnum):
    ALL = "all"
    SKUS = "skus"
    ATTRIBUTES = "attributes"


class LineStatus(StrEnum):
    UNCOUNTED = "uncounted"
    COUNTED = "counted"
    NEEDS_REVIEW = "needs_review"
    CONFIRMED = "confirmed"
    APPROVED = "approved"


# Adjustment reasons that correct the book to the shelf without a unit moving (a count found a
# different quantity, a booking error put right): booked after a line was counted, the line's
# variance, taken before, holds the same difference, and its posting would book it again. Damage,
# shrinkage (units lost or stolen) and returns move units on the shelf as in the book, so the delta
# rule carries them as it carries a sale.
BOOK_CORRECTIONS = frozenset({"count", "correction"})

# Counting goes on in both; a completed or cancelled count never changes again.
COUNTING = frozenset({CountStatus.OPEN, CountStatus.IN_REVIEW})
# Lines that may be posted as they are.
SETTLED = frozenset({LineStatus.COUNTED, LineStatus.CONFIRMED, LineStatus.APPROVED})


@dataclass(frozen=True)
class Scan:
    """What the shelf showed and what the book said at the same ledger position."""

    counted: int
    book_on_hand: int
    version: int

    @property
    def variance(self) -> int:
        return self.counted - self.book_on_hand


@dataclass(frozen=True)
class Earlier:
    """The line before a scan: its status and, when it was counted by a person, its variance."""

    status: LineStatus
    variance: int | None
    zeroed: bool


def judge(scan: Scan, threshold: int, earlier: Earlier | None) -> LineStatus:
    """The status a line takes with this scan. Within the threshold it is counted; above it, it
    needs review unless the previous count by a person found exactly the same variance."""
    if abs(scan.variance) <= threshold:
        return LineStatus.COUNTED
    if earlier is not None and not earlier.zeroed and earlier.variance == scan.variance:
        return LineStatus.CONFIRMED
    return LineStatus.NEEDS_REVIEW


def confirmable(earlier: Earlier | None) -> int | None:
    """The variance a recount may confirm: that of the line's last count by a person, if any."""
    if earlier is None or earlier.zeroed or earlier.status is LineStatus.UNCOUNTED:
        return None
    return earlier.variance


def in_scope(
    scope: CountScope, skus: Iterable[str], attributes: Mapping[str, str], sku: str, have: Mapping[str, str]
) -> bool:
    """Whether a SKU (with its attributes `have`) belongs to the count's scope."""
    if scope is CountScope.ALL:
        return True
    if scope is CountScope.SKUS:
        return sku in set(skus)
    lowered = {key.lower(): value.lower() for key, value in have.items()}
    return all(lowered.get(key.lower()) == value.lower() for key, value in attributes.items())


@dataclass(frozen=True)
class Summary:
    """What a count found so far (see CountSummary in the contract)."""

    lines: int = 0
    counted: int = 0
    uncounted: int = 0
    needs_review: int = 0
    with_variance: int = 0
    units_over: int = 0
    units_short: int = 0
    zeroed: int = 0
