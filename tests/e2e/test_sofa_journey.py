"""Issue #26's journey, the whole story: a chat agent asks for a green sofa with two cushions (the set)
near Berlin and hears that there is no set at Mitte today, but it can be at Mitte on a named day via a
transfer from the warehouse, or delivered on a named day; it reserves the transfer option and the
reservation commits the day it heard. Staff ship and receive the transfer (the set travels as its
components and is held as a set at both ends), the customer pays online before collecting (the
reservation becomes her pickup order), the set is handed over, and later she brings ONE
cushion back at another store's till, against her order. Stock at every location, the ledger (its
movements add up to on hand, holds to nothing) and insights' figures end exact. The dates are the
services' own, computed here with the same calculator from the same settings. A second, small journey
brings a whole set back by the set's own SKU."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.insights.v1 import insights_pb2 as spb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform import promising
from omnistock_platform.invariants import run_checks, snapshot_of
from omnistock_platform.promise_messages import calendar_of
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.e2e.mcp_support import call, stdio_server
from tests.integration.cli.support import Cli, World
from tests.integration.promise_support import every_day, midday_zone

# A Berlin of its own, far from every other test's stores: pickup stores within the radius are offered
# a transfer too, and the session's database keeps the other tests' Berlin stores.
_AT = (random.uniform(-45, -35), random.uniform(-125, -105))
MITTE = (_AT[0], _AT[1])
SPANDAU = (_AT[0] + 0.0151, _AT[1] - 0.2060)  # about 14 km west, as in Berlin
KREUZBERG = (_AT[0] - 0.0230, _AT[1] + 0.0440)  # about 4 km south-east
WAREHOUSE_LEAD = timedelta(days=2)  # the stack's transfer lead time from a warehouse (the default)


async def settle(stack: Stack, location_id: str, settings: ipb.PromiseSettings) -> None:
    inventory = stack.stub("inventory", role="admin")
    location = (await inventory.GetLocation(ipb.GetLocationRequest(location_id=location_id))).location
    location.promise_settings.CopyFrom(settings)
    await inventory.UpsertLocation(ipb.UpsertLocationRequest(request_id=unique_id(), location=location))


async def test_no_set_at_mitte_today_so_it_comes_via_a_transfer_is_bought_and_one_cushion_comes_back_on_the_order(
    stack: Stack,
) -> None:
    world = World(stack)
    zone = midday_zone()  # it is 12:xx there: the store's 14:00 opening fixes the minute of every promise
    city = unique_id("Berlin-")
    mitte = await world.location(city, MITTE, name="Mitte")
    warehouse = await world.location(city, SPANDAU, kind="warehouse", name="Spandau warehouse")
    at_mitte = ipb.PromiseSettings(
        time_zone=zone, opening_hours=every_day("14:00", "20:00"), pickup_preparation_minutes=30
    )
    from_warehouse = ipb.PromiseSettings(
        time_zone=zone, order_cutoff="00:00", carrier_lead_times=[ipb.CarrierLeadTime(region="DE-BE", business_days=1)]
    )
    await settle(stack, mitte, at_mitte)
    await settle(stack, warehouse, from_warehouse)
    sofa = await world.sku("Velvet sofa, green", colour="green")
    cushion = await world.sku("Velvet cushion, green", colour="green")
    sofa_set = unique_id("SET-")
    await define_set(
        world.inventory,
        {sofa: 1, cushion: 2},
        sku=sofa_set,
        title="Velvet sofa, green, with two cushions",
        price_minor=139900,
        currency="EUR",
        attributes={"colour": "green"},
    )
    await world.receive(mitte, sofa, 1)  # a sofa at Mitte, but no cushion: no set there today
    await world.receive(warehouse, sofa, 2)
    await world.receive(warehouse, cushion, 4)

    asked_at = datetime.now(UTC)
    via = promising.pickup(
        calendar_of(at_mitte),
        asked_at,
        location_id=mitte,
        place="Mitte",
        arrival=asked_at + WAREHOUSE_LEAD,
        kind=promising.Kind.PICKUP_VIA_TRANSFER,
        via="Spandau warehouse",
    )
    delivered = promising.delivery(calendar_of(from_warehouse), asked_at, location_id=warehouse, lead_days=1)
    day = (asked_at + WAREHOUSE_LEAD).astimezone(calendar_of(at_mitte).zone).date()  # "Thursday" in the issue
    on_day = f"{day.strftime('%A')} {day.day} {day.strftime('%b')}"
    assert via.wording == f"ready for pickup at Mitte on {on_day} from 14:30 via transfer from Spandau warehouse"

    async with stdio_server(stack) as agent:
        # No set at Mitte today (a sofa, no cushion); at Mitte on a named day via a transfer, or delivered.
        asked = await call(agent, "find_stock_nearby", sku=sofa_set, city=city, radius_km=30)
        assert asked["stores"] == []
        [offer] = asked["via_transfer"]
        assert (offer["store_id"], offer["promise"], offer["available"]) == (mitte, via.wording, 0)
        assert asked["summary"].startswith(f"No store within 30 km of {city} has 1 of {sofa_set} today; ")
        assert via.wording in asked["summary"] and "ship_to_store=true" in asked["summary"]
        home = {"recipient": "Ada Lovelace", "street": "Hauptstrasse 1", "city": city, "region": "DE-BE"}
        home.update(latitude=MITTE[0], longitude=MITTE[1])
        quote = await call(agent, "quote_order", items=[{"sku": sofa_set, "quantity": 1}], method="ship", ship_to=home)
        assert quote["promise"] == delivered.wording and delivered.wording in quote["summary"]

        # She takes the transfer option: the reservation commits the day she heard.
        reserved = await call(
            agent, "reserve_for_pickup", sku=sofa_set, quantity=1, store_id=mitte, customer_name="Ada Lovelace",
            ship_to_store=True,
        )  # fmt: skip
    assert reserved["status"] == "awaiting_transfer"
    assert reserved["promise"] == offer["promise"]  # quote equals commit

    # The transfer carries the set's parts, held for her at the warehouse as a set.
    reservations = stack.stub("reservations", role="admin")
    stored = (
        await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=reserved["reservation_id"]))
    ).reservation
    assert stored.transfer_origin_id == warehouse
    assert [(line.sku, line.quantity) for line in stored.lines] == [(sofa_set, 1)]
    inventory = stack.stub("inventory", role="admin")
    transfer = (await inventory.GetTransfer(ipb.GetTransferRequest(transfer_id=stored.transfer_id))).transfer
    assert {line.sku: line.quantity for line in transfer.lines} == {sofa: 1, cushion: 2}
    origin_hold = (await inventory.GetHold(ipb.GetHoldRequest(hold_id=stored.hold_id))).hold
    assert [(b.location_id, b.sku, b.open) for b in origin_hold.bundles] == [(warehouse, sofa_set, 1)]

    # Staff ship and receive it; it comes on time, held at Mitte as the set, and the task says what to fetch.
    await inventory.ShipTransfer(ipb.ShipTransferRequest(request_id=unique_id(), transfer_id=stored.transfer_id))
    await inventory.ReceiveTransfer(
        ipb.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=stored.transfer_id,
            lines=[ipb.TransferArrival(sku=sofa, received=1), ipb.TransferArrival(sku=cushion, received=2)],
        )
    )

    async def ready() -> rpb.Reservation | None:
        got = await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=stored.reservation_id))
        return got.reservation if got.reservation.status == rpb.RESERVATION_STATUS_READY_FOR_PICKUP else None

    await wait_until(ready, what="the set ready at Mitte")
    waiting = await ready()
    assert waiting is not None
    arrival_hold = (await inventory.GetHold(ipb.GetHoldRequest(hold_id=waiting.hold_id))).hold
    assert [(b.location_id, b.sku, b.open) for b in arrival_hold.bundles] == [(mitte, sofa_set, 1)]
    fulfilment = stack.stub("fulfilment", role="admin")

    async def pickup_task() -> fpb.Task | None:
        listed = await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=mitte))
        return next((t for t in listed.tasks if t.reservation_id == stored.reservation_id), None)

    await wait_until(pickup_task, what="the set's pickup task at Mitte")
    task = await pickup_task()
    assert task is not None
    [line] = task.lines
    assert (line.sku, line.quantity) == (sofa_set, 1)
    assert {part.sku: part.quantity for part in line.components} == {sofa: 1, cushion: 2}

    # Before collecting she pays online for pickup: the agent's order takes the reservation's hold over
    # (the set stays held at Mitte, never released), and staff hand the set over against the order.
    agent_orders = stack.stub("orders", role="chat_agent")
    order = (
        await agent_orders.CreateOrder(
            opb.CreateOrderRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer_id=stored.customer.customer_id,
                method=common_pb2.FULFILMENT_METHOD_PICKUP,
                reservation_id=stored.reservation_id,
            )
        )
    ).order
    assert order.status == opb.ORDER_STATUS_ALLOCATED
    assert [(line.sku, line.quantity) for line in order.lines] == [(sofa_set, 1)]
    assert {part.sku: part.quantity for part in order.lines[0].components} == {sofa: 1, cushion: 2}
    converted = (
        await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=stored.reservation_id))
    ).reservation
    assert converted.status == rpb.RESERVATION_STATUS_CONVERTED and converted.order_id == order.order_id
    assert converted.promise.wording == via.wording  # on time: never re-promised

    async def order_task() -> fpb.Task | None:
        listed = await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=mitte))
        return next((t for t in listed.tasks if t.order_id == order.order_id), None)

    await wait_until(order_task, what="the order's task at Mitte")
    handing = await order_task()
    assert handing is not None
    [line] = handing.lines
    assert {part.sku: part.quantity for part in line.components} == {sofa: 1, cushion: 2}
    clerk = stack.stub("fulfilment", role="pos", locations=[mitte])
    await clerk.ConfirmPick(fpb.ConfirmPickRequest(request_id=unique_id(), task_id=handing.task_id))
    await clerk.Pack(fpb.PackRequest(request_id=unique_id(), task_id=handing.task_id))
    await clerk.Ship(fpb.ShipRequest(request_id=unique_id(), task_id=handing.task_id))

    async def completed() -> opb.Order | None:
        got = (await agent_orders.GetOrder(opb.GetOrderRequest(order_id=order.order_id))).order
        return got if got.status == opb.ORDER_STATUS_COMPLETED else None

    await wait_until(completed, what="the set handed over against the order")

    # Later she brings one cushion back at Kreuzberg's till, against her order: it counts for the
    # channel that sold it (chat), and it is fine and goes back on the shelf there.
    kreuzberg = await world.location(city, KREUZBERG, name="Kreuzberg")
    returned = await stack.stub("orders", role="pos", locations=[kreuzberg]).CreateReturn(
        opb.CreateReturnRequest(
            request_id=unique_id(),
            order_id=order.order_id,
            lines=[opb.ReturnLineRequest(sku=cushion, quantity=1)],
            location_id=kreuzberg,
            reason="one cushion too many",
            receive_now=[opb.InspectedLine(sku=cushion, condition=opb.RETURN_CONDITION_RESTOCK, quantity=1)],
        )
    )
    assert returned.order_return.status == opb.RETURN_STATUS_RECEIVED
    assert returned.order_return.channel == common_pb2.CHANNEL_CHAT

    # Every figure: Mitte kept its own sofa and sold the set that came; the warehouse sent one set's
    # parts; Kreuzberg has the cushion; the ledger says exactly that, and no hold is left.
    ends = {
        (mitte, sofa): 1, (mitte, cushion): 0,
        (warehouse, sofa): 1, (warehouse, cushion): 2,
        (kreuzberg, sofa): 0, (kreuzberg, cushion): 1,
    }  # fmt: skip
    for (location_id, sku), on_hand in ends.items():
        level = await world.level(location_id, sku)
        assert (level.on_hand, level.held, level.in_transit) == (on_hand, 0, 0), (location_id, sku)
        moves = await inventory.ListMovements(ipb.ListMovementsRequest(location_id=location_id, sku=sku, page_size=500))
        assert sum(move.on_hand_delta for move in moves.movements) == on_hand, (location_id, sku)
        assert sum(move.held_delta for move in moves.movements) == 0, (location_id, sku)

    # Insights: one chat reservation at Mitte, converted into a chat order of one set (3 units: a sofa
    # and two cushions); one cushion of it back at Kreuzberg, for chat: a third of what chat sold.
    insights = stack.stub("insights", role="admin")
    today = datetime.now(UTC).date().isoformat()

    async def row(location_id: str, channel: int) -> spb.ChannelInsights | None:
        asked_for = spb.GetChannelInsightsRequest(
            location_id=location_id,
            channel=channel,
            from_date=today,
            to_date=today,  # type: ignore[arg-type]
        )
        rows = (await insights.GetChannelInsights(asked_for)).rows
        return rows[0] if rows else None

    async def counted() -> bool:
        at_mitte_row, at_kreuzberg_row = (
            await row(mitte, common_pb2.CHANNEL_CHAT),
            await row(kreuzberg, common_pb2.CHANNEL_CHAT),
        )
        return (
            at_mitte_row is not None
            and at_mitte_row.reservations.converted == 1
            and at_mitte_row.orders.orders == 1
            and at_kreuzberg_row is not None
            and at_kreuzberg_row.returns.received == 1
        )

    await wait_until(counted, what="insights counting the order and the return")
    at_mitte_row, at_kreuzberg_row = (
        await row(mitte, common_pb2.CHANNEL_CHAT),
        await row(kreuzberg, common_pb2.CHANNEL_CHAT),
    )
    assert at_mitte_row is not None and at_kreuzberg_row is not None
    figures = at_mitte_row.reservations
    assert (figures.created, figures.ready, figures.converted, figures.cancelled, figures.expired) == (1, 1, 1, 0, 0)
    assert at_mitte_row.orders.units == 3
    back = at_kreuzberg_row.returns
    assert (back.received, back.units_returned, back.units_restocked, back.units_damaged) == (1, 1, 1, 0)
    # The rate a manager reads for chat over both stores: 1 of 3 units came back.
    sold_units = at_mitte_row.orders.units + at_kreuzberg_row.orders.units
    returned_units = at_mitte_row.returns.units_returned + at_kreuzberg_row.returns.units_returned
    assert (returned_units, sold_units) == (1, 3)

    # `omnistock verify` finds nothing wrong with the reservation, its transfer, the order or the return.
    found = run_checks(await snapshot_of(stack.settings))
    subjects = {stored.reservation_id, stored.transfer_id, order.order_id, returned.order_return.return_id}
    assert [v for v in found if v.subject in subjects] == []


async def test_a_whole_set_sold_at_a_till_comes_back_by_its_own_sku_at_another_store(stack: Stack) -> None:
    world, cli = World(stack), Cli(stack)
    city = unique_id("Berlin-")
    mitte = await world.location(city, MITTE, name="Mitte")
    kreuzberg = await world.location(city, KREUZBERG, name="Kreuzberg")
    sofa = await world.sku("Velvet sofa, blue", colour="blue")
    cushion = await world.sku("Velvet cushion, blue", colour="blue")
    sofa_set = unique_id("SET-")
    await cli.json(
        "bundle", sofa_set, "--title", "Blue sofa with two cushions", "-c", f"{sofa}=1", "-c", f"{cushion}=2"
    )
    await world.receive(mitte, sofa, 1)
    await world.receive(mitte, cushion, 2)

    # The set is sold at Mitte's till; the customer brings the whole set back at Kreuzberg's till by the
    # set's SKU, against the sale: every part comes back in the condition the till found the set in.
    sold = await cli.json("sell", f"{sofa_set}:1", "--store", mitte)
    assert sold["status"] == "ORDER_STATUS_COMPLETED"
    back = await cli.json("return", sofa_set, "1", "--store", kreuzberg, "--order", sold["order_id"])
    assert back["status"] == "RETURN_STATUS_RECEIVED"
    assert [(item["sku"], item["quantity"], item["restocked"]) for item in back["sets"]] == [(sofa_set, 1, 1)]
    assert {line["sku"]: line["restocked"] for line in back["lines"]} == {sofa: 1, cushion: 2}
    # Nothing more of that sale may come back: not the set, not a part of it.
    again = await cli.run("return", cushion, "1", "--store", kreuzberg, "--order", sold["order_id"], expect=1)
    assert "FAILED_PRECONDITION" in again.stderr

    # Stock and ledger: the parts left Mitte by the sale and are on the shelf at Kreuzberg (the set is
    # whole there again); each part's movement names the return and the set; the set has no row.
    inventory = stack.stub("inventory", role="admin")
    ends = {(mitte, sofa): 0, (mitte, cushion): 0, (kreuzberg, sofa): 1, (kreuzberg, cushion): 2}
    for (location_id, sku), on_hand in ends.items():
        level = await world.level(location_id, sku)
        assert (level.on_hand, level.held) == (on_hand, 0), (location_id, sku)
        moves = await inventory.ListMovements(ipb.ListMovementsRequest(location_id=location_id, sku=sku, page_size=500))
        assert sum(move.on_hand_delta for move in moves.movements) == on_hand, (location_id, sku)
        if location_id == kreuzberg:
            [move] = moves.movements
            assert move.document_ref == f"return:{back['return_id']}" and f"(part of 1 {sofa_set})" in move.reason
    assert (await inventory.ListMovements(ipb.ListMovementsRequest(sku=sofa_set))).movements == []
    at_kreuzberg = (await inventory.GetStock(ipb.GetStockRequest(sku=sofa_set, location_id=kreuzberg))).levels
    assert [level.available for level in at_kreuzberg] == [1]

    # Insights, for the till's channel: 3 units sold (the set's parts) at Mitte, 3 back at Kreuzberg.
    insights = stack.stub("insights", role="admin")
    today = datetime.now(UTC).date().isoformat()

    async def rows() -> dict[str, spb.ChannelInsights]:
        found = {}
        for location_id in (mitte, kreuzberg):
            asked_for = spb.GetChannelInsightsRequest(
                location_id=location_id,
                channel=common_pb2.CHANNEL_POS,
                from_date=today,
                to_date=today,  # type: ignore[arg-type]
            )
            for got in (await insights.GetChannelInsights(asked_for)).rows:
                found[location_id] = got
        return found

    async def counted() -> bool:
        found = await rows()
        return mitte in found and kreuzberg in found and found[kreuzberg].returns.received == 1

    await wait_until(counted, what="insights counting the sale and the return")
    found = await rows()
    assert found[mitte].orders.units == 3 and found[kreuzberg].returns.units_returned == 3
    sold_units = sum(row.orders.units for row in found.values())
    returned_units = sum(row.returns.units_returned for row in found.values())
    assert returned_units / sold_units == 1.0  # the whole set came back: 100 %

    checked = run_checks(await snapshot_of(stack.settings))
    assert [v for v in checked if v.subject in {sold["order_id"], back["return_id"]}] == []
