"""What the lists of records at locations (counts, transfers) share: their request's filters,
checked, and their pages, newest first by (created_at, id)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from omnistock_platform.auth import visible_locations
from omnistock_platform.paging import page_after, page_of, page_token
from omnistock_platform.validation import Validator


class ListRequest(Protocol):
    """ListCountsRequest, ListTransfersRequest: what they share."""

    @property
    def location_id(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def page_size(self) -> int: ...
    @property
    def page_token(self) -> str: ...


@dataclass(frozen=True)
class Filters:
    # The locations the caller may see of the one asked for; [] stands for every location.
    location_ids: list[str]
    # A status word; "" for every status.
    status: str
    after: tuple[datetime, str] | None
    limit: int


def filters(request: ListRequest, statuses: Mapping[Any, StrEnum]) -> Filters:
    """The request's filters, or INVALID_ARGUMENT naming every bad field (an unknown status, a page
    size out of range, a token not ours)."""
    check = Validator()
    check.identifier("location_id", request.location_id, required=False)
    check.check(request.status == 0 or request.status in statuses, "status", "unknown value")
    limit = check.page_size("page_size", request.page_size)
    check.raise_if_invalid()
    after = page_after(request.page_token)
    status = statuses[request.status].value if request.status else ""
    return Filters(visible_locations(request.location_id), status, after, limit)


def newest_first(rows: Sequence[Any], limit: int, id_column: str) -> tuple[list[Any], str]:
    """The page of rows read for `Filters` (with one more than its limit), and the next page's token."""
    return page_of(rows, limit, lambda last: page_token(last["created_at"], last_id=last[id_column]))
