"""Rows summed over a dimension or over the whole range: every count is the sum of the rows it
stands for, and every rate and median is made from the summed figures themselves."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.testing.stack import unique_id

from .conftest import rows_at
from .journeys import HOUR, Event, Order, Publisher, Reservation, Task, allocation, demand_refused, stock_changed

PARTS = ("reservations", "orders", "fulfilment", "demand", "stock", "returns")
# The rates a summed row must make from its own sums: path -> (numerator, denominator) count paths.
RATES = {
    "reservations.pickup_conversion_rate": (["reservations.collected"], ["reservations.created"]),
    "reservations.no_show_rate": (["reservations.expired"], ["reservations.collected", "reservations.expired"]),
    "orders.ship_share": (["orders.ship"], ["orders.orders"]),
    "orders.split_shipment_rate": (["orders.split"], ["orders.allocated"]),
    "orders.reroute_rate": (["orders.rerouted"], ["orders.orders"]),
    "fulfilment.short_pick_rate": (
        ["fulfilment.tasks_short_picked"],
        ["fulfilment.tasks_picked", "fulfilment.tasks_short_picked"],
    ),
    "returns.return_rate": (["returns.units_returned"], ["orders.units"]),
}


def a_day_of_its_own() -> datetime:
    """Every test of a run shares the database: a day nobody else uses keeps 'every location' ours."""
    return datetime(2040, 1, 1, 9, tzinfo=UTC) + timedelta(days=random.randrange(20_000))


def two_stores(morning: datetime, east: str, west: str, warehouse: str) -> list[Event]:
    """Chat reservations at both stores (ready after 2 h in the east, 4 h in the west), web orders at
    both, a short pick in the west, refused demand at both, stock checks in the east."""
    chat, web = common_pb2.CHANNEL_CHAT, common_pb2.CHANNEL_WEB
    events: list[Event] = []
    for store, ready_after in ((east, 2 * HOUR), (west, 4 * HOUR)):
        collected = Reservation(chat, store, morning)
        events += [collected.created(), collected.ready(morning + ready_after)]
        events.append(collected.closed("collected", morning + 5 * HOUR, rpb.RESERVATION_STATUS_COLLECTED))
        no_show = Reservation(chat, store, morning + HOUR)
        events += [no_show.created(), no_show.closed("expired", morning + 30 * HOUR, rpb.RESERVATION_STATUS_EXPIRED)]
        order = Order(web, common_pb2.FULFILMENT_METHOD_SHIP, [("SKU-A", 2, 1500)], morning + HOUR)
        events.append(order.created(allocation(store, {"SKU-A": 1}), allocation(warehouse, {"SKU-A": 1})))
        events.append(demand_refused("orders", web, store, morning + 2 * HOUR, [("SKU-D", 2, 0)]))
    task = Task(west, morning + HOUR)
    events += [
        task.event("created", task.created_at),
        task.event("short_picked", morning + 2 * HOUR, fpb.TASK_STATUS_PICKED, 1),
    ]
    next_day = morning + timedelta(days=1)
    events.append(Reservation(web, east, next_day).created())
    events += [stock_changed(east, morning + 3 * HOUR, on_hand=4, held=1), stock_changed(east, next_day, 3, 0)]
    return events


async def report(insights: Any, morning: datetime, location_id: str = "", **request: Any) -> list[pb.ChannelInsights]:
    """Every row of both days (at every location unless one is named), all pages."""
    first, last = morning.date(), morning.date() + timedelta(days=1)
    return await rows_at(insights, location_id, from_date=first.isoformat(), to_date=last.isoformat(), **request)


def counts(rows: Iterable[pb.ChannelInsights]) -> Counter[str]:
    """Every count of the rows, summed, by path (revenue and shortfalls by currency and SKU)."""
    summed: Counter[str] = Counter()
    for row in rows:
        for part in PARTS:
            for descriptor, value in getattr(row, part).ListFields():
                if descriptor.type == descriptor.TYPE_INT64:
                    summed[f"{part}.{descriptor.name}"] += value
        for revenue in row.orders.revenue:
            summed[f"revenue.{revenue.currency}.amount_minor"] += revenue.amount_minor
            summed[f"revenue.{revenue.currency}.orders"] += revenue.orders
        for shortfall in row.demand.shortfalls:
            summed[f"shortfall.{shortfall.sku}.units_short"] += shortfall.units_short
            summed[f"shortfall.{shortfall.sku}.refusals"] += shortfall.refusals
    return summed


def figure(row: pb.ChannelInsights, path: str) -> float:
    part, name = path.split(".")
    return float(getattr(getattr(row, part), name))


def assert_stands_for(summed: pb.ChannelInsights, detail: list[pb.ChannelInsights]) -> None:
    assert detail, "a summed row stands for some rows"
    assert +counts([summed]) == +counts(detail)
    total = counts([summed])
    for path, (numerator, denominator) in RATES.items():
        below = sum(total[name] for name in denominator)
        expected = sum(total[name] for name in numerator) / below if below else 0.0
        assert figure(summed, path) == pytest.approx(expected), path
        assert (path in summed.undefined_figures) == (below == 0), path


async def test_every_breakdown_sums_the_rows_it_stands_for(insights: Any, publisher: Publisher) -> None:
    morning = a_day_of_its_own()
    east, west, warehouse = unique_id("EAST-"), unique_id("WEST-"), unique_id("WH-")
    await publisher.publish_all(two_stores(morning, east, west, warehouse))
    detail = await report(insights, morning)
    assert {row.location_id for row in detail} == {east, west}

    (everything,) = await report(insights, morning, group_by=pb.GROUP_BY_RANGE, breakdown=pb.BREAKDOWN_NONE)
    assert (everything.period_start, everything.period_end) == (detail[0].period_start, detail[-1].period_end)
    assert (everything.channel, everything.location_id) == (common_pb2.CHANNEL_UNSPECIFIED, "")
    assert_stands_for(everything, detail)
    assert everything.reservations.created == 5 and everything.reservations.no_show_rate == 0.5
    assert everything.orders.split_shipment_rate == 1.0
    # Medians come from the facts: the middle of 2 h and 4 h, not an average of two medians.
    assert everything.reservations.median_ready_seconds == 3 * 3600

    by_channel = await report(insights, morning, group_by=pb.GROUP_BY_RANGE, breakdown=pb.BREAKDOWN_CHANNEL)
    assert sorted(row.channel for row in by_channel) == [
        common_pb2.CHANNEL_UNSPECIFIED,
        common_pb2.CHANNEL_WEB,
        common_pb2.CHANNEL_CHAT,
    ]
    for row in by_channel:
        assert row.location_id == ""
        assert_stands_for(row, [r for r in detail if r.channel == row.channel])
    stock_only = next(row for row in by_channel if row.channel == common_pb2.CHANNEL_UNSPECIFIED)
    assert stock_only.stock.changes_checked == 2
    assert "reservations.pickup_conversion_rate" in stock_only.undefined_figures

    by_location = await report(insights, morning, breakdown=pb.BREAKDOWN_LOCATION)
    assert {(row.period_start, row.location_id) for row in by_location} == {
        (row.period_start, row.location_id) for row in detail
    }
    for row in by_location:
        assert row.channel == common_pb2.CHANNEL_UNSPECIFIED
        assert_stands_for(
            row, [r for r in detail if (r.period_start, r.location_id) == (row.period_start, row.location_id)]
        )
    medians = {row.location_id: row.reservations.median_ready_seconds for row in by_location if row.reservations.ready}
    assert medians == {east: 2 * 3600, west: 4 * 3600}

    per_day = await report(insights, morning, breakdown=pb.BREAKDOWN_NONE)
    assert [row.period_start for row in per_day] == sorted({row.period_start for row in detail})
    for row in per_day:
        assert_stands_for(row, [r for r in detail if r.period_start == row.period_start])


async def test_filters_hold_in_a_summed_row(insights: Any, publisher: Publisher) -> None:
    morning = a_day_of_its_own()
    east, west, warehouse = unique_id("EAST-"), unique_id("WEST-"), unique_id("WH-")
    await publisher.publish_all(two_stores(morning, east, west, warehouse))

    (west_only,) = await report(
        insights, morning, location_id=west, group_by=pb.GROUP_BY_RANGE, breakdown=pb.BREAKDOWN_NONE
    )
    assert_stands_for(west_only, await report(insights, morning, location_id=west))
    assert west_only.reservations.median_ready_seconds == 4 * 3600
    chat = await report(
        insights, morning, channel=common_pb2.CHANNEL_CHAT, group_by=pb.GROUP_BY_RANGE, breakdown=pb.BREAKDOWN_NONE
    )
    assert [row.reservations.created for row in chat] == [4]
    assert chat[0].orders.orders == 0 and "orders.reroute_rate" in chat[0].undefined_figures


async def test_pages_of_summed_rows_walk_every_row_once(insights: Any, publisher: Publisher) -> None:
    morning = a_day_of_its_own()
    await publisher.publish_all(two_stores(morning, unique_id("EAST-"), unique_id("WEST-"), unique_id("WH-")))
    everything = await report(insights, morning, breakdown=pb.BREAKDOWN_LOCATION)

    assert await report(insights, morning, breakdown=pb.BREAKDOWN_LOCATION, page_size=1) == everything
    day = {"from_date": morning.date().isoformat(), "to_date": morning.date().isoformat()}
    first = await insights.GetChannelInsights(
        pb.GetChannelInsightsRequest(**day, breakdown=pb.BREAKDOWN_LOCATION, page_size=1)
    )
    assert first.next_page_token
    # A token belongs to its breakdown too.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await insights.GetChannelInsights(pb.GetChannelInsightsRequest(**day, page_token=first.next_page_token))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in (refused.value.details() or "")


async def test_an_unknown_breakdown_names_its_field(insights: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await insights.GetChannelInsights(pb.GetChannelInsightsRequest(breakdown=9))  # type: ignore[arg-type]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "breakdown" in (refused.value.details() or "")
