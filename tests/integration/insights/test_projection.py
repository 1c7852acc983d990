"""A known day of journeys, counted exactly, whatever the bus does with its events."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from omnistock.common.v1 import common_pb2
from omnistock.insights.v1 import insights_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_insights.entrypoints.handlers import DURABLE
from omnistock_platform.events.consumer import dead_letter_subject
from omnistock_platform.testing.stack import unique_id

from .conftest import rows_at
from .journeys import DAY, HOUR, MORNING, Event, Order, Publisher, Reservation, allocation, store_day

HOUR_MS = 3_600_000
# The rates and averages that have nothing to be made of where a row has no reservations, orders or tasks.
NO_RESERVATIONS = [
    "reservations.pickup_conversion_rate",
    "reservations.no_show_rate",
    "reservations.average_ready_seconds",
]
NO_ORDERS = [
    "orders.ship_share",
    "orders.pickup_share",
    "orders.carry_out_share",
    "orders.split_shipment_rate",
    "orders.reroute_rate",
    "orders.average_ship_seconds",
]
NO_TASKS = ["fulfilment.short_pick_rate"]
NO_HOLDS = ["orders.hold_rate"]
NO_COUNTS = ["stock.count_accuracy"]
NO_RETURNS = ["returns.return_rate"]


def expected_store_day(store: str) -> list[pb.ChannelInsights]:
    """Every figure of journeys.store_day, worked out by hand. Rows come by channel name:
    chat, unspecified (stock), web."""
    day = DAY.isoformat()
    chat = pb.ChannelInsights(
        period_start=day,
        period_end=day,
        channel=common_pb2.CHANNEL_CHAT,
        location_id=store,
        reservations=pb.ReservationFigures(
            created=4,
            collected=2,
            expired=1,
            cancelled=1,
            pickup_conversion_rate=2 / 4,
            no_show_rate=1 / 3,
            ready=2,
            ready_time_ms_sum=6 * HOUR_MS,
            average_ready_seconds=3 * 3600.0,
            median_ready_seconds=3 * 3600.0,
        ),
        orders=pb.OrderFigures(),
        fulfilment=pb.FulfilmentFigures(tasks_picked=1, tasks_short_picked=1, short_pick_rate=0.5),
        demand=pb.DemandFigures(
            refused=1,
            short_lines=2,
            shortfalls=[
                pb.Shortfall(sku="SKU-E", refusals=1, units_requested=3, units_short=2),
                pb.Shortfall(sku="SKU-D", refusals=1, units_requested=1, units_short=1),
            ],
        ),
        stock=pb.StockFigures(),
        returns=pb.ReturnFigures(),
        undefined_figures=NO_ORDERS + NO_HOLDS + NO_COUNTS + NO_RETURNS,
    )
    stock = pb.ChannelInsights(
        period_start=day,
        period_end=day,
        channel=common_pb2.CHANNEL_UNSPECIFIED,
        location_id=store,
        reservations=pb.ReservationFigures(),
        orders=pb.OrderFigures(),
        fulfilment=pb.FulfilmentFigures(),
        demand=pb.DemandFigures(),
        stock=pb.StockFigures(changes_checked=3, oversells=0),
        returns=pb.ReturnFigures(),
        undefined_figures=NO_RESERVATIONS + NO_ORDERS + NO_TASKS + NO_HOLDS + NO_COUNTS + NO_RETURNS,
    )
    web = pb.ChannelInsights(
        period_start=day,
        period_end=day,
        channel=common_pb2.CHANNEL_WEB,
        location_id=store,
        reservations=pb.ReservationFigures(),
        orders=pb.OrderFigures(
            orders=3,
            units=7,
            cancelled=0,
            # 2 x 15.00 + 30.00, 15.00, 3 x 9.99
            revenue=[pb.Revenue(currency="EUR", amount_minor=10497, orders=3, average_order_value_minor=3499.0)],
            ship=1,
            pickup=1,
            carry_out=1,
            ship_share=1 / 3,
            pickup_share=1 / 3,
            carry_out_share=1 / 3,
            allocated=3,
            split=1,
            split_shipment_rate=1 / 3,
            rerouted=1,
            reroute_rate=1 / 3,
            shipped=1,
            ship_time_ms_sum=26 * HOUR_MS,
            average_ship_seconds=26 * 3600.0,
            median_ship_seconds=26 * 3600.0,
        ),
        fulfilment=pb.FulfilmentFigures(tasks_picked=2, tasks_short_picked=1, short_pick_rate=1 / 3),
        demand=pb.DemandFigures(
            refused=1,
            short_lines=1,
            shortfalls=[pb.Shortfall(sku="SKU-D", refusals=1, units_requested=2, units_short=2)],
        ),
        stock=pb.StockFigures(),
        returns=pb.ReturnFigures(),
        undefined_figures=NO_RESERVATIONS + NO_COUNTS,
    )
    return [chat, stock, web]


def as_dicts(rows: list[pb.ChannelInsights]) -> list[dict[str, Any]]:
    """Every field, zeros included, for a readable difference when a figure is off."""
    return [
        json_format.MessageToDict(row, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        for row in rows
    ]


async def test_a_day_of_journeys_is_counted_exactly(insights: Any, publisher: Publisher) -> None:
    store, warehouse = unique_id("STORE-"), unique_id("WH-")
    await publisher.publish_all(store_day(store, warehouse))

    rows = await rows_at(insights, store)
    assert as_dicts(rows) == as_dicts(expected_store_day(store))
    # Over the channels: 5 tasks at the store, 2 of them short.
    picked = sum(row.fulfilment.tasks_picked for row in rows)
    short = sum(row.fulfilment.tasks_short_picked for row in rows)
    assert (picked + short, short) == (5, 2)
    # The split order counts at the location of its first allocation, the store: nothing at the warehouse.
    assert await rows_at(insights, warehouse) == []


async def test_every_event_delivered_again_changes_nothing(insights: Any, publisher: Publisher) -> None:
    store, warehouse = unique_id("STORE-"), unique_id("WH-")
    envelopes = await publisher.publish_all(store_day(store, warehouse))
    before = await rows_at(insights, store)

    # The same envelopes (same event ids) under new Nats-Msg-Ids: JetStream delivers them again.
    await publisher.redeliver(envelopes)

    assert as_dicts(await rows_at(insights, store)) == as_dicts(before) == as_dicts(expected_store_day(store))


async def test_events_in_reverse_order_give_the_same_figures(insights: Any, publisher: Publisher) -> None:
    store, warehouse = unique_id("STORE-"), unique_id("WH-")
    await publisher.publish_all(reversed(store_day(store, warehouse)))

    assert as_dicts(await rows_at(insights, store)) == as_dicts(expected_store_day(store))
    assert await rows_at(insights, warehouse) == []


async def test_a_rebuild_from_the_stream_gives_the_same_figures(insights: Any, publisher: Publisher) -> None:
    store, warehouse = unique_id("STORE-"), unique_id("WH-")
    envelopes = await publisher.publish_all(store_day(store, warehouse))
    await publisher.redeliver(envelopes)

    request = pb.RebuildInsightsRequest(request_id=unique_id())
    reply = await insights.RebuildInsights(request)

    assert reply.events_read >= 2 * len(envelopes)
    assert reply.events_applied >= len(envelopes)
    assert reply.first_event_time.ToDatetime() <= reply.last_event_time.ToDatetime()
    assert as_dicts(await rows_at(insights, store)) == as_dicts(expected_store_day(store))
    # The same request again is answered from the first time, not replayed a second time.
    assert await insights.RebuildInsights(request) == reply


async def test_an_event_that_can_never_be_counted_is_dead_lettered(insights: Any, publisher: Publisher) -> None:
    store = unique_id("STORE-")
    wrong = Event("orders.order.created", rpb.ReservationChanged(), MORNING).envelope()
    reservation = Reservation(common_pb2.CHANNEL_APP, store, MORNING)

    await publisher.publish(wrong)
    await publisher.publish_all([reservation.created()])

    # Counting went on past it, and it lies in the dead letters.
    (row,) = await rows_at(insights, store)
    assert row.reservations.created == 1
    last = await publisher.bus.js.get_last_msg(
        publisher.settings.stream_name, dead_letter_subject(publisher.settings.subject_prefix, DURABLE)
    )
    assert last.data == wrong.SerializeToString()


async def test_an_edited_order_counts_its_units_and_value_as_edited(insights: Any, publisher: Publisher) -> None:
    """An order placed for one chair and edited to three counts 3 units and 3 chairs' value, whichever of
    its events comes first: the first event seen kept its lines for good, so the order stayed at one chair
    (and the three returned later made a return rate of 300 %)."""
    for published in (lambda events: events, lambda events: list(reversed(events))):
        store = unique_id("STORE-")
        order = Order(common_pb2.CHANNEL_WEB, common_pb2.FULFILMENT_METHOD_PICKUP, [("SKU-CHAIR", 1, 14900)], MORNING)
        order.store_id = store
        events = [order.created(allocation(store, {"SKU-CHAIR": 1}))]
        order.lines = [("SKU-CHAIR", 3, 14900)]
        events.append(order.event("edited", MORNING + HOUR))
        await publisher.publish_all(published(events))

        (row,) = await rows_at(insights, store)
        assert row.orders.orders == 1
        assert row.orders.units == 3
        assert [(money.currency, money.amount_minor) for money in row.orders.revenue] == [("EUR", 3 * 14900)]
