"""A day at a store, watched on the bus and by a webhook subscription to every event: each event a
service publishes is in the catalogue, and each reaches the subscriber."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
import pytest

from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.events.bus import EventBus
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.reservations.support import World, duration
from tests.integration.webhooks.conftest import arrived, delete, subscribe
from tests.integration.webhooks.receiver import Receiver


async def test_every_event_of_a_day_at_a_store_is_catalogued_and_delivered(
    world: World, webhooks: Any, receiver: Receiver, tap: EventTap
) -> None:
    everything = await subscribe(webhooks, receiver, [">"])
    try:
        store = await world.store()
        sofa = await world.sku()
        await world.receive(store, sofa, 2)
        kept = await world.reserve(store, [(sofa, 1)])
        await world.reservations.ExtendReservation(
            rpb.ExtendReservationRequest(
                request_id=unique_id(), reservation_id=kept.reservation_id, extend_by=duration(timedelta(hours=1))
            )
        )
        await world.as_role("pos", [store]).CollectReservation(
            rpb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=kept.pickup_code)
        )
        dropped = await world.reserve(store, [(sofa, 1)])
        await world.reservations.CancelReservation(
            rpb.CancelReservationRequest(request_id=unique_id(), reservation_id=dropped.reservation_id)
        )
        forgotten = await world.reserve(store, [(sofa, 1)], hold_for=timedelta(seconds=1))
        with pytest.raises(grpc.aio.AioRpcError):
            await world.reserve(store, [(sofa, 1)])  # the last one is held: refused
        mine = {kept.reservation_id, dropped.reservation_id, forgotten.reservation_id}

        def ours() -> dict[str, str]:
            found = {}
            for envelope, payload in tap.events:
                text = str(payload)
                if sofa in text or any(reservation in text for reservation in mine):
                    found[envelope.event_id] = envelope.type
            return found

        await wait_until(
            lambda: "reservations.reservation.expired" in ours().values(), what="the forgotten reservation expired"
        )
        assert tap.uncatalogued() == []
        seen = set(ours().values())
        assert {
            "inventory.stock.changed",
            "inventory.hold.created",
            "inventory.hold.committed",
            "inventory.hold.released",
            "inventory.hold.expired",
            "reservations.reservation.created",
            "reservations.reservation.extended",
            "reservations.reservation.collected",
            "reservations.reservation.cancelled",
            "reservations.reservation.expired",
            "reservations.demand.refused",
            "fulfilment.task.created",
            "fulfilment.task.withdrawn",
        } <= seen, seen
        await arrived(receiver, set(ours()))
    finally:
        await delete(webhooks, everything.subscription_id)


async def test_the_tap_names_an_event_the_catalogue_lacks(bus: EventBus) -> None:
    watching = await EventTap(bus, f"{bus.settings.subject_prefix}.>").start()
    try:
        sku = unique_id("SKU-")
        for event_type, payload in (
            ("inventory.stock.vanished", inv.StockChanged(level=inv.StockLevel(sku=sku))),
            ("inventory.hold.created", inv.StockChanged(level=inv.StockLevel(sku=sku))),  # the wrong payload
            ("inventory.stock.changed", inv.StockChanged(level=inv.StockLevel(sku=sku))),
        ):
            envelope = new_envelope(event_type, payload, source="inventory")
            await bus.js.publish(
                bus.settings.subject(*event_type.split(".")),
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": envelope.event_id},
            )
        await wait_until(lambda: len(watching.events) >= 3, what="the three events")
        assert watching.uncatalogued() == [
            "inventory.hold.created carrying omnistock.inventory.v1.StockChanged",
            "inventory.stock.vanished carrying omnistock.inventory.v1.StockChanged",
        ]
    finally:
        await watching.stop()
