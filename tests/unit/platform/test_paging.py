"""Page tokens: what a token gives back is the position it was made from; a token that is not one of
ours, or holds an id no query could take, is refused on `page_token`; and a token is good only for the
list, query and caller it was given to (its binding), page_size aside."""

from __future__ import annotations

import base64
import contextvars
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.errors import InvalidArgument
from omnistock_platform.paging import (
    ELSEWHERE,
    bind,
    binding_of,
    key_after,
    key_token,
    page_after,
    page_of,
    page_token,
)

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


def encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def forged(position: object) -> str:
    """A token at this position, bound to nothing (as made outside a call)."""
    return encoded({"at": position})


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "A00A",
        forged(["2026-01-01T00:00:00+00:00", "a\x00b"]),  # NUL: PostgreSQL would refuse the query
        forged(["2026-01-01T00:00:00+00:00", 7]),  # an id that is not text
        forged(["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "x"]),  # another list's token
        forged(9**30),
        encoded(9**30),
        encoded({"for": ""}),
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


CALLER = "admin:0123"
ORDERS_AT_A = opb.ListOrdersRequest(location_id="STORE-A")


def within(method: str, caller: str, request: Any, then: Callable[[], Any]) -> Any:
    """`then()` as it runs inside a list call of this method, caller and request."""

    def run() -> Any:
        bind(method, caller, request)
        return then()

    return contextvars.copy_context().run(run)


def refusal(read: Callable[[], Any]) -> str:
    with pytest.raises(InvalidArgument) as refused:
        read()
    [violation] = refused.value.violations
    assert violation.field == "page_token"
    return violation.description


MOMENT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_a_token_is_read_back_in_the_call_of_its_list_query_and_caller_whatever_its_page_size() -> None:
    token = within("orders.ListOrders", CALLER, ORDERS_AT_A, lambda: page_token(MOMENT, last_id="ORDER-1"))
    bigger = opb.ListOrdersRequest(location_id="STORE-A", page_size=7, page_token=token)
    assert within("orders.ListOrders", CALLER, bigger, lambda: page_after(token)) == (MOMENT, "ORDER-1")


@pytest.mark.parametrize(
    ("method", "caller", "request_"),
    [
        ("orders.ListReturns", CALLER, opb.ListReturnsRequest(location_id="STORE-A")),  # another list
        ("orders.ListOrders", CALLER, opb.ListOrdersRequest(location_id="STORE-B")),  # another query
        ("orders.ListOrders", CALLER, opb.ListOrdersRequest(location_id="STORE-A", status=2)),
        ("orders.ListOrders", "admin:4567", ORDERS_AT_A),  # another caller
    ],
    ids=["another list", "another filter value", "one more filter", "another caller"],
)
def test_a_token_of_another_list_query_or_caller_is_refused(method: str, caller: str, request_: Any) -> None:
    token = within("orders.ListOrders", CALLER, ORDERS_AT_A, lambda: page_token(MOMENT, last_id="ORDER-1"))
    assert refusal(lambda: within(method, caller, request_, lambda: page_after(token))) == ELSEWHERE


def test_tokens_made_outside_a_call_and_those_of_a_call_do_not_mix() -> None:
    bound = within("inventory.ListHolds", CALLER, ipb.ListHoldsRequest(), lambda: key_token("HOLD-1"))
    assert refusal(lambda: key_after(bound)) == ELSEWHERE
    unbound = key_token("HOLD-1")
    assert refusal(lambda: within("inventory.ListHolds", CALLER, ipb.ListHoldsRequest(), lambda: key_after(unbound)))
    assert key_after(unbound) == "HOLD-1"


def test_a_token_given_out_before_tokens_were_bound_is_refused_as_of_another_list() -> None:
    old = encoded([MOMENT.isoformat(), "ORDER-1"])  # how tokens were made before
    assert refusal(lambda: page_after(old)) == ELSEWHERE
    assert refusal(lambda: within("orders.ListOrders", CALLER, ORDERS_AT_A, lambda: page_after(old))) == ELSEWHERE


def test_the_binding_leaves_out_the_page_and_nothing_else() -> None:
    base = binding_of("inventory.ListSkus", CALLER, ipb.ListSkusRequest(text="sofa", attributes={"a": "1", "b": "2"}))
    reordered = ipb.ListSkusRequest(text="sofa", page_size=3, page_token="x")
    reordered.attributes["b"] = "2"
    reordered.attributes["a"] = "1"
    assert binding_of("inventory.ListSkus", CALLER, reordered) == base
    assert binding_of("inventory.ListSkus", CALLER, ipb.ListSkusRequest(text="sofa", attributes={"a": "1"})) != base
    assert binding_of("inventory.ListSkus", "admin:4567", ipb.ListSkusRequest(text="sofa")) != binding_of(
        "inventory.ListSkus", CALLER, ipb.ListSkusRequest(text="sofa")
    )
