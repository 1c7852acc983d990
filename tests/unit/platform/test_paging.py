"""Page tokens: what a token gives back is the position it was made from, and a token that is not
one of ours, or holds an id no query could take, is refused on `page_token`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock_platform.errors import InvalidArgument
from omnistock_platform.paging import key_after, key_token, page_after, page_of, page_token

# Printable text: what ids are (Python's str.isprintable).
NOT_PRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")
IDS = st.text(st.characters(blacklist_categories=NOT_PRINTABLE), min_size=1, max_size=40)


@given(st.datetimes(timezones=st.just(UTC)), IDS)
def test_a_token_gives_back_its_moment_and_id(moment: datetime, last_id: str) -> None:
    assert page_after(page_token(moment, last_id=last_id)) == (moment, last_id)


@given(IDS)
def test_a_key_token_gives_back_its_key(key: str) -> None:
    assert key_after(key_token(key)) == key


def test_no_token_is_the_first_page() -> None:
    assert page_after("") is None
    assert key_after("") == ""
    assert key_token("") == ""


def forged(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "A00A",
        forged(["2026-01-01T00:00:00+00:00", "a\x00b"]),  # NUL: PostgreSQL would refuse the query
        forged(["2026-01-01T00:00:00+00:00", 7]),  # an id that is not text
        forged(["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "x"]),  # another list's token
        forged(9**30),
    ],
)
def test_a_token_not_ours_is_refused_on_page_token(token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_after(token)
    assert [v.field for v in refused.value.violations] == ["page_token"]


@given(st.lists(st.integers(), max_size=12), st.integers(min_value=1, max_value=10))
def test_a_page_is_the_first_rows_and_its_token_names_the_last_when_more_follow(rows: list[int], limit: int) -> None:
    page, following = page_of(rows, limit, lambda last: key_token(str(last)))
    assert page == rows[:limit]
    assert following == (key_token(str(rows[limit - 1])) if len(rows) > limit else "")
