"""Webhooks end to end: events of the running services reach real HTTP receivers on loopback,
signed, in order per entity, and nothing is lost while a receiver is down."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.invariants import take_snapshot, webhook_queues_have_one_head
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import wait_until
from omnistock_webhooks.adapters import repository
from tests.integration.reservations.support import World
from tests.integration.webhooks.conftest import arrived, delete, deliveries, recorded, subscribe
from tests.integration.webhooks.receiver import Receiver

STOCK = "inventory.stock.changed"


def stock_of(received: list[Any], skus: set[str]) -> list[dict[str, Any]]:
    """The stock.changed bodies of these SKUs, first arrival of each event only, in arrival order."""
    seen: set[str] = set()
    found = []
    for request in received:
        event = request.event
        if event["type"] == STOCK and event["data"]["level"]["sku"] in skus and event["id"] not in seen:
            seen.add(event["id"])
            found.append(event)
    return found


async def test_the_sofa_story_reaches_the_erp_signed(world: World, webhooks: Any, receiver: Receiver) -> None:
    erp = await subscribe(
        webhooks, receiver, ["reservations.reservation.*", STOCK, "fulfilment.task.>"], description="ERP"
    )
    try:
        store = await world.store()
        sofa = await world.sku("Velvet sofa", colour="green")
        await world.receive(store, sofa, 1)
        reservation = await world.reserve(store, [(sofa, 1)])
        await world.as_role("pos", [store]).CollectReservation(
            rpb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
        )

        def story() -> list[str]:
            mine = []
            for request in receiver.accepted():
                event, data = request.event, request.event["data"]
                if data.get("reservation", {}).get("reservationId") == reservation.reservation_id:
                    mine.append(event["type"])
                elif data.get("level", {}).get("sku") == sofa and data["level"].get("onHand") == "0":
                    mine.append("sold out")
            return mine

        await wait_until(
            lambda: (
                {"reservations.reservation.created", "reservations.reservation.collected", "sold out"} <= set(story())
            ),
            what="the reservation created and collected, and the sofa's stock at zero",
        )
        assert story().index("reservations.reservation.created") < story().index("reservations.reservation.collected")
        levels = stock_of(receiver.accepted(), {sofa})
        versions = [int(event["data"]["level"]["version"]) for event in levels]
        assert versions == sorted(versions) and len(versions) >= 3  # received, held, committed
        assert [event["data"]["level"]["onHand"] for event in levels][-1] == "0"
        created = next(r for r in receiver.accepted() if r.event["type"] == "reservations.reservation.created")
        body = created.event
        assert created.headers["webhook-id"] == body["id"]
        assert abs(int(created.headers["webhook-timestamp"]) - time.time()) < 300
        assert created.headers["webhook-signature"].startswith("v1,")
        assert created.headers["content-type"] == "application/json"
        assert body["data_type"] == "omnistock.reservations.v1.ReservationChanged"
        assert body["source"] == "reservations" and body["timestamp"].endswith("Z")
        assert body["data"]["reservation"]["pickupCode"] == reservation.pickup_code
        # Every request the receiver got was signed with the subscription's secret.
        assert all(r.verified for r in receiver.snapshot())
        log = await recorded(webhooks, erp.subscription_id, {body["id"]})
        assert [d.state for d in log] == [pb.DELIVERY_STATE_DELIVERED]
        assert log[0].attempts[0].status_code == 204 and log[0].attempts[0].latency.ToTimedelta().total_seconds() > 0
    finally:
        await delete(webhooks, erp.subscription_id)


async def test_a_receiver_down_for_a_while_loses_nothing_and_keeps_each_rows_order(
    world: World, webhooks: Any, receiver: Receiver, tap: EventTap
) -> None:
    other = Receiver().start()
    down = await subscribe(webhooks, receiver, [STOCK])
    up = await subscribe(webhooks, other, [STOCK])
    try:
        receiver.stop()
        store = await world.store()
        skus = [await world.sku() for _ in range(3)]
        for round_ in range(4):
            for sku in skus:
                await world.receive(store, sku, round_ + 1)
        expected = 12

        def published() -> set[str]:
            return {
                envelope.event_id
                for envelope, payload in tap.events
                if envelope.type == STOCK and payload.level.sku in skus  # type: ignore[attr-defined]
            }

        await wait_until(lambda: len(published()) == expected, what="every stock change published")
        # The live subscription is not held back by the one whose receiver is down.
        await arrived(other, published())

        async def failing() -> bool:
            log = await deliveries(webhooks, down.subscription_id, state=pb.DELIVERY_STATE_PENDING)
            return sum(1 for d in log for a in d.attempts if a.error and not a.status_code) >= 3

        await wait_until(failing, what="failed attempts while the receiver is down")
        before = await webhooks.GetSubscription(pb.GetSubscriptionRequest(subscription_id=down.subscription_id))
        assert before.subscription.pending_deliveries >= expected
        receiver.start()  # back, on the same port
        await arrived(receiver, published())
        for sku in skus:
            versions = [int(e["data"]["level"]["version"]) for e in stock_of(receiver.accepted(), {sku})]
            assert len(versions) == 4 and versions == sorted(versions), (sku, versions)
            on_hand = [int(e["data"]["level"]["onHand"]) for e in stock_of(receiver.accepted(), {sku})]
            assert on_hand == [1, 3, 6, 10], (sku, on_hand)
        mine = await recorded(webhooks, down.subscription_id, published())
        assert len(mine) == expected and all(d.state == pb.DELIVERY_STATE_DELIVERED for d in mine)
        retried = [d for d in mine if len(d.attempts) > 1]
        assert retried, "some delivery needed more than one attempt"
        for delivery in retried:
            assert [a.number for a in delivery.attempts] == list(range(1, len(delivery.attempts) + 1))
            assert all("onnect" in a.error for a in delivery.attempts[:-1]), delivery.attempts
            assert delivery.attempts[-1].status_code == 204 and not delivery.attempts[-1].error
    finally:
        other.stop()
        await delete(webhooks, down.subscription_id)
        await delete(webhooks, up.subscription_id)


async def test_a_bad_signature_is_refused_by_the_receiver_and_retried(
    world: World, webhooks: Any, receiver: Receiver
) -> None:
    subscription = await subscribe(webhooks, receiver, [STOCK])
    right = receiver.secret
    receiver.secret = "whsec_" + "QUJD" * 8  # the partner configured another secret
    try:
        store = await world.store()
        sku = await world.sku()
        await world.receive(store, sku, 2)

        def refused() -> list[Any]:
            return [r for r in receiver.snapshot() if not r.verified and sku in r.body.decode()]

        await wait_until(lambda: len(refused()) >= 2, what="deliveries refused for their signature")
        assert all(r.answered == 401 for r in refused())
        receiver.secret = right
        await wait_until(lambda: stock_of(receiver.accepted(), {sku}), what="the delivery accepted")
        (event,) = stock_of(receiver.accepted(), {sku})
        (delivery,) = await recorded(webhooks, subscription.subscription_id, {event["id"]})
        assert [a.status_code for a in delivery.attempts][:2] == [401, 401]
        assert delivery.attempts[0].error == "HTTP 401"
        assert delivery.state == pb.DELIVERY_STATE_DELIVERED
    finally:
        await delete(webhooks, subscription.subscription_id)


async def test_dead_letters_are_listed_and_replayed(world: World, webhooks: Any, receiver: Receiver) -> None:
    subscription = await subscribe(webhooks, receiver, [STOCK], max_attempts=2)
    receiver.status = 500
    try:
        store = await world.store()
        sku = await world.sku()
        await world.receive(store, sku, 1)
        await world.receive(store, sku, 1)

        async def dead() -> list[pb.Delivery]:
            log = await deliveries(webhooks, subscription.subscription_id, state=pb.DELIVERY_STATE_DEAD)
            return [d for d in log if sku in d.ordering_key]

        await wait_until(lambda: _count(dead, 2), what="both deliveries dead")
        for letter in await dead():
            assert [(a.number, a.status_code, a.error) for a in letter.attempts] == [
                (1, 500, "HTTP 500"),
                (2, 500, "HTTP 500"),
            ]
            assert letter.finish_time.seconds > 0 and not letter.HasField("next_attempt_time")
        counted = await webhooks.GetSubscription(
            pb.GetSubscriptionRequest(subscription_id=subscription.subscription_id)
        )
        assert counted.subscription.dead_deliveries >= 2
        assert not stock_of(receiver.accepted(), {sku})

        receiver.status = None
        replayed = await webhooks.ReplayDeliveries(
            pb.ReplayDeliveriesRequest(request_id=unique_id(), subscription_id=subscription.subscription_id)
        )
        assert replayed.replayed >= 2
        await wait_until(lambda: len(stock_of(receiver.accepted(), {sku})) == 2, what="both replayed deliveries")
        versions = [int(e["data"]["level"]["version"]) for e in stock_of(receiver.accepted(), {sku})]
        assert versions == sorted(versions)
        assert await dead() == []
        replayed_ids = {e["id"] for e in stock_of(receiver.accepted(), {sku})}
        for delivery in await recorded(webhooks, subscription.subscription_id, replayed_ids):
            assert delivery.state == pb.DELIVERY_STATE_DELIVERED and delivery.replays == 1
            assert [a.number for a in delivery.attempts] == [1, 2, 3]
    finally:
        await delete(webhooks, subscription.subscription_id)


async def _count(read: Any, wanted: int) -> bool:
    return len(await read()) == wanted


async def test_a_rotated_secret_signs_beside_the_old_one_until_it_expires(
    world: World, webhooks: Any, receiver: Receiver
) -> None:
    subscription = await subscribe(webhooks, receiver, [STOCK])
    old = receiver.secret
    try:
        rotated = await webhooks.RotateSubscriptionSecret(
            pb.RotateSubscriptionSecretRequest(request_id=unique_id(), subscription_id=subscription.subscription_id)
        )
        assert rotated.secret.startswith("whsec_") and rotated.secret != old
        assert rotated.subscription.HasField("previous_secret_expire_time")
        receiver.secret = rotated.secret
        store = await world.store()
        sku = await world.sku()
        await world.receive(store, sku, 1)
        await wait_until(lambda: stock_of(receiver.accepted(), {sku}), what="a delivery signed with the new secret")
        (delivery,) = [r for r in receiver.accepted() if sku in r.body.decode()]
        assert len(delivery.headers["webhook-signature"].split(" ")) == 2
        # A receiver still on the old secret accepts it too: the switch needs no downtime.
        from standardwebhooks import Webhook

        Webhook(old).verify(delivery.body, delivery.headers)

        at_once = await webhooks.RotateSubscriptionSecret(
            pb.RotateSubscriptionSecretRequest(
                request_id=unique_id(), subscription_id=subscription.subscription_id, keep_previous_for={}
            )
        )
        assert not at_once.subscription.HasField("previous_secret_expire_time")
        receiver.secret = at_once.secret
        await world.receive(store, sku, 1)
        await wait_until(lambda: len(stock_of(receiver.accepted(), {sku})) == 2, what="the next delivery")
        latest = [r for r in receiver.accepted() if sku in r.body.decode()][-1]
        assert len(latest.headers["webhook-signature"].split(" ")) == 1
    finally:
        await delete(webhooks, subscription.subscription_id)


async def test_a_paused_subscription_queues_and_sends_once_resumed(
    world: World, webhooks: Any, receiver: Receiver
) -> None:
    subscription = await subscribe(webhooks, receiver, [STOCK], paused=True)
    try:
        store = await world.store()
        sku = await world.sku()
        await world.receive(store, sku, 1)

        async def queued() -> bool:
            log = await deliveries(webhooks, subscription.subscription_id, state=pb.DELIVERY_STATE_PENDING)
            return any(sku in d.ordering_key for d in log)

        await wait_until(queued, what="the delivery queued")
        assert not stock_of(receiver.accepted(), {sku})
        resumed = await webhooks.UpdateSubscription(
            pb.UpdateSubscriptionRequest(
                request_id=unique_id(),
                subscription=pb.Subscription(subscription_id=subscription.subscription_id, paused=False),
                update_mask={"paths": ["paused"]},
            )
        )
        assert not resumed.subscription.paused
        await wait_until(lambda: stock_of(receiver.accepted(), {sku}), what="the delivery after resuming")
    finally:
        await delete(webhooks, subscription.subscription_id)


async def test_verify_reports_a_webhook_queue_without_its_one_head(
    world: World, webhooks: Any, receiver: Receiver, db: Database
) -> None:
    subscription = await subscribe(webhooks, receiver, [STOCK], paused=True)
    try:
        store = await world.store()
        sku = await world.sku()
        await world.receive(store, sku, 1)
        await world.receive(store, sku, 1)

        async def queued() -> bool:
            log = await deliveries(webhooks, subscription.subscription_id, state=pb.DELIVERY_STATE_PENDING)
            return len([d for d in log if sku in d.ordering_key]) == 2

        await wait_until(queued, what="two deliveries queued")
        queue = f"{subscription.subscription_id}/stock:{store}/{sku}"

        async def reported() -> list[str]:
            async with db.transaction(isolation="repeatable_read") as conn:
                snapshot = await take_snapshot(conn)
            return [v.subject for v in webhook_queues_have_one_head(snapshot)]

        assert queue not in await reported()
        await db.execute(
            "UPDATE webhooks.deliveries SET is_head = true WHERE subscription_id = $1", subscription.subscription_id
        )
        assert queue in await reported()
    finally:
        await delete(webhooks, subscription.subscription_id)


async def test_finished_deliveries_are_dropped_after_the_retention(
    world: World, webhooks: Any, receiver: Receiver, db: Database
) -> None:
    subscription = await subscribe(webhooks, receiver, [STOCK])
    try:
        store = await world.store()
        sku = await world.sku()
        await world.receive(store, sku, 1)
        await wait_until(lambda: stock_of(receiver.accepted(), {sku}), what="the delivery")
        (event,) = stock_of(receiver.accepted(), {sku})
        await wait_until(
            lambda: _count(
                lambda: deliveries(webhooks, subscription.subscription_id, state=pb.DELIVERY_STATE_DELIVERED), 1
            ),
            what="the delivery recorded",
        )
        async with db.transaction() as conn:
            await repository.purge_finished(conn, timedelta(days=14))
        assert await deliveries(webhooks, subscription.subscription_id, event_id=event["id"])  # recent: kept
        await db.execute(
            "UPDATE webhooks.deliveries SET finished_at = now() - interval '15 days' WHERE event_id = $1", event["id"]
        )
        await db.execute(
            "UPDATE webhooks.events SET created_at = now() - interval '15 days' WHERE event_id = $1", event["id"]
        )
        async with db.transaction() as conn:
            await repository.purge_finished(conn, timedelta(days=14))
        assert await deliveries(webhooks, subscription.subscription_id, event_id=event["id"]) == []
        assert await db.fetchval("SELECT count(*) FROM webhooks.events WHERE event_id = $1", event["id"]) == 0
        assert (
            await db.fetchval(
                "SELECT count(*) FROM webhooks.attempts a LEFT JOIN webhooks.deliveries d USING (delivery_id)"
                " WHERE d.delivery_id IS NULL"
            )
            == 0
        )
    finally:
        await delete(webhooks, subscription.subscription_id)
