"""Refused demand and oversells: counted as they come, never assumed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from omnistock.common.v1 import common_pb2
from omnistock_platform.testing.stack import unique_id

from .conftest import rows_at
from .journeys import HOUR, Publisher, demand_refused, stock_changed

NOON = datetime(2026, 3, 9, 12, tzinfo=UTC)
DAY = NOON.date().isoformat()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_oversells_are_counted_from_the_stock_levels_themselves(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    oversells, checked = (
        sample("omnistock_insights_oversells_total"),
        sample("omnistock_insights_stock_changes_checked_total"),
    )
    await publisher.publish_all(
        [
            stock_changed(store, NOON, on_hand=2, held=2),
            # Held against incoming stock: a backorder, by design, not an oversell.
            stock_changed(store, NOON + HOUR, on_hand=0, held=3, incoming=5),
            stock_changed(store, NOON + 2 * HOUR, on_hand=1, held=2),
            stock_changed(store, NOON + 3 * HOUR, on_hand=-1, held=0),
        ]
    )
    (row,) = await rows_at(insights, store, from_date=DAY, to_date=DAY)
    assert row.channel == common_pb2.CHANNEL_UNSPECIFIED
    assert (row.stock.changes_checked, row.stock.oversells) == (4, 2)
    # The counters are the process's: another insights service of the test run, following the same
    # stream, counts these events too. The row above is this service's own, exact count.
    assert sample("omnistock_insights_oversells_total") - oversells >= 2
    assert sample("omnistock_insights_stock_changes_checked_total") - checked >= 4


async def test_units_held_on_their_way_by_a_transfer_are_no_oversell(insights: Any, publisher: Publisher) -> None:
    """A pool that allows units in transit (docs/pools.md) holds units a transfer is still bringing:
    held may exceed on hand by what is in transit, less what ship to store reserved of it, as
    inventory's own check allows. Insights counted every such change as an oversell, so a healthy
    store reported them ('never more than 0 in a healthy system')."""
    store = unique_id("STORE-")
    await publisher.publish_all(
        [
            stock_changed(store, NOON, on_hand=1, held=3, in_transit=2),
            stock_changed(store, NOON + HOUR, on_hand=1, held=3, in_transit=4, in_transit_reserved=2),
            # Beyond what is on its way for the pool: an oversell.
            stock_changed(store, NOON + 2 * HOUR, on_hand=1, held=3, in_transit=3, in_transit_reserved=2),
        ]
    )
    (row,) = await rows_at(insights, store, from_date=DAY, to_date=DAY)
    assert (row.stock.changes_checked, row.stock.oversells) == (3, 1)


async def test_refused_demand_counts_by_sku_at_the_location_that_was_short(insights: Any, publisher: Publisher) -> None:
    store, warehouse = unique_id("STORE-"), unique_id("WH-")
    refused = sample("omnistock_insights_demand_refused_total", channel="app")
    event = demand_refused("orders", common_pb2.CHANNEL_APP, store, NOON, [("SKU-X", 2, 1)])
    # Routing looked further: the warehouse was short too.
    event.payload.short.add(location_id=warehouse, sku="SKU-X", requested=2, available=0)  # type: ignore[attr-defined]
    await publisher.publish_all(
        [event, demand_refused("orders", common_pb2.CHANNEL_APP, store, NOON, [("SKU-X", 4, 0)])]
    )

    (at_store,) = await rows_at(insights, store, from_date=DAY, to_date=DAY)
    assert (at_store.demand.refused, at_store.demand.short_lines) == (2, 2)
    assert [(s.sku, s.refusals, s.units_requested, s.units_short) for s in at_store.demand.shortfalls] == [
        ("SKU-X", 2, 6, 5)
    ]
    (at_warehouse,) = await rows_at(insights, warehouse, from_date=DAY, to_date=DAY)
    assert (at_warehouse.demand.refused, at_warehouse.demand.short_lines) == (0, 1)
    assert [(s.sku, s.units_short) for s in at_warehouse.demand.shortfalls] == [("SKU-X", 2)]
    assert sample("omnistock_insights_demand_refused_total", channel="app") - refused == 2
