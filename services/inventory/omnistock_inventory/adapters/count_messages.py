"""Count sessions and their lines as contract messages, blind where the reader must not see the book."""

from __future__ import annotations

from typing import Any

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters.messages import timestamp
from omnistock_inventory.domain.counts import CountScope, CountStatus, LineStatus, Summary

SCOPES = {
    CountScope.ALL: pb.COUNT_SCOPE_ALL,
    CountScope.SKUS: pb.COUNT_SCOPE_SKUS,
    CountScope.ATTRIBUTES: pb.COUNT_SCOPE_ATTRIBUTES,
}
SCOPE_CODES = {code: scope for scope, code in SCOPES.items()}
STATUSES = {
    CountStatus.OPEN: pb.COUNT_STATUS_OPEN,
    CountStatus.IN_REVIEW: pb.COUNT_STATUS_IN_REVIEW,
    CountStatus.COMPLETED: pb.COUNT_STATUS_COMPLETED,
    CountStatus.CANCELLED: pb.COUNT_STATUS_CANCELLED,
}
STATUS_CODES = {code: status for status, code in STATUSES.items()}
LINE_STATUSES = {
    LineStatus.UNCOUNTED: pb.COUNT_LINE_STATUS_UNCOUNTED,
    LineStatus.COUNTED: pb.COUNT_LINE_STATUS_COUNTED,
    LineStatus.NEEDS_REVIEW: pb.COUNT_LINE_STATUS_NEEDS_REVIEW,
    LineStatus.CONFIRMED: pb.COUNT_LINE_STATUS_CONFIRMED,
    LineStatus.APPROVED: pb.COUNT_LINE_STATUS_APPROVED,
}
LINE_STATUS_CODES = {code: status for status, code in LINE_STATUSES.items()}


def count(row: Any, summary: Summary, *, hidden: bool) -> pb.Count:
    figures = pb.CountSummary(
        lines=summary.lines,
        counted=summary.counted,
        uncounted=summary.uncounted,
        needs_review=summary.needs_review,
        zeroed=summary.zeroed,
    )
    if not hidden:
        figures.with_variance = summary.with_variance
        figures.units_over = summary.units_over
        figures.units_short = summary.units_short
    return pb.Count(
        count_id=row["count_id"],
        location_id=row["location_id"],
        scope=SCOPES[CountScope(row["scope"])],
        skus=sorted(row["skus"]),
        attributes=row["attributes"],
        variance_threshold=row["variance_threshold"],
        note=row["note"],
        status=STATUSES[CountStatus(row["status"])],
        created_by=row["created_by"],
        created_at=timestamp(row["created_at"]),
        reviewed_at=timestamp(row["reviewed_at"]),
        closed_at=timestamp(row["closed_at"]),
        closed_by=row["closed_by"],
        cancel_reason=row["cancel_reason"],
        summary=figures,
        figures_hidden=hidden,
    )


def line(row: Any, *, hidden: bool) -> pb.CountLine:
    message = pb.CountLine(
        sku=row["sku"],
        status=LINE_STATUSES[LineStatus(row["status"])],
        version=row["version"] or 0,
        counted_by=row["counted_by"],
        counted_at=timestamp(row["counted_at"]),
        recounts=row["recounts"],
        zeroed=row["zeroed"],
        approved_by=row["approved_by"],
        movement_id=row["movement_id"] or 0,
    )
    if row["counted"] is not None:
        message.counted = row["counted"]
        if not hidden:
            message.book_on_hand = row["book_on_hand"]
            message.variance = row["variance"]
    return message
