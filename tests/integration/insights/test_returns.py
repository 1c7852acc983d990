"""Returns in the figures: an authorised return counts at its location for the channel the units were
sold on; a received one counts its units by what inspection found; the return rate is units returned
over units sold, and a redelivered event counts for nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_platform.testing.stack import unique_id

from .conftest import rows_at
from .journeys import DAY, HOUR, MORNING, Event, Order, Publisher, allocation


def return_event(
    kind: str,
    channel: int,
    location_id: str,
    at: datetime,
    *,
    restocked: int = 0,
    damaged: int = 0,
    off: int = 0,
    parts: dict[str, int] | None = None,
    whole: tuple[str, int] | None = None,
) -> Event:
    found = opb.Return(
        return_id=unique_id("RET-"),
        order_id=unique_id("ORD-"),
        channel=channel,  # type: ignore[arg-type]
        location_id=location_id,
        status=opb.RETURN_STATUS_RECEIVED if kind == "received" else opb.RETURN_STATUS_AUTHORISED,
        lines=[
            opb.ReturnLine(
                sku="SKU-A",
                quantity=restocked + damaged + off,
                restocked=restocked,
                damaged=damaged,
                written_off=off,
            )
        ]
        if parts is None
        else [opb.ReturnLine(sku=sku, quantity=units, restocked=units) for sku, units in parts.items()],
        sets=[opb.ReturnSet(sku=whole[0], quantity=whole[1], restocked=whole[1])] if whole else [],
    )
    found.created_at.FromDatetime(at)
    if kind == "received":
        found.received_at.FromDatetime(at)
    return Event(f"orders.return.{kind}", opb.ReturnChanged(order_return=found), at)


async def test_returns_count_their_units_by_condition_and_make_the_return_rate(
    insights: Any, publisher: Publisher
) -> None:
    store = unique_id("STORE-")
    web = common_pb2.CHANNEL_WEB
    sold = Order(web, common_pb2.FULFILMENT_METHOD_PICKUP, [("SKU-A", 8, 500)], MORNING, store)
    received = return_event("received", web, store, MORNING + 2 * HOUR, restocked=1, damaged=1)
    published = await publisher.publish_all(
        [
            sold.created(allocation(store, {"SKU-A": 8})),
            return_event("authorised", web, store, MORNING + HOUR),
            return_event("authorised", web, store, MORNING + HOUR),
            received,
            return_event("received", web, store, MORNING + 3 * HOUR, off=2),
        ]
    )
    await publisher.redeliver(published[3:4])  # the same receipt again counts for nothing
    (row,) = await rows_at(insights, store, channel=web, from_date=DAY.isoformat(), to_date=DAY.isoformat())
    returns = row.returns
    assert (returns.authorised, returns.received, returns.units_returned) == (2, 2, 4)
    assert (returns.units_restocked, returns.units_damaged, returns.units_written_off) == (1, 1, 2)
    assert abs(returns.return_rate - 4 / 8) < 1e-9
    assert "returns.return_rate" not in row.undefined_figures


async def test_a_set_sold_and_its_parts_returned_count_in_the_same_unit(insights: Any, publisher: Publisher) -> None:
    """A sofa set (one sofa, two cushions) sells three units; one cushion back is a third of them, the
    whole set back all of them."""
    web, app = common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_APP
    store = unique_id("STORE-")
    sofa_set = {"SOFA-SET": {"SOFA": 1, "CUSHION": 2}}
    one_cushion = Order(web, common_pb2.FULFILMENT_METHOD_PICKUP, [("SOFA-SET", 1, 139900)], MORNING, store)
    one_cushion.sets = sofa_set
    whole = Order(app, common_pb2.FULFILMENT_METHOD_PICKUP, [("SOFA-SET", 1, 139900)], MORNING, store)
    whole.sets = sofa_set
    await publisher.publish_all(
        [
            one_cushion.created(allocation(store, {"SOFA-SET": 1})),
            whole.created(allocation(store, {"SOFA-SET": 1})),
            return_event("received", web, store, MORNING + HOUR, parts={"CUSHION": 1}),
            return_event(
                "received", app, store, MORNING + HOUR, parts={"SOFA": 1, "CUSHION": 2}, whole=("SOFA-SET", 1)
            ),
        ]
    )
    day = DAY.isoformat()
    (by_web,) = await rows_at(insights, store, channel=web, from_date=day, to_date=day)
    assert (by_web.orders.units, by_web.returns.units_returned) == (3, 1)
    assert abs(by_web.returns.return_rate - 1 / 3) < 1e-9
    (by_app,) = await rows_at(insights, store, channel=app, from_date=day, to_date=day)
    assert (by_app.orders.units, by_app.returns.units_returned) == (3, 3)
    assert by_app.returns.return_rate == 1.0


async def test_a_split_set_counts_its_parts_as_units_and_its_price_once(insights: Any, publisher: Publisher) -> None:
    """A sofa set the order takes as its parts (allow_split): the part lines cost nothing on their own,
    the set's price is the revenue, once; the parts are its units, as for a set sold whole."""
    web = common_pb2.CHANNEL_WEB
    store = unique_id("STORE-")
    split = Order(web, common_pb2.FULFILMENT_METHOD_PICKUP, [("SOFA", 1, 0), ("CUSHION", 2, 0)], MORNING, store)
    split.split = [
        opb.OrderSet(
            sku="SOFA-SET",
            quantity=1,
            unit_price_minor=139900,
            currency="EUR",
            components=[
                common_pb2.SkuQuantity(sku="SOFA", quantity=1),
                common_pb2.SkuQuantity(sku="CUSHION", quantity=2),
            ],
        )
    ]
    await publisher.publish_all([split.created(allocation(store, {"SOFA": 1, "CUSHION": 2}))])
    day = DAY.isoformat()
    (row,) = await rows_at(insights, store, channel=web, from_date=day, to_date=day)
    assert row.orders.units == 3
    assert [(revenue.currency, revenue.amount_minor, revenue.orders) for revenue in row.orders.revenue] == [
        ("EUR", 139900, 1)
    ]
