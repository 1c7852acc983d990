"""What the lists of records at locations (counts, transfers, holds, movements) share: their request's
filters, checked (an id filter naming nothing that exists is NOT_FOUND, not an empty list), and their
pages, newest first by (created_at, id)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import asyncpg

from omnistock_inventory.adapters import repository
from omnistock_platform.auth import visible_locations
from omnistock_platform.errors import NotFound
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


async def ensure_known(pool: asyncpg.Pool, *, location_id: str = "", sku: str = "") -> None:
    """NOT_FOUND naming the filter's field for a location or SKU that does not exist: a mistyped id
    must not read as "nothing happened there". One that exists and matches nothing stays an empty
    list. Checked after the caller's access, so staff learn nothing of locations not theirs."""
    if location_id and await repository.get_location(pool, location_id) is None:
        raise NotFound("location", location_id, field="location_id")
    if sku and await repository.get_sku(pool, sku) is None:
        raise NotFound("sku", sku, field="sku")


def newest_first(rows: Sequence[Any], limit: int, id_column: str) -> tuple[list[Any], str]:
    """The page of rows read for `Filters` (with one more than its limit), and the next page's token."""
    return page_of(rows, limit, lambda last: page_token(last["created_at"], last_id=last[id_column]))
