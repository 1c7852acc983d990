"""Cycle counts and fulfilment holds in the figures: a completed count counts at its location on the day
it was posted (lines, lines matching the book, units over and short); an order counts as held once,
however many hold events it has, and as cancelled by its hold when the hold ran out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.testing.stack import unique_id

from .conftest import rows_at
from .journeys import DAY, HOUR, MORNING, Event, Order, Publisher, allocation

NOON = datetime(2026, 6, 1, 12, tzinfo=UTC)


def count_completed(
    location_id: str, at: datetime, *, counted: int, with_variance: int, over: int, short: int
) -> Event:
    count = ipb.Count(
        count_id=unique_id("COUNT-"),
        location_id=location_id,
        status=ipb.COUNT_STATUS_COMPLETED,
        summary=ipb.CountSummary(
            lines=counted, counted=counted, with_variance=with_variance, units_over=over, units_short=short
        ),
    )
    count.closed_at.FromDatetime(at)
    return Event("inventory.count.completed", ipb.CountChanged(count=count), at)


def with_hold(event: Event, status: int) -> Event:
    event.payload.order.holds.add(  # type: ignore[attr-defined]
        fulfilment_hold_id=unique_id("FH-"), reason=common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING, status=status
    )
    return event


async def test_a_completed_count_counts_its_lines_and_how_many_matched_the_book(
    insights: Any, publisher: Publisher
) -> None:
    store = unique_id("STORE-")
    first = count_completed(store, NOON, counted=10, with_variance=2, over=1, short=4)
    published = await publisher.publish_all(
        [first, count_completed(store, NOON + HOUR, counted=5, with_variance=0, over=0, short=0)]
    )
    await publisher.redeliver(published[:1])  # the same event again counts for nothing
    (row,) = await rows_at(insights, store, from_date=DAY.isoformat(), to_date=DAY.isoformat())
    assert row.channel == common_pb2.CHANNEL_UNSPECIFIED
    stock = row.stock
    assert (stock.counts_completed, stock.count_lines, stock.count_lines_matched) == (2, 15, 13)
    assert (stock.count_units_over, stock.count_units_short) == (1, 4)
    assert abs(stock.count_accuracy - 13 / 15) < 1e-9
    assert "stock.count_accuracy" not in row.undefined_figures


async def test_held_orders_count_once_and_those_their_hold_cancelled_too(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    waited = Order(common_pb2.CHANNEL_WEB, common_pb2.FULFILMENT_METHOD_PICKUP, [("SKU-A", 1, 500)], MORNING, store)
    expired = Order(common_pb2.CHANNEL_WEB, common_pb2.FULFILMENT_METHOD_PICKUP, [("SKU-A", 1, 500)], MORNING, store)
    plain = Order(common_pb2.CHANNEL_WEB, common_pb2.FULFILMENT_METHOD_PICKUP, [("SKU-A", 1, 500)], MORNING, store)
    active, released = opb.FULFILMENT_HOLD_STATUS_ACTIVE, opb.FULFILMENT_HOLD_STATUS_RELEASED
    await publisher.publish_all(
        [
            with_hold(waited.created(allocation(store, {"SKU-A": 1})), active),
            with_hold(waited.event("hold_released", MORNING + HOUR), released),
            with_hold(expired.created(allocation(store, {"SKU-A": 1})), active),
            with_hold(expired.finished("cancelled", MORNING + 2 * HOUR, opb.ORDER_STATUS_CANCELLED), active),
            with_hold(expired.event("hold_expired", MORNING + 2 * HOUR), opb.FULFILMENT_HOLD_STATUS_EXPIRED),
            plain.created(allocation(store, {"SKU-A": 1})),
        ]
    )
    (row,) = await rows_at(insights, store, channel=common_pb2.CHANNEL_WEB)
    orders = row.orders
    assert (orders.orders, orders.held, orders.hold_expired, orders.cancelled) == (3, 2, 1, 1)
    assert abs(orders.hold_rate - 2 / 3) < 1e-9
