"""The chat agent's "when": through the MCP server, each answer says when the customer can have the
sofa, in words it can say: at the branch, via a transfer, or delivered; the reservation and the order
keep the date the agent told."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.e2e.mcp_support import call, stdio_server
from tests.integration.cli.support import World
from tests.integration.promise_support import every_day, local_today, midday_zone, next_business_day

MITTE = (52.5200, 13.4050)
SPANDAU = (52.5351, 13.1990)


async def calendar(stack: Stack, location_id: str, settings: ipb.PromiseSettings) -> None:
    inventory = stack.stub("inventory", role="admin")
    location = (await inventory.GetLocation(ipb.GetLocationRequest(location_id=location_id))).location
    location.promise_settings.CopyFrom(settings)
    await inventory.UpsertLocation(ipb.UpsertLocationRequest(request_id=unique_id(), location=location))


async def test_the_agent_tells_when_pickup_and_delivery_can_be(stack: Stack) -> None:
    world = World(stack)
    zone = midday_zone()
    city = unique_id("Berlin-")
    mitte = await world.location(city, MITTE, name="Mitte")
    warehouse = await world.location(city, SPANDAU, kind="warehouse", name="Spandau warehouse")
    # Past the cut-off whenever the test runs: the branch prepares tomorrow, the warehouse ships tomorrow.
    await calendar(
        stack,
        mitte,
        ipb.PromiseSettings(
            time_zone=zone,
            opening_hours=every_day("10:00", "20:00"),
            pickup_preparation_minutes=360,
            order_cutoff="00:00",
        ),
    )
    await calendar(
        stack,
        warehouse,
        ipb.PromiseSettings(
            time_zone=zone,
            order_cutoff="00:00",
            carrier_lead_times=[ipb.CarrierLeadTime(region="DE-BE", business_days=1)],
        ),
    )
    green, blue = await world.sku("Velvet sofa, green"), await world.sku("Velvet sofa, blue")
    await world.receive(mitte, green, 1)
    await world.receive(warehouse, blue, 3)

    async with stdio_server(stack) as agent:
        nearby = await call(agent, "find_stock_nearby", sku=green, city=city, radius_km=30)
        [store] = nearby["stores"]
        assert store["promise"] == "ready for pickup at Mitte tomorrow from 16:00"
        assert "ready for pickup at Mitte tomorrow from 16:00" in nearby["summary"]

        reserved = await call(agent, "reserve_for_pickup", sku=green, store_id=mitte, customer_name="Ada Lovelace")
        assert reserved["promise"] == store["promise"] and store["promise"] in reserved["summary"]

        home = {"recipient": "Ada Lovelace", "street": "Hauptstrasse 1", "city": city, "region": "DE-BE"}
        home.update(latitude=MITTE[0], longitude=MITTE[1])
        items = [{"sku": blue, "quantity": 1}]
        quote = await call(agent, "quote_order", items=items, method="ship", ship_to=home)
        delivery_day = next_business_day(local_today(zone) + timedelta(days=1), 1)
        words = f"delivered {delivery_day.strftime('%A')} {delivery_day.day} {delivery_day.strftime('%b')}"
        assert quote["promise"] == words and words in quote["summary"]
        order = await call(
            agent, "place_order", items=items, method="ship", ship_to=home, customer_name="Ada Lovelace",
            customer_consent=True,
        )  # fmt: skip
        assert order["promise"] == quote["promise"] and words in order["summary"]
        status = await call(agent, "order_status", order_id=order["order_id"])
        assert status["promise"] == words
        # Cancelled, the reservation promises nothing the model could pass on.
        gone = await call(agent, "cancel_reservation", reservation_id=reserved["reservation_id"], reason="no need")
        assert gone["status"] == "cancelled"
        assert gone["promise"] == "" and "ready for pickup" not in gone["summary"], gone["summary"]
        later = await call(agent, "get_reservation", reservation_id=reserved["reservation_id"])
        assert later["promise"] == "" and "ready for pickup" not in later["summary"], later["summary"]

    stored = await stack.stub("reservations", role="admin").GetReservation(
        rpb.GetReservationRequest(reservation_id=reserved["reservation_id"])
    )
    assert stored.reservation.promise.wording == reserved["promise"]


async def test_no_sofa_at_mitte_today_so_the_agent_promises_it_via_a_transfer_and_the_customer_collects(
    stack: Stack,
) -> None:
    world = World(stack)
    zone = midday_zone()
    city = unique_id("Berlin-")
    mitte = await world.location(city, MITTE, name="Mitte")
    warehouse = await world.location(city, SPANDAU, kind="warehouse", name="Spandau warehouse")
    await calendar(
        stack,
        mitte,
        ipb.PromiseSettings(time_zone=zone, opening_hours=every_day("10:00", "19:00"), pickup_preparation_minutes=30),
    )
    green = await world.sku("Velvet sofa, green")
    await world.receive(warehouse, green, 1)

    async with stdio_server(stack) as agent:
        nearby = await call(agent, "find_stock_nearby", sku=green, city=city, radius_km=30)
        assert nearby["stores"] == []  # no store near her has it today
        reserved = await call(
            agent, "reserve_for_pickup", sku=green, store_id=mitte, customer_name="Ada Lovelace", ship_to_store=True
        )
    assert reserved["status"] == "awaiting_transfer"
    assert reserved["promise"].startswith("ready for pickup at Mitte on ")
    assert reserved["promise"].endswith(" via transfer from Spandau warehouse")
    assert reserved["promise"] in reserved["summary"]

    reservations = stack.stub("reservations", role="admin")
    stored = (
        await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=reserved["reservation_id"]))
    ).reservation
    arrival_day = stored.promised_at.ToDatetime(tzinfo=UTC).astimezone(ZoneInfo(zone)).date()
    assert stored.promise.local_date in (arrival_day.isoformat(), (arrival_day + timedelta(days=1)).isoformat())
    assert "10:30" <= stored.promise.local_time < "19:00"

    # The transfer comes on time: the promise stands; the customer collects with her code.
    inventory = stack.stub("inventory", role="admin")
    await inventory.ShipTransfer(ipb.ShipTransferRequest(request_id=unique_id(), transfer_id=stored.transfer_id))
    await inventory.ReceiveTransfer(
        ipb.ReceiveTransferRequest(
            request_id=unique_id(), transfer_id=stored.transfer_id, lines=[ipb.TransferArrival(sku=green, received=1)]
        )
    )

    async def ready() -> bool:
        got = await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=stored.reservation_id))
        return got.reservation.status == rpb.RESERVATION_STATUS_READY_FOR_PICKUP

    await wait_until(ready, what="the sofa ready at Mitte")
    till = stack.stub("reservations", role="pos", locations=[mitte])
    collected = await till.CollectReservation(
        rpb.CollectReservationRequest(request_id=unique_id(), store_id=mitte, pickup_code=stored.pickup_code)
    )
    assert collected.reservation.status == rpb.RESERVATION_STATUS_COLLECTED
    assert collected.reservation.promise == stored.promise
    level = await world.level(mitte, green)
    assert (level.on_hand, level.held, level.in_transit) == (0, 0, 0)
