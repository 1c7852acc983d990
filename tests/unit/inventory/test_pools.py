"""The availability rule per channel: a pool never gives a channel more than the rule without
pools would, never the units it keeps back, and a channel without pools sees what it always saw."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.domain.stock import Counters, Pool, available, channel_available, kept_back
from omnistock_inventory.service_layer.stock import StockLevels
from omnistock_inventory.service_layer.stock_view import StockView, ViewRow
from omnistock_inventory.settings import InventorySettings

counts = st.integers(min_value=0, max_value=500)
pools = st.builds(
    Pool,
    group_id=st.sampled_from(["a-group", "b-group", "c-group"]),
    cap_percent=st.integers(min_value=1, max_value=100),
    buffer_units=st.integers(min_value=0, max_value=50),
    allow_in_transit=st.booleans(),
)


@st.composite
def counters(draw: st.DrawFn) -> Counters:
    on_hand = draw(counts)
    incoming = draw(counts)
    return Counters(on_hand, draw(st.integers(0, on_hand + incoming)), draw(counts), incoming)


def test_the_web_shop_may_sell_eighty_percent_and_never_the_buffer() -> None:
    stores = Pool("berlin-stores", cap_percent=80, buffer_units=1)
    # 10 on hand: the cap keeps 2 back, the buffer one more; 7 for the web shop.
    assert channel_available(Counters(10, 0, 0), [stores], use_safety_stock=False) == (7, stores)
    assert kept_back(Counters(10, 0, 0), stores) == 3
    # Every channel's holds count against what is left: 5 held elsewhere leave the web shop 2.
    assert channel_available(Counters(10, 5, 0), [stores], use_safety_stock=False) == (2, stores)
    # 9 on hand: 80 % is 7.2, rounded down to 7 (2 kept), plus the buffer: 6.
    assert channel_available(Counters(9, 0, 0), [stores], use_safety_stock=False)[0] == 6
    # The last units are the store's, whatever else happens.
    assert channel_available(Counters(3, 0, 0), [stores], use_safety_stock=False)[0] == 1
    assert channel_available(Counters(1, 0, 0), [stores], use_safety_stock=False)[0] == 0


def test_a_channel_sells_only_where_its_groups_are_and_through_the_best_pool() -> None:
    small, large = Pool("a-group", cap_percent=50), Pool("b-group", cap_percent=100, buffer_units=2)
    assert channel_available(Counters(10, 0, 0), [], use_safety_stock=False) == (0, None)  # outside its groups
    assert channel_available(Counters(10, 0, 0), [small, large], use_safety_stock=False) == (8, large)
    assert channel_available(Counters(2, 0, 0), [small, large], use_safety_stock=False) == (1, small)


def test_units_on_their_way_only_where_the_pool_allows_them() -> None:
    sofa = Counters(on_hand=1, held=0, safety_stock=0, incoming=5)  # a backorderable SKU: 6 to promise
    assert channel_available(sofa, None, use_safety_stock=False, backorder=True) == (6, None)
    assert channel_available(sofa, [Pool("g")], use_safety_stock=False, backorder=True)[0] == 1
    assert channel_available(sofa, [Pool("g", allow_in_transit=True)], use_safety_stock=False, backorder=True)[0] == 6
    # A SKU that may not be backordered is never promised from its incoming units.
    assert channel_available(sofa, [Pool("g", allow_in_transit=True)], use_safety_stock=False)[0] == 1


@given(row=counters(), safety_ok=st.booleans(), backorder=st.booleans())
def test_a_channel_without_pools_sees_what_it_always_saw(row: Counters, safety_ok: bool, backorder: bool) -> None:
    expected = available(row, use_safety_stock=safety_ok, backorder=backorder)
    assert channel_available(row, None, use_safety_stock=safety_ok, backorder=backorder) == (expected, None)


@given(row=counters(), safety_ok=st.booleans(), backorder=st.booleans(), given_pools=st.lists(pools, max_size=3))
def test_a_pool_never_gives_more_than_the_rule_nor_what_it_keeps_back(
    row: Counters, safety_ok: bool, backorder: bool, given_pools: list[Pool]
) -> None:
    units, pool = channel_available(row, given_pools, use_safety_stock=safety_ok, backorder=backorder)
    assert 0 <= units <= available(row, use_safety_stock=safety_ok, backorder=backorder)
    if pool is None:
        assert units == 0 and not given_pools
        return
    assert pool in given_pools
    extra = row.incoming if pool.allow_in_transit else 0
    assert units <= max(0, row.on_hand - row.held - kept_back(row, pool) + extra)
    # No other pool of the channel at the location would have given more.
    others = [channel_available(row, [p], use_safety_stock=safety_ok, backorder=backorder)[0] for p in given_pools]
    assert units == max(others)


@given(row=counters())
def test_a_full_pool_without_buffer_changes_nothing(row: Counters) -> None:
    whole = Pool("g", cap_percent=100, buffer_units=0, allow_in_transit=True)
    for backorder in (False, True):
        assert channel_available(row, [whole], use_safety_stock=False, backorder=backorder)[0] == available(
            row, use_safety_stock=False, backorder=backorder
        )


PLACE = {
    "location_id": "mitte",
    "name": "Mitte",
    "kind": "store",
    "city": "Berlin",
    "latitude": 52.52,
    "longitude": 13.4,
    "routing_rank": 1,
    "ships": True,
    "pickup": True,
    "till_sales": True,
    "active": True,
}


@given(
    row=counters(),
    backorder=st.booleans(),
    channel=st.sampled_from([common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_CHAT, common_pb2.CHANNEL_POS]),
    given_pools=st.one_of(st.none(), st.lists(pools, max_size=3)),
)
def test_rows_from_memory_and_from_the_database_are_seen_through_the_same_pools(
    row: Counters, backorder: bool, channel: int, given_pools: list[Pool] | None
) -> None:
    stock = {
        "location_id": "mitte",
        "sku": "sofa",
        "on_hand": row.on_hand,
        "held": row.held,
        "safety_stock": row.safety_stock,
        "incoming": row.incoming,
        "next_incoming_at": None,
        "version": 3,
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        "in_transit": 0,
    }
    from_database = {**stock, **PLACE, "allow_backorder": backorder}
    from_memory = ViewRow(stock, backorder, PLACE)  # type: ignore[arg-type]
    by_location = None if given_pools is None else {"mitte": given_pools}
    (memory,) = StockLevels._levels([from_memory], channel, "mitte", by_location)
    (database,) = StockLevels._levels([from_database], channel, "mitte", by_location)  # type: ignore[list-item]
    assert memory == database
    units, pool = channel_available(
        row, given_pools, use_safety_stock=channel == common_pb2.CHANNEL_POS, backorder=backorder
    )
    assert (memory.available, memory.pool_group_id) == (units, pool.group_id if pool else "")
    # FindAvailability's ranking decides on the same numbers from either kind of row.
    request = pb.FindAvailabilityRequest(
        items=[common_pb2.SkuQuantity(sku="sofa", quantity=1)], channel=channel, selling_location_id="mitte"
    )
    stock_levels = StockLevels.__new__(StockLevels)
    stock_levels.view = StockView(None, InventorySettings())  # type: ignore[arg-type]  # its location messages only
    ranked = [
        stock_levels._ranked(  # one clock: the promises are part of the answer
            request,
            {"sofa": 1},
            {"mitte": place},
            {"mitte": [each]}.__getitem__,
            10,
            by_location,
            None,
            clock=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for each, place in ((from_memory, PLACE), (from_database, from_database))
    ]
    assert ranked[0] == ranked[1]
    assert [entry.levels[0].available for entry in ranked[0]] == ([units] if units > 0 else [])
    outside = stock_levels._ranked(
        request, {"sofa": 1}, {"mitte": PLACE}, {"mitte": [from_memory]}.__getitem__, 10, by_location, {"elsewhere"}
    )
    assert outside == []
