"""Reservations say when the customer can collect: the same promise FindAvailability showed for the
store, kept with the reservation; via a transfer, counted from its expected arrival."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform import promise_messages
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.orders.support import BERLIN, Shop
from tests.integration.promise_support import every_day, local_today, midday_zone
from tests.integration.reservations.support import create_request


def shop_of(stack: Stack) -> Shop:
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))


async def test_a_reservation_promises_what_find_availability_showed_for_its_store(stack: Stack) -> None:
    shop, chat = shop_of(stack), stack.stub("reservations", role="chat_agent")
    zone = midday_zone()
    # Past the cut-off whenever the test runs: ready tomorrow 30 minutes after opening.
    settings = inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("10:00", "19:00"), pickup_preparation_minutes=30, order_cutoff="00:00"
    )
    store = await shop.location(BERLIN, promise_settings=settings)
    sofa = await shop.sku()
    await shop.receive(store, sofa, 1)
    found = await shop.inventory.FindAvailability(
        inv.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=sofa, quantity=1)], method=common_pb2.FULFILMENT_METHOD_PICKUP
        )
    )
    promised = next(entry.promises for entry in found.locations if entry.location.location_id == store)
    [shown] = [promise for promise in promised if promise.kind == common_pb2.PROMISE_KIND_PICKUP]
    reservation = (await chat.CreateReservation(create_request(store, [(sofa, 1)]))).reservation
    assert reservation.promise == shown
    assert reservation.promise.kind == common_pb2.PROMISE_KIND_PICKUP
    assert reservation.promise.local_date == (local_today(zone) + timedelta(days=1)).isoformat()
    assert reservation.promise.local_time == "10:30"
    assert reservation.promise.wording == f"ready for pickup at Store {store} tomorrow from 10:30"
    again = await chat.GetReservation(pb.GetReservationRequest(reservation_id=reservation.reservation_id))
    assert again.reservation.promise == shown


async def test_a_reservation_read_on_a_later_day_says_its_promised_day_of_that_day(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop, chat = shop_of(stack), stack.stub("reservations", role="chat_agent")
    zone = midday_zone()
    settings = inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("10:00", "19:00"), pickup_preparation_minutes=30, order_cutoff="00:00"
    )
    store = await shop.location(BERLIN, promise_settings=settings)
    sofa = await shop.sku()
    await shop.receive(store, sofa, 1)
    made = (await chat.CreateReservation(create_request(store, [(sofa, 1)]))).reservation
    assert made.promise.wording == f"ready for pickup at Store {store} tomorrow from 10:30"

    # The customer asks the chat agent again tomorrow: it is today, not tomorrow.
    monkeypatch.setattr(promise_messages, "clock", lambda: datetime.now(UTC) + timedelta(days=1))
    read = (await chat.GetReservation(pb.GetReservationRequest(reservation_id=made.reservation_id))).reservation
    assert read.promise.wording == f"ready for pickup at Store {store} today from 10:30"
    assert (read.promise.at, read.promise.local_date) == (made.promise.at, made.promise.local_date)


async def test_ship_to_store_promises_pickup_after_the_transfer_arrives_and_keeps_it_when_on_time(
    stack: Stack,
) -> None:
    shop, chat = shop_of(stack), stack.stub("reservations", role="chat_agent")
    zone = midday_zone()
    settings = inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("09:00", "18:00"), pickup_preparation_minutes=60
    )
    store = await shop.location(BERLIN, promise_settings=settings)
    warehouse = await shop.location((52.53, 13.2), warehouse=True)
    sofa = await shop.sku("Green velvet sofa")
    await shop.receive(warehouse, sofa, 1)
    request = create_request(store, [(sofa, 1)])
    request.allow_ship_to_store = True
    reservation = (await chat.CreateReservation(request)).reservation
    assert reservation.status == pb.RESERVATION_STATUS_AWAITING_TRANSFER
    promise = reservation.promise
    assert promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    arrival = reservation.promised_at.ToDatetime(tzinfo=UTC)
    assert promise.at.ToDatetime(tzinfo=UTC) >= arrival + timedelta(hours=1)
    assert "09:00" <= promise.local_time < "18:00"
    assert promise.wording.endswith(f"via transfer from Warehouse {warehouse}")

    # The transfer arrives early: the promise stands, nothing is re-promised.
    inventory = shop.inventory
    await inventory.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=reservation.transfer_id))
    await inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=reservation.transfer_id,
            lines=[inv.TransferArrival(sku=sofa, received=1)],
        )
    )

    async def ready() -> bool:
        got = await chat.GetReservation(pb.GetReservationRequest(reservation_id=reservation.reservation_id))
        return got.reservation.status == pb.RESERVATION_STATUS_READY_FOR_PICKUP

    await wait_until(ready, what="the reservation ready after the transfer")
    after = await chat.GetReservation(pb.GetReservationRequest(reservation_id=reservation.reservation_id))
    assert after.reservation.promise == promise


async def test_a_transfer_received_after_the_promised_time_repromises_the_reservation(stack: Stack, tap) -> None:
    shop, chat = shop_of(stack), stack.stub("reservations", role="chat_agent")
    store = await shop.location(BERLIN)  # open around the clock, nothing to prepare: ready on arrival
    warehouse = await shop.location((52.53, 13.2), warehouse=True)
    # This pair's transfers are expected at once, so any receipt is late.
    stack.apps["inventory"].servicers[0].implementation.transfers.lead_pairs[(warehouse, store)] = 0
    sofa = await shop.sku("Green velvet sofa")
    await shop.receive(warehouse, sofa, 1)
    request = create_request(store, [(sofa, 1)])
    request.allow_ship_to_store = True
    reservation = (await chat.CreateReservation(request)).reservation
    promised = reservation.promise
    assert promised.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER

    inventory = shop.inventory
    await inventory.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=reservation.transfer_id))
    received = await inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=reservation.transfer_id,
            lines=[inv.TransferArrival(sku=sofa, received=1)],
        )
    )
    # The receipt's re-promise (the sweep may have announced the transfer overdue before it, with a
    # re-promise of its own while the units were still on the road).
    _, event = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "reservations.reservation.repromised"
            and payload.reservation.reservation_id == reservation.reservation_id
            and payload.reservation.status == pb.RESERVATION_STATUS_READY_FOR_PICKUP
        )
    )
    moved = event.reservation.promise
    assert moved.at.ToDatetime(tzinfo=UTC) > promised.at.ToDatetime(tzinfo=UTC)
    assert moved.at.ToDatetime(tzinfo=UTC) >= received.transfer.received_at.ToDatetime(tzinfo=UTC)
    assert moved.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert event.reservation.status == pb.RESERVATION_STATUS_READY_FOR_PICKUP
    shown = await chat.GetReservation(pb.GetReservationRequest(reservation_id=reservation.reservation_id))
    assert shown.reservation.promise == moved


async def test_find_availability_offers_pickup_via_a_transfer_that_the_reservation_then_commits(stack: Stack) -> None:
    shop, chat = shop_of(stack), stack.stub("reservations", role="chat_agent")
    zone = midday_zone()  # 12:xx there: the 14:00 opening fixes the minute of the promise
    settings = inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("14:00", "20:00"), pickup_preparation_minutes=60
    )
    # A place of its own, far from the session's other stores (each pickup store in range is offered).
    at = (random.uniform(-45, -35), random.uniform(-125, -105))
    store = await shop.location(at, promise_settings=settings)
    other = await shop.location((at[0] + 0.01, at[1]), promise_settings=settings)  # ~1 km: has one, not two
    warehouse = await shop.location((at[0] + 0.1, at[1]), warehouse=True)  # ~11 km: has both
    sofa, lamp = await shop.sku("Green velvet sofa"), await shop.sku("Lamp nobody stocks twice")
    await shop.receive(other, sofa, 1)
    await shop.receive(warehouse, sofa, 2)
    await shop.receive(other, lamp, 1)

    def asking(sku: str, *, offer: bool) -> inv.FindAvailabilityRequest:
        return inv.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=sku, quantity=2)],
            near=common_pb2.GeoPoint(latitude=at[0], longitude=at[1]),
            radius_km=5,
            method=common_pb2.FULFILMENT_METHOD_PICKUP,
            offer_transfers=offer,
        )

    plain = await shop.inventory.FindAvailability(asking(sofa, offer=False))
    assert [(entry.location.location_id, entry.complete) for entry in plain.locations] == [(other, False)]
    assert [list(entry.promises) for entry in plain.locations] == [[]]

    found = await shop.inventory.FindAvailability(asking(sofa, offer=True))
    by_store = {entry.location.location_id: entry for entry in found.locations}
    assert set(by_store) == {store, other}  # the warehouse is no pickup store
    assert not by_store[store].complete and not by_store[other].complete
    offered = {}
    for location_id, entry in by_store.items():
        [promise] = entry.promises
        assert promise.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
        assert promise.local_time == "15:00"
        assert promise.wording.endswith(f"via transfer from Warehouse {warehouse}")  # the nearest complete origin
        offered[location_id] = promise

    request = create_request(store, [(sofa, 2)])
    request.allow_ship_to_store = True
    reservation = (await chat.CreateReservation(request)).reservation
    assert reservation.status == pb.RESERVATION_STATUS_AWAITING_TRANSFER
    assert reservation.transfer_origin_id == warehouse
    committed = reservation.promise
    assert (committed.kind, committed.local_date, committed.local_time, committed.wording) == (
        offered[store].kind,
        offered[store].local_date,
        offered[store].local_time,
        offered[store].wording,
    )  # quote equals commit (their `at` are the same local minute, as the opening fixes it)
    assert committed.at == offered[store].at

    # Two lamps are nowhere complete: no transfer could bring them, so none is offered.
    lamps = await shop.inventory.FindAvailability(asking(lamp, offer=True))
    assert [(entry.location.location_id, list(entry.promises)) for entry in lamps.locations] == [(other, [])]

    # A set is offered via a transfer from an origin with every component for it, and the
    # reservation commits that date: the transfer brings it as its components.
    await shop.receive(warehouse, sofa, 1)
    cushion = await shop.sku("Green velvet cushion")
    await shop.receive(warehouse, cushion, 2)
    sofa_set = unique_id("SET-")
    await define_set(
        shop.inventory,
        {sofa: 1, cushion: 2},
        sku=sofa_set,
        title="Green velvet sofa with two cushions",
        price_minor=139900,
        currency="EUR",
    )
    one_set = inv.FindAvailabilityRequest(
        items=[common_pb2.SkuQuantity(sku=sofa_set, quantity=1)],
        near=common_pb2.GeoPoint(latitude=at[0], longitude=at[1]),
        radius_km=5,
        offer_transfers=True,
    )
    sets = {entry.location.location_id: entry for entry in (await shop.inventory.FindAvailability(one_set)).locations}
    assert set(sets) == {store, other}  # neither has a set today (the other store has a sofa, no cushion)
    [via] = sets[store].promises
    assert via.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert via.wording.endswith(f"via transfer from Warehouse {warehouse}")
    request = create_request(store, [(sofa_set, 1)])
    request.allow_ship_to_store = True
    reserved = (await chat.CreateReservation(request)).reservation
    assert (reserved.status, reserved.transfer_origin_id) == (pb.RESERVATION_STATUS_AWAITING_TRANSFER, warehouse)
    assert (reserved.promise.wording, reserved.promise.at) == (via.wording, via.at)  # quote equals commit

    # With every sofa of the warehouse held, no origin has a set: none is offered.
    nothing = await shop.inventory.FindAvailability(one_set)
    assert not any(entry.promises for entry in nothing.locations)


async def test_a_transfer_overdue_on_the_road_repromises_the_reservation_waiting_for_it(stack: Stack, tap) -> None:
    """The truck left and its expected arrival passed: before anything is received, inventory
    announces the transfer overdue and the reservation waiting for it is promised from now (as a
    reservation made now would be), with reservations.reservation.repromised, still awaiting it."""
    shop, chat = shop_of(stack), stack.stub("reservations", role="chat_agent")
    store = await shop.location(BERLIN)  # open around the clock, nothing to prepare: ready on arrival
    warehouse = await shop.location((52.53, 13.2), warehouse=True)
    # This pair's transfers are expected at once, so once shipped the transfer is overdue.
    stack.apps["inventory"].servicers[0].implementation.transfers.lead_pairs[(warehouse, store)] = 0
    sofa = await shop.sku("Green velvet sofa")
    await shop.receive(warehouse, sofa, 1)
    request = create_request(store, [(sofa, 1)])
    request.allow_ship_to_store = True
    reservation = (await chat.CreateReservation(request)).reservation
    promised = reservation.promise
    assert promised.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER

    await shop.inventory.ShipTransfer(
        inv.ShipTransferRequest(request_id=unique_id(), transfer_id=reservation.transfer_id)
    )
    _, overdue = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "inventory.transfer.overdue" and payload.transfer.transfer_id == reservation.transfer_id
        )
    )
    assert overdue.transfer.status == inv.TRANSFER_STATUS_SHIPPED
    _, event = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "reservations.reservation.repromised"
            and payload.reservation.reservation_id == reservation.reservation_id
        )
    )
    moved = event.reservation.promise
    assert moved.at.ToDatetime(tzinfo=UTC) > promised.at.ToDatetime(tzinfo=UTC)
    assert moved.kind == common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER
    assert event.reservation.status == pb.RESERVATION_STATUS_AWAITING_TRANSFER
    shown = await chat.GetReservation(pb.GetReservationRequest(reservation_id=reservation.reservation_id))
    assert shown.reservation.promise == moved


async def test_a_reservation_is_never_due_to_expire_before_it_is_ready_for_pickup(stack: Stack) -> None:
    """A hold shorter than the wait for the store (past its cut-off, or closed for days) would run
    out before the promised pickup: the customer came at the promised time to an expired
    reservation. The hold now runs for hold_for from the moment the items are promised ready."""
    shop, chat = shop_of(stack), stack.stub("reservations", role="chat_agent")
    zone = midday_zone()
    today = local_today(zone)
    # Past the cut-off whenever the test runs: ready tomorrow at 10:30.
    settings = inv.PromiseSettings(
        time_zone=zone, opening_hours=every_day("10:00", "19:00"), pickup_preparation_minutes=30, order_cutoff="00:00"
    )
    store = await shop.location(BERLIN, promise_settings=settings)
    lamp = await shop.sku()
    await shop.receive(store, lamp, 2)

    hour = (await chat.CreateReservation(create_request(store, [(lamp, 1)], hold_for=timedelta(hours=1)))).reservation
    ready = hour.promise.at.ToDatetime(tzinfo=UTC)
    assert hour.promise.local_date == (today + timedelta(days=1)).isoformat()
    expires = hour.expires_at.ToDatetime(tzinfo=UTC)
    assert expires >= ready + timedelta(hours=1) - timedelta(seconds=5)
    assert expires <= ready + timedelta(hours=1) + timedelta(minutes=1)

    # Closed for the next three days: the default hold (2 days) would end before the store opens.
    closed = inv.PromiseSettings()
    closed.CopyFrom(settings)
    closed.closed_dates.extend((today + timedelta(days=n)).isoformat() for n in range(1, 4))
    other = await shop.location(BERLIN, promise_settings=closed)
    await shop.receive(other, lamp, 1)
    later = (await chat.CreateReservation(create_request(other, [(lamp, 1)]))).reservation
    assert later.promise.local_date == (today + timedelta(days=4)).isoformat()
    assert later.expires_at.ToDatetime(tzinfo=UTC) > later.promise.at.ToDatetime(tzinfo=UTC)
    assert later.status == pb.RESERVATION_STATUS_ACTIVE
