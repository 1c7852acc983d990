"""Page tokens: the position of the last item given, opaque to callers (a JSON list in URL-safe
base64), for lists ordered by moments and then an id (`page_token`, `page_after`) or by one key
alone (`key_token`, `key_after`). A token that does not decode is refused as INVALID_ARGUMENT on
`page_token`; so is one whose id is not printable text (a NUL would fail the query)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from omnistock_platform.errors import InvalidArgument

T = TypeVar("T")


def page_token(*moments: datetime, last_id: str) -> str:
    """The token of the position after the item with these sort moments and id."""
    raw = json.dumps([*(moment.isoformat() for moment in moments), last_id])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def page_position(token: str, moments: int = 1) -> tuple[tuple[datetime, ...], str]:
    """The moments and the id a token of `page_token` holds."""
    try:
        *times, last_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        if len(times) != moments:
            raise ValueError("a token of another list")
        if not isinstance(last_id, str) or not last_id.isprintable():
            raise ValueError("not an id")
        return tuple(datetime.fromisoformat(moment) for moment in times), last_id
    except (ValueError, TypeError, binascii.Error) as error:
        raise InvalidArgument.of("page_token", "is not a token this service gave out") from error


def page_after(token: str) -> tuple[datetime, str] | None:
    """Where the page of a list ordered by one moment and an id starts: the (moment, id) of
    `token`'s last item, or None for no token (the first page)."""
    if not token:
        return None
    (moment,), last_id = page_position(token)
    return moment, last_id


def key_token(key: str) -> str:
    """The token of the position after the item with this key, in a list ordered by it alone; ""
    for no key (no page follows)."""
    return page_token(last_id=key) if key else ""


def key_after(token: str) -> str:
    """The key a token of `key_token` holds: "" for no token (the first page)."""
    return page_position(token, moments=0)[1] if token else ""


def page_of(rows: Sequence[T], limit: int, token_of: Callable[[T], str]) -> tuple[list[T], str]:
    """The first `limit` of `rows`, read with one more than `limit` to know whether more follow, and
    the token of the next page (`token_of` its last item), "" when none follows."""
    page = list(rows[:limit])
    return page, token_of(page[-1]) if len(rows) > limit else ""
