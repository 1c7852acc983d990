"""A reservation's promise: a transfer arriving late moves it later (and says so), never earlier."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock_platform.promise_messages import promise_from_json, promise_to_json
from omnistock_platform.promising import Kind
from omnistock_reservations.adapters.inventory_client import Store
from omnistock_reservations.domain.reservation import Customer, Line, Reservation
from omnistock_reservations.service_layer.promises import at_store, via_transfer

NOW = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)  # Monday, 12:00 in Berlin
STORE = Store(
    location_id="STORE-BER-MITTE",
    name="Mitte",
    city="Berlin",
    latitude=52.52,
    longitude=13.405,
    pickup=True,
    active=True,
    promise_settings=inv.PromiseSettings(
        time_zone="Europe/Berlin",
        opening_hours=[inv.OpeningHours(weekday=day, opens="10:00", closes="20:00") for day in range(1, 7)],
        pickup_preparation_minutes=120,
    ),
)


def waiting() -> Reservation:
    return Reservation(
        reservation_id="r-1",
        request_id="q-1",
        channel="chat",
        customer=Customer("c-1", "Ada", "", ""),
        store_id=STORE.location_id,
        lines=[Line("SOFA", 1)],
        pickup_code="ABC123",
        hold_for=timedelta(days=2),
    )


def test_pickup_at_the_store_and_via_a_transfer() -> None:
    here = at_store(STORE, NOW)
    assert (here.kind, here.wording) == (Kind.PICKUP, "ready for pickup at Mitte today from 14:00")
    thursday_morning = datetime(2026, 12, 10, 7, 0, tzinfo=UTC)
    transferred = via_transfer(STORE, NOW, thursday_morning, "Warehouse Spandau")
    assert transferred.kind is Kind.PICKUP_VIA_TRANSFER
    assert (
        transferred.wording
        == "ready for pickup at Mitte on Thursday 10 Dec from 12:00 via transfer from Warehouse Spandau"
    )


def test_a_late_arrival_repromises_and_an_early_one_does_not() -> None:
    reservation = waiting()
    promised = via_transfer(STORE, NOW, datetime(2026, 12, 10, 7, 0, tzinfo=UTC), "Spandau")
    reservation.promise = promised
    early = via_transfer(STORE, NOW, datetime(2026, 12, 9, 9, 0, tzinfo=UTC), "Spandau")
    reservation.repromise(early)
    assert reservation.promise == promised and reservation.events == []
    late_receipt = datetime(2026, 12, 11, 18, 30, tzinfo=UTC)  # Friday 19:30 in Berlin
    late = via_transfer(STORE, late_receipt, late_receipt, "Spandau")
    reservation.repromise(late)
    assert reservation.promise == late and reservation.events == ["repromised"]
    assert late.wording == "ready for pickup at Mitte tomorrow from 11:30 via transfer from Spandau"


def test_a_promise_survives_its_column() -> None:
    promise = via_transfer(STORE, NOW, NOW + timedelta(days=2), "Spandau")
    assert promise_from_json(promise_to_json(promise)) == promise
    assert promise_from_json(None) is None and promise_to_json(None) is None
