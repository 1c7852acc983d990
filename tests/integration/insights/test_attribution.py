"""Figures land on the right channel and location even when what they need arrives late."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock_platform.testing.stack import unique_id

from .conftest import rows_at
from .journeys import HOUR, Order, Publisher, Reservation, Task, allocation


def by_channel(rows: list[pb.ChannelInsights]) -> dict[int, pb.ChannelInsights]:
    return {row.channel: row for row in rows}


async def test_tasks_seen_before_their_order_move_to_its_channel(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    placed = datetime(2026, 5, 4, 10, tzinfo=UTC)
    order = Order(common_pb2.CHANNEL_APP, common_pb2.FULFILMENT_METHOD_SHIP, [("SKU-A", 2, 500)], placed)
    task = Task(store, placed + HOUR, order_id=order.order_id)
    # Fulfilment's events first (a redelivery after a failure can do this), the order's afterwards.
    await publisher.publish_all(
        [
            task.event("short_picked", placed + 2 * HOUR, fpb.TASK_STATUS_PICKED, short=1),
            task.event("shipped", placed + 5 * HOUR, fpb.TASK_STATUS_SHIPPED),
        ]
    )
    waiting = by_channel(await rows_at(insights, store, from_date="2026-05-04", to_date="2026-05-04"))
    assert list(waiting) == [common_pb2.CHANNEL_UNSPECIFIED]
    assert waiting[common_pb2.CHANNEL_UNSPECIFIED].fulfilment.tasks_short_picked == 1

    await publisher.publish_all([order.created(), order.allocated(placed + HOUR, allocation(store, {"SKU-A": 2}))])

    rows = by_channel(await rows_at(insights, store, from_date="2026-05-04", to_date="2026-05-04"))
    assert list(rows) == [common_pb2.CHANNEL_APP]
    app = rows[common_pb2.CHANNEL_APP]
    assert (app.fulfilment.tasks_short_picked, app.fulfilment.short_pick_rate) == (1, 1.0)
    assert (app.orders.orders, app.orders.shipped, app.orders.average_ship_seconds) == (1, 1, 5 * 3600.0)


async def test_a_ship_order_moves_to_its_first_allocation_when_it_is_allocated(
    insights: Any, publisher: Publisher
) -> None:
    warehouse, other = unique_id("WH-"), unique_id("WH-")
    # A day of its own: before allocation the order counts at no location ("").
    placed = datetime(2026, 4, 6, 8, tzinfo=UTC)
    day = placed.date().isoformat()
    lines = [("SKU-A", 1, 4200), ("SKU-B", 1, 800)]
    order = Order(common_pb2.CHANNEL_WEB, common_pb2.FULFILMENT_METHOD_SHIP, lines, placed)
    await publisher.publish_all([order.created()])
    unallocated = await insights.GetChannelInsights(
        pb.GetChannelInsightsRequest(channel=common_pb2.CHANNEL_WEB, from_date=day, to_date=day)
    )
    assert order_count(unallocated.rows, "") >= 1

    await publisher.publish_all(
        [order.allocated(placed + HOUR, allocation(warehouse, {"SKU-A": 1}), allocation(other, {"SKU-B": 1}))]
    )

    (row,) = await rows_at(insights, warehouse, from_date=day, to_date=day)
    assert (row.orders.orders, row.orders.allocated, row.orders.split) == (1, 1, 1)
    assert [(r.currency, r.amount_minor) for r in row.orders.revenue] == [("EUR", 5000)]
    after = await insights.GetChannelInsights(
        pb.GetChannelInsightsRequest(channel=common_pb2.CHANNEL_WEB, from_date=day, to_date=day)
    )
    assert order_count(after.rows, "") == order_count(unallocated.rows, "") - 1
    assert await rows_at(insights, other, from_date=day, to_date=day) == []


def order_count(rows: Any, location_id: str) -> int:
    return sum(row.orders.orders for row in rows if row.location_id == location_id)


async def test_a_reservation_counts_on_the_day_it_was_made(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    late_evening = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    reservation = Reservation(common_pb2.CHANNEL_WEB, store, late_evening)
    await publisher.publish_all(
        [
            reservation.created(),
            reservation.ready(late_evening + HOUR),
            reservation.closed("collected", late_evening + 30 * HOUR, 4),
        ]
    )
    (row,) = await rows_at(insights, store, from_date="2026-03-01", to_date="2026-03-05")
    assert (row.period_start, row.reservations.created, row.reservations.collected) == ("2026-03-02", 1, 1)
    assert row.reservations.pickup_conversion_rate == 1.0
    assert row.reservations.average_ready_seconds == 3600.0


async def test_a_refused_reservation_is_refused_demand_not_a_reservation(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    reservation = Reservation(common_pb2.CHANNEL_CHAT, store, datetime(2026, 3, 3, 12, tzinfo=UTC), status=8)
    await publisher.publish_all([reservation.created()])
    assert await rows_at(insights, store, from_date="2026-03-03", to_date="2026-03-03") == []


async def test_an_order_cancelled_stays_an_order_placed(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    placed = datetime(2026, 3, 4, 12, tzinfo=UTC)
    order = Order(common_pb2.CHANNEL_POS, common_pb2.FULFILMENT_METHOD_CARRY_OUT, [("SKU-A", 1, 100)], placed, store)
    await publisher.publish_all([order.created(), order.finished("cancelled", placed + HOUR, 5)])
    (row,) = await rows_at(insights, store, from_date="2026-03-04", to_date="2026-03-04")
    assert (row.channel, row.orders.orders, row.orders.cancelled, row.orders.carry_out_share) == (
        common_pb2.CHANNEL_POS,
        1,
        1,
        1.0,
    )
    assert date.fromisoformat(row.period_start) == placed.date()
