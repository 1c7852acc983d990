"""Promise dates on quotes and orders: the plan's date, the same when the order commits that plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_platform import promise_messages
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import (
    BERLIN,
    HAMBURG,
    LEIPZIG,
    POTSDAM,
    SPANDAU,
    Shop,
    address,
    quote_of,
    ship_request,
    store_request,
)
from tests.integration.orders.test_edits import edit
from tests.integration.orders.test_reactions import short_pick
from tests.integration.promise_support import every_day, local_today, midday_zone, next_business_day
from tests.integration.reservations.support import create_request


def store_calendar(zone: str) -> inv.PromiseSettings:
    # Every order is past the cut-off: handled from tomorrow's opening, ready an hour later.
    return inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("09:00", "18:00"), pickup_preparation_minutes=60, order_cutoff="00:00"
    )


def warehouse_calendar(zone: str, **leads: int) -> inv.PromiseSettings:
    return inv.PromiseSettings(
        time_zone=zone,
        order_cutoff="00:00",  # dispatched tomorrow
        carrier_lead_times=[
            inv.CarrierLeadTime(region=region.replace("_", "-"), business_days=days) for region, days in leads.items()
        ],
        default_carrier_lead_days=4,
    )


async def test_a_pickup_quote_and_the_order_placed_on_it_promise_the_same_moment(shop: Shop) -> None:
    zone = midday_zone()
    sofa = await shop.sku()
    store = await shop.location(BERLIN, promise_settings=store_calendar(zone))
    await shop.receive(store, sofa, 3)
    request = store_request([(sofa, 1)], store)
    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan.promise
    placed = (await shop.orders.CreateOrder(request)).order
    tomorrow = local_today(zone) + timedelta(days=1)
    assert quoted.kind == common_pb2.PROMISE_KIND_PICKUP
    assert (quoted.location_id, quoted.local_date, quoted.local_time) == (store, tomorrow.isoformat(), "10:00")
    assert quoted.wording == f"ready for pickup at Store {store} tomorrow from 10:00"
    assert placed.promise == quoted
    assert placed.decision.promise == quoted
    assert (await shop.order(placed.order_id)).promise == quoted


async def test_an_order_read_on_a_later_day_says_its_promised_day_of_that_day(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = midday_zone()
    sofa = await shop.sku()
    store = await shop.location(BERLIN, promise_settings=store_calendar(zone))
    await shop.receive(store, sofa, 1)
    placed = (await shop.orders.CreateOrder(store_request([(sofa, 1)], store))).order
    assert placed.promise.wording == f"ready for pickup at Store {store} tomorrow from 10:00"
    tomorrow = local_today(zone) + timedelta(days=1)

    # The customer asks again tomorrow, and the day after.
    monkeypatch.setattr(promise_messages, "clock", lambda: datetime.now(UTC) + timedelta(days=1))
    read = await shop.order(placed.order_id)
    assert read.promise.wording == f"ready for pickup at Store {store} today from 10:00"
    assert read.decision.promise == read.promise
    assert (read.promise.at, read.promise.local_date) == (placed.promise.at, tomorrow.isoformat())
    monkeypatch.setattr(promise_messages, "clock", lambda: datetime.now(UTC) + timedelta(days=2))
    [listed] = (await shop.orders.ListOrders(pb.ListOrdersRequest(customer_id=placed.customer_id))).orders
    day = f"{tomorrow:%A} {tomorrow.day} {tomorrow:%b}"
    assert listed.promise.wording == f"ready for pickup at Store {store} on {day} from 10:00"


async def test_a_same_day_carrier_delivers_on_its_next_delivery_day(shop: Shop) -> None:
    zone = midday_zone()
    dispatch = local_today(zone) + timedelta(days=1)
    # Dispatched tomorrow, a day this carrier does not deliver on; it delivers the same day otherwise.
    calendar = warehouse_calendar(zone, DE_BB=0)
    calendar.carrier_delivery_weekdays.extend(day for day in range(1, 8) if day != dispatch.isoweekday())
    warehouse = await shop.location(SPANDAU, warehouse=True, promise_settings=calendar)
    sofa = await shop.sku()
    await shop.receive(warehouse, sofa, 1)
    request = ship_request([(sofa, 1)])
    request.ship_to.region = "DE-BB"
    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan
    delivered = dispatch + timedelta(days=1)
    assert (quoted.promise.location_id, quoted.promise.local_date) == (warehouse, delivered.isoformat())
    placed = (await shop.orders.CreateOrder(request)).order
    assert placed.promise == quoted.promise


async def test_a_delivery_is_promised_from_the_slowest_ship_from_location_for_the_region(shop: Shop) -> None:
    zone = midday_zone()
    sofa, lamp = await shop.sku(), await shop.sku("Lamp", price_minor=2500)
    fast = await shop.location(SPANDAU, warehouse=True, promise_settings=warehouse_calendar(zone, DE_BB=1))
    slow = await shop.location(POTSDAM, warehouse=True, promise_settings=warehouse_calendar(zone, DE_BB=3))
    await shop.receive(fast, sofa, 2)  # one for each order
    await shop.receive(slow, lamp, 1)
    request = ship_request([(sofa, 1), (lamp, 1)])
    request.ship_to.region = "DE-BB"
    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan
    assert len(quoted.allocations) == 2
    dispatch = local_today(zone) + timedelta(days=1)
    assert quoted.promise.kind == common_pb2.PROMISE_KIND_DELIVERY
    assert (quoted.promise.location_id, quoted.promise.local_date) == (slow, next_business_day(dispatch, 3).isoformat())
    assert quoted.promise.wording.startswith("delivered ") and quoted.promise.local_time == ""
    placed = (await shop.orders.CreateOrder(request)).order
    assert placed.promise == quoted.promise

    # Elsewhere in Germany: no lead time for the region, the country has none either: the default.
    other = ship_request([(sofa, 1)])
    other.ship_to.region = "DE-BY"
    far = (await shop.orders.QuoteRouting(quote_of(other))).plan.promise
    assert far.local_date == next_business_day(dispatch, 4).isoformat()


async def test_a_delivery_counts_the_destination_regions_own_carrier_days(shop: Shop) -> None:
    zone = midday_zone()
    sofa = await shop.sku()
    dispatch = local_today(zone) + timedelta(days=1)
    settings = warehouse_calendar(zone, DE_BB=1, DE=1)
    # The location's carrier delivers every day; Brandenburg's only on the weekday three days after dispatch.
    settings.carrier_delivery_weekdays.extend(range(1, 8))
    settings.carrier_lead_times[0].delivery_weekdays.append((dispatch + timedelta(days=3)).isoweekday())
    warehouse = await shop.location(SPANDAU, warehouse=True, promise_settings=settings)
    await shop.receive(warehouse, sofa, 2)
    request = ship_request([(sofa, 1)])
    request.ship_to.region = "DE-BB"
    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan.promise
    assert (quoted.location_id, quoted.local_date) == (warehouse, (dispatch + timedelta(days=3)).isoformat())
    placed = (await shop.orders.CreateOrder(request)).order
    assert placed.promise == quoted
    # Another region of the country: the country's entry, the location's carrier days.
    other = ship_request([(sofa, 1)])
    other.ship_to.region = "DE-BY"
    near = (await shop.orders.QuoteRouting(quote_of(other))).plan.promise
    assert near.local_date == (dispatch + timedelta(days=1)).isoformat()


async def test_a_till_sale_promises_nothing(shop: Shop) -> None:
    lamp = await shop.sku("Lamp", price_minor=2500)
    store = await shop.location(BERLIN, promise_settings=store_calendar(midday_zone()))
    await shop.receive(store, lamp, 1)
    sold = (
        await shop.stack.stub("orders", role="pos", locations=[store]).CreateOrder(
            store_request([(lamp, 1)], store, carry_out=True)
        )
    ).order
    assert not sold.HasField("promise")
    assert sold.status != pb.ORDER_STATUS_UNSPECIFIED


async def test_a_short_pick_rerouted_to_a_slower_location_repromises_the_order(shop: Shop, bus, tap) -> None:
    zone = midday_zone()
    sofa = await shop.sku()
    near = await shop.location(SPANDAU, warehouse=True, promise_settings=warehouse_calendar(zone, DE_BB=1))
    far = await shop.location(LEIPZIG, warehouse=True, promise_settings=warehouse_calendar(zone, DE_BB=3))
    await shop.receive(near, sofa, 2)
    await shop.receive(far, sofa, 2)
    request = ship_request([(sofa, 2)])
    request.ship_to.region = "DE-BB"
    order = (await shop.orders.CreateOrder(request)).order
    dispatch = local_today(zone) + timedelta(days=1)
    assert (order.promise.location_id, order.promise.local_date) == (near, next_business_day(dispatch, 1).isoformat())

    await short_pick(shop, bus, order, order.allocations[0], {sofa: 1})

    _, event = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "orders.order.repromised" and payload.order.order_id == order.order_id
        )
    )
    assert event.previous.promise == order.promise
    assert (event.order.promise.location_id, event.order.promise.local_date) == (
        far,
        next_business_day(dispatch, 3).isoformat(),
    )
    assert (await shop.order(order.order_id)).promise == event.order.promise


async def test_a_short_pick_nowhere_else_can_fill_withdraws_the_promise(shop: Shop, bus, tap) -> None:
    sofa = await shop.sku()
    only = await shop.location(SPANDAU, warehouse=True, promise_settings=warehouse_calendar(midday_zone()))
    await shop.receive(only, sofa, 1)
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 1)]))).order
    assert order.HasField("promise")

    await short_pick(shop, bus, order, order.allocations[0], {sofa: 1})

    _, event = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "orders.order.repromised" and payload.order.order_id == order.order_id
        )
    )
    assert not event.order.HasField("promise") and event.previous.promise == order.promise
    assert not (await shop.order(order.order_id)).HasField("promise")


async def test_an_order_placed_with_units_backordered_promises_no_date(shop: Shop) -> None:
    """Three sofas asked, two anywhere, allow_partial: the order is backordered and, as when a short
    pick leaves units with nobody, no date can be promised for the whole of it. It was promised the
    two sofas' delivery day ("delivered Friday"), said of all three; the quote of the same request
    promised it too."""
    sofa = await shop.sku()
    only = await shop.location(SPANDAU, warehouse=True, promise_settings=warehouse_calendar(midday_zone()))
    await shop.receive(only, sofa, 2)
    request = ship_request([(sofa, 3)], options=pb.RoutingOptions(allow_partial=True))

    quoted = (await shop.orders.QuoteRouting(quote_of(request))).plan
    assert [(a.location_id, a.lines[0].quantity) for a in quoted.allocations] == [(only, 2)]
    assert not quoted.HasField("promise")
    placed = (await shop.orders.CreateOrder(request)).order
    assert placed.status == pb.ORDER_STATUS_BACKORDERED and placed.lines[0].backordered == 1
    assert not placed.HasField("promise")
    assert not (await shop.order(placed.order_id)).HasField("promise")


async def test_an_order_from_a_reservation_keeps_the_date_the_reservation_promised(shop: Shop) -> None:
    sofa = await shop.sku()
    store = await shop.location(BERLIN, promise_settings=store_calendar(midday_zone()))
    await shop.receive(store, sofa, 1)
    chat = shop.stack.stub("reservations", role="chat_agent")
    reservation = (await chat.CreateReservation(create_request(store, [(sofa, 1)]))).reservation
    assert reservation.HasField("promise")
    request = pb.CreateOrderRequest(
        request_id=unique_id(),
        channel=common_pb2.CHANNEL_CHAT,
        customer_id=reservation.customer.customer_id,
        method=common_pb2.FULFILMENT_METHOD_PICKUP,
        reservation_id=reservation.reservation_id,
    )
    order = (await shop.orders.CreateOrder(request)).order
    assert order.promise == reservation.promise


async def repromised(tap, order_id: str) -> pb.OrderChanged:
    _, event = await tap.wait_for(
        lambda envelope, payload: envelope.type == "orders.order.repromised" and payload.order.order_id == order_id
    )
    return event


async def test_an_edit_that_moves_the_pickup_store_repromises_from_the_new_store(shop: Shop, tap) -> None:
    zone = midday_zone()
    sofa = await shop.sku()
    first = await shop.location(BERLIN, promise_settings=store_calendar(zone))
    # The new store prepares for two days of opening time: ready the day after tomorrow.
    slow = inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("09:00", "18:00"), pickup_preparation_minutes=600
    )
    second = await shop.location(POTSDAM, promise_settings=slow)
    await shop.receive(first, sofa, 1)
    await shop.receive(second, sofa, 1)
    order = (await shop.orders.CreateOrder(store_request([(sofa, 1)], first))).order
    assert order.promise.location_id == first

    edited = (await shop.orders.EditOrder(edit(order.order_id, store_id=second))).order
    assert edited.promise.location_id == second and edited.promise.kind == common_pb2.PROMISE_KIND_PICKUP
    assert edited.promise.wording.startswith(f"ready for pickup at Store {second} ")
    assert edited.promise.at.ToDatetime() > order.promise.at.ToDatetime()
    event = await repromised(tap, order.order_id)
    assert event.previous.promise == order.promise and event.order.promise == edited.promise
    assert (await shop.order(order.order_id)).promise == edited.promise


async def test_an_edit_whose_new_line_ships_from_a_slower_location_repromises(shop: Shop, tap) -> None:
    zone = midday_zone()
    sofa, lamp = await shop.sku(), await shop.sku("Lamp", price_minor=2500)
    near = await shop.location(SPANDAU, warehouse=True, promise_settings=warehouse_calendar(zone, DE_BB=1))
    far = await shop.location(LEIPZIG, warehouse=True, promise_settings=warehouse_calendar(zone, DE_BB=3))
    await shop.receive(near, sofa, 3)
    await shop.receive(far, lamp, 1)
    request = ship_request([(sofa, 1)])
    request.ship_to.region = "DE-BB"
    order = (await shop.orders.CreateOrder(request)).order
    dispatch = local_today(zone) + timedelta(days=1)
    assert (order.promise.location_id, order.promise.local_date) == (near, next_business_day(dispatch, 1).isoformat())

    # More of what the near warehouse holds: the date stays.
    grown = (await shop.orders.EditOrder(edit(order.order_id, (sofa, 2)))).order
    assert grown.promise == order.promise
    # A lamp only the far one has: delivered when the lamp is.
    edited = (await shop.orders.EditOrder(edit(order.order_id, (lamp, 1)))).order
    assert (edited.promise.location_id, edited.promise.local_date) == (far, next_business_day(dispatch, 3).isoformat())
    event = await repromised(tap, order.order_id)
    assert event.previous.promise == order.promise and event.order.promise == edited.promise
    # The lamp goes again: the near warehouse's date is back.
    back = (await shop.orders.EditOrder(edit(order.order_id, (lamp, 0)))).order
    assert (back.promise.location_id, back.promise.local_date) == (near, next_business_day(dispatch, 1).isoformat())


async def test_an_edit_to_an_address_in_another_region_repromises(shop: Shop, tap) -> None:
    zone = midday_zone()
    sofa = await shop.sku()
    warehouse = await shop.location(SPANDAU, warehouse=True, promise_settings=warehouse_calendar(zone, DE_BE=1))
    await shop.receive(warehouse, sofa, 1)
    request = ship_request([(sofa, 1)])
    request.ship_to.region = "DE-BE"
    order = (await shop.orders.CreateOrder(request)).order
    dispatch = local_today(zone) + timedelta(days=1)
    assert order.promise.local_date == next_business_day(dispatch, 1).isoformat()

    elsewhere = address(HAMBURG, name="Grace Hopper")
    elsewhere.region = "DE-HH"  # the default lead time: 4 business days
    edited = (await shop.orders.EditOrder(edit(order.order_id, ship_to=elsewhere))).order
    assert edited.promise.local_date == next_business_day(dispatch, 4).isoformat()
    event = await repromised(tap, order.order_id)
    assert event.previous.promise == order.promise and event.order.promise == edited.promise


async def test_a_pickup_order_holds_its_units_past_the_promised_pickup(shop: Shop) -> None:
    """A store closed for the next four days promises the pickup on the fifth: the order's hold,
    taken for order_hold_ttl (3 days), ran out before the store opened, and the units went back on
    sale while the customer was told to come. The hold now lasts order_hold_ttl from the promise."""
    zone = midday_zone()
    today = local_today(zone)
    calendar = store_calendar(zone)
    calendar.closed_dates.extend((today + timedelta(days=n)).isoformat() for n in range(1, 5))
    sofa = await shop.sku()
    store = await shop.location(BERLIN, promise_settings=calendar)
    await shop.receive(store, sofa, 1)
    placed = (await shop.orders.CreateOrder(store_request([(sofa, 1)], store))).order
    assert placed.promise.local_date == (today + timedelta(days=5)).isoformat()
    [allocation] = placed.allocations
    hold = (await shop.inventory.GetHold(inv.GetHoldRequest(hold_id=allocation.hold_id))).hold
    promised = placed.promise.at.ToDatetime()
    assert hold.expires_at.ToDatetime() > promised + timedelta(days=2)
