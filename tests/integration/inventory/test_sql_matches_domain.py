"""The conditional update and the availability answers use one rule: the SQL
expression must agree with the domain function on every input."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnistock_inventory.adapters.repository import available_sql
from omnistock_inventory.domain.stock import Counters, available

counts = st.integers(min_value=0, max_value=1000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(on_hand=counts, held=counts, safety=counts, incoming=counts, safety_ok=st.booleans(), backorder=st.booleans())
async def test_sql_availability_equals_the_domain_rule(
    db, on_hand, held, safety, incoming, safety_ok, backorder
) -> None:
    expression = available_sql(use_safety_stock="$6::boolean", backorder="$7::boolean")
    in_sql = await db.fetchval(
        f"SELECT GREATEST(0, {expression}) FROM (SELECT $1::bigint AS on_hand, $2::bigint AS held,"
        " $3::bigint AS safety_stock, $4::bigint AS incoming, $5::int AS unused) AS row",
        on_hand,
        held,
        safety,
        incoming,
        0,
        safety_ok,
        backorder,
    )
    assert in_sql == available(
        Counters(on_hand, held, safety, incoming), use_safety_stock=safety_ok, backorder=backorder
    )
