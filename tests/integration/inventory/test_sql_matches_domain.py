"""The conditional update and the availability answers use one rule: the SQL
expression must agree with the domain function on every input, with a channel's pools too."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnistock_inventory.adapters.repository import available_sql, channel_available_sql
from omnistock_inventory.domain.stock import Counters, Pool, available, channel_available
from omnistock_platform.testing.stack import unique_id

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


pools = st.lists(
    st.builds(
        Pool,
        group_id=st.sampled_from(["a", "b", "c"]),
        cap_percent=st.integers(min_value=1, max_value=100),
        buffer_units=st.integers(min_value=0, max_value=50),
        allow_in_transit=st.booleans(),
        allow_transfer_in_transit=st.booleans(),
    ),
    max_size=3,
    unique_by=lambda pool: pool.group_id,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    on_hand=counts,
    held=counts,
    safety=counts,
    incoming=counts,
    in_transit=counts,
    reserved=counts,
    safety_ok=st.booleans(),
    backorder=st.booleans(),
    sold_now=st.booleans(),
    given_pools=st.none() | pools,
    member=st.booleans(),
)
async def test_sql_channel_availability_equals_the_domain_rule(
    db, on_hand, held, safety, incoming, in_transit, reserved, safety_ok, backorder, sold_now, given_pools, member
) -> None:
    """The pools of a channel of the test's own (no real channel sees them; rolled back): the
    location is in every pool's group, or (not `member`) in none of them. Held may exceed on hand
    (units promised in transit), and a sale carried out now counts nothing in transit."""
    reserved = min(reserved, in_transit)
    run = unique_id()
    channel, location_id = f"channel-{run}", f"LOC-SQL-{run}"
    expression = channel_available_sql(
        use_safety_stock="$6::boolean",
        backorder="$7::boolean",
        channel="$8::text",
        location="s.location_id",
        later="$11::boolean",
    )
    async with db.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(
                "INSERT INTO inventory.locations (location_id, name, kind, city, latitude, longitude, routing_rank,"
                " ships, pickup, till_sales, active) VALUES ($1, $1, 'store', 'Kiel', 54.3, 10.1, 1, true, true,"
                " true, true)",
                location_id,
            )
            for pool in given_pools or []:
                group_id = f"{pool.group_id}-{run}"
                await conn.execute(
                    "INSERT INTO inventory.location_groups (group_id, display_name) VALUES ($1, $1)", group_id
                )
                if member:
                    await conn.execute(
                        "INSERT INTO inventory.location_group_members (group_id, location_id) VALUES ($1, $2)",
                        group_id,
                        location_id,
                    )
                await conn.execute(
                    "INSERT INTO inventory.channel_pools (channel, group_id, cap_percent, buffer_units,"
                    " allow_in_transit, allow_transfer_in_transit) VALUES ($1, $2, $3, $4, $5, $6)",
                    channel,
                    group_id,
                    pool.cap_percent,
                    pool.buffer_units,
                    pool.allow_in_transit,
                    pool.allow_transfer_in_transit,
                )
            in_sql = await conn.fetchval(
                f"SELECT GREATEST(0, {expression}) FROM (SELECT $1::bigint AS on_hand, $2::bigint AS held,"
                " $3::bigint AS safety_stock, $4::bigint AS incoming, $5::text AS location_id,"
                " $9::bigint AS in_transit, $10::bigint AS in_transit_reserved) AS s",
                on_hand,
                held,
                safety,
                incoming,
                location_id,
                safety_ok,
                backorder,
                channel,
                in_transit,
                reserved,
                not sold_now,
            )
        finally:
            await transaction.rollback()
    # No pool rows: a channel without pools (today's rule); else its pools here, or none (outside them).
    at_location = (given_pools if member else []) if given_pools else None
    expected, _ = channel_available(
        Counters(on_hand, held, safety, incoming, in_transit - reserved),
        at_location,
        use_safety_stock=safety_ok,
        backorder=backorder,
        sold_now=sold_now,
    )
    assert in_sql == expected
