"""Page tokens: the position of the last item given, opaque to callers (URL-safe base64 of JSON), for
lists ordered by moments and then an id (`page_token`, `page_after`) or by one key alone
(`key_token`, `key_after`), or by any few texts (`parts_token`, `token_parts`).

A token is good only for the list, the query and the caller it was given to (Google's AIP-158): a
list call is `bind`-ed by the server interceptor to a short hash of its method, its caller and its
request without `page_token` and `page_size` (a page may be asked bigger or smaller), and every token
made during the call carries that binding. A token of another list, another query or another caller
is refused as INVALID_ARGUMENT on `page_token` instead of being read as a position in the wrong list;
so is a token given out before tokens carried a binding. Outside a call nothing is bound: tokens
carry no binding, and only such tokens are accepted. A token that does not decode is refused on
`page_token` too; so is one whose parts are not printable text (a NUL would fail the query)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message

from omnistock_platform.errors import InvalidArgument

T = TypeVar("T")

NOT_OURS = "is not a token this service gave out"
ELSEWHERE = "is a token of another list, query or caller: start again without a token"

# The binding of the list call being served ("" outside one): see `bind`.
_binding: ContextVar[str] = ContextVar("page_binding", default="")


def binding_of(method: str, caller: str, request: Message) -> str:
    """What a token given to this call is good for: the method ("service.Method"), the caller
    (`idempotency.caller_key`) and the request's other fields, hashed to 16 characters."""
    query = type(request)()
    query.CopyFrom(request)
    fields = query.DESCRIPTOR.fields_by_name
    for name in ("page_token", "page_size"):
        if name in fields:
            query.ClearField(name)
    digest = hashlib.blake2b(digest_size=12)
    for part in (method.encode(), caller.encode(), query.SerializeToString(deterministic=True)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return base64.urlsafe_b64encode(digest.digest()).decode()


def bind(method: str, caller: str, request: Message) -> None:
    """Tokens made and read from here on in this call (its context) belong to this call's list,
    query and caller."""
    _binding.set(binding_of(method, caller, request))


def parts_token(*parts: str) -> str:
    """The token of a position given as texts, bound to the call being served (if any)."""
    bound = _binding.get()
    content: dict[str, object] = {"at": list(parts)}
    if bound:
        content["for"] = bound
    return base64.urlsafe_b64encode(json.dumps(content, separators=(",", ":")).encode()).decode()


def token_parts(token: str, count: int) -> list[str]:
    """The `count` texts a token of `parts_token` holds, if it was given to the call being served."""
    try:
        content = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error) as error:
        raise InvalidArgument.of("page_token", NOT_OURS) from error
    # A list is a token given out before tokens were bound: a position in some list, nobody knows which.
    if isinstance(content, list):
        raise InvalidArgument.of("page_token", ELSEWHERE)
    if not isinstance(content, dict):
        raise InvalidArgument.of("page_token", NOT_OURS)
    if content.get("for", "") != _binding.get():
        raise InvalidArgument.of("page_token", ELSEWHERE)
    parts = content.get("at")
    if not isinstance(parts, list) or len(parts) != count:
        raise InvalidArgument.of("page_token", NOT_OURS)
    if not all(isinstance(part, str) and part.isprintable() for part in parts):
        raise InvalidArgument.of("page_token", NOT_OURS)
    return parts


def page_token(*moments: datetime, last_id: str) -> str:
    """The token of the position after the item with these sort moments and id."""
    return parts_token(*(moment.isoformat() for moment in moments), last_id)


def page_position(token: str, moments: int = 1) -> tuple[tuple[datetime, ...], str]:
    """The moments and the id a token of `page_token` holds."""
    *times, last_id = token_parts(token, moments + 1)
    try:
        return tuple(datetime.fromisoformat(moment) for moment in times), last_id
    except ValueError as error:
        raise InvalidArgument.of("page_token", NOT_OURS) from error


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
    return parts_token(key) if key else ""


def key_after(token: str) -> str:
    """The key a token of `key_token` holds: "" for no token (the first page)."""
    return token_parts(token, 1)[0] if token else ""


def page_of(rows: Sequence[T], limit: int, token_of: Callable[[T], str]) -> tuple[list[T], str]:
    """The first `limit` of `rows`, read with one more than `limit` to know whether more follow, and
    the token of the next page (`token_of` its last item), "" when none follows."""
    page = list(rows[:limit])
    return page, token_of(page[-1]) if len(rows) > limit else ""
