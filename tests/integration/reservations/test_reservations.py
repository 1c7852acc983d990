"""The reservations API against real inventory, PostgreSQL and NATS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.plugin import isolated_run
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_reservations.domain.pickup_code import ALPHABET, LENGTH
from omnistock_reservations.settings import ReservationsSettings
from tests.integration.reservations.support import (
    NEARBY,
    World,
    create_request,
    duration,
    field_violations,
    shortfall_of,
)


def of_reservation(event_type: str, reservation_id: str):  # type: ignore[no-untyped-def]
    return lambda envelope, payload: (
        envelope.type == event_type and payload.reservation.reservation_id == reservation_id
    )


async def test_create_holds_stock_and_returns_code_and_expiry(world: World, tap: EventTap) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 3)
    before = datetime.now(UTC)

    reservation = await world.reserve(store, [(sku, 2)])

    assert reservation.status == pb.RESERVATION_STATUS_ACTIVE
    assert len(reservation.pickup_code) == LENGTH and set(reservation.pickup_code) <= set(ALPHABET)
    expires = reservation.expires_at.ToDatetime(tzinfo=UTC)
    default = ReservationsSettings.of(world.stack.settings).reservation_default_hold
    assert before + default - timedelta(seconds=5) < expires < datetime.now(UTC) + default + timedelta(seconds=5)
    hold = await world.hold(reservation.hold_id)
    assert hold.owner == f"reservation:{reservation.reservation_id}"
    assert hold.state == inv.HOLD_STATE_ACTIVE
    assert hold.expires_at == reservation.expires_at
    level = await world.level(store, sku)
    assert (level.held, level.available) == (2, 1)
    _, event = await tap.wait_for(of_reservation("reservations.reservation.created", reservation.reservation_id))
    assert event.reservation.pickup_code == reservation.pickup_code


async def test_get_and_list_by_store_customer_and_status_in_pages(world: World) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 10)
    customer = unique_id("CUST-")
    made = [await world.reserve(store, [(sku, 1)], customer_id=customer) for _ in range(3)]
    other = await world.reserve(store, [(sku, 1)])
    admin = world.as_role("admin")

    got = (await admin.GetReservation(pb.GetReservationRequest(reservation_id=made[0].reservation_id))).reservation
    assert got == made[0]

    first = await admin.ListReservations(pb.ListReservationsRequest(store_id=store, page_size=3))
    assert [r.reservation_id for r in first.reservations] == [r.reservation_id for r in made]
    assert first.next_page_token
    second = await admin.ListReservations(
        pb.ListReservationsRequest(store_id=store, page_size=3, page_token=first.next_page_token)
    )
    assert [r.reservation_id for r in second.reservations] == [other.reservation_id]
    assert second.next_page_token == ""

    mine = await admin.ListReservations(pb.ListReservationsRequest(customer_id=customer))
    assert {r.reservation_id for r in mine.reservations} == {r.reservation_id for r in made}

    await admin.CancelReservation(
        pb.CancelReservationRequest(request_id=unique_id(), reservation_id=other.reservation_id)
    )
    cancelled = await admin.ListReservations(
        pb.ListReservationsRequest(store_id=store, status=pb.RESERVATION_STATUS_CANCELLED)
    )
    assert [r.reservation_id for r in cancelled.reservations] == [other.reservation_id]

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.ListReservations(pb.ListReservationsRequest(store_id=store, page_token="not-a-token"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == ["page_token"]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await admin.GetReservation(pb.GetReservationRequest(reservation_id="no-such-reservation"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_extend_moves_the_expiry_of_reservation_and_hold_up_to_the_maximum(world: World, tap: EventTap) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)], hold_for=timedelta(hours=1))

    extended = await world.extend(reservation.reservation_id, timedelta(hours=2))
    shift = extended.expires_at.ToDatetime() - reservation.expires_at.ToDatetime()
    assert shift == timedelta(hours=2)
    assert (await world.hold(reservation.hold_id)).expires_at == extended.expires_at
    await tap.wait_for(of_reservation("reservations.reservation.extended", reservation.reservation_id))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.reservations.ExtendReservation(
            pb.ExtendReservationRequest(
                request_id=unique_id(),
                reservation_id=reservation.reservation_id,
                extend_by=duration(ReservationsSettings.of(world.stack.settings).reservation_max_hold),
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(refused.value) == ["extend_by"]
    assert (await world.get(reservation.reservation_id)).expires_at == extended.expires_at


async def test_cancel_releases_the_hold_and_closes_the_code(world: World, tap: EventTap) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])

    cancelled = (
        await world.reservations.CancelReservation(
            pb.CancelReservationRequest(
                request_id=unique_id(), reservation_id=reservation.reservation_id, reason="changed my mind"
            )
        )
    ).reservation

    assert cancelled.status == pb.RESERVATION_STATUS_CANCELLED
    assert cancelled.cancel_reason == "changed my mind"
    assert (await world.hold(reservation.hold_id)).state == inv.HOLD_STATE_RELEASED
    assert (await world.level(store, sku)).available == 1
    await tap.wait_for(of_reservation("reservations.reservation.cancelled", reservation.reservation_id))
    again = await world.reservations.CancelReservation(
        pb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
    )
    assert again.reservation.status == pb.RESERVATION_STATUS_CANCELLED
    assert again.reservation.cancel_reason == "changed my mind"

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.as_role("pos", [store]).CollectReservation(
            pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "cancelled" in (refused.value.details() or "")


async def test_ready_then_collected_at_the_till_completes_the_sale(world: World, tap: EventTap) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 2)
    reservation = await world.reserve(store, [(sku, 1)])
    till = world.as_role("pos", [store])

    ready = await world.as_role("warehouse", [store]).MarkReservationReady(
        pb.MarkReservationReadyRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
    )
    assert ready.reservation.status == pb.RESERVATION_STATUS_READY_FOR_PICKUP
    assert ready.reservation.HasField("ready_at")

    # Read back over the counter: lower case, grouped with a dash.
    spoken = f"{reservation.pickup_code[:3]}-{reservation.pickup_code[3:]}".lower()
    collect = pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=spoken)
    collected = (await till.CollectReservation(collect)).reservation

    assert collected.status == pb.RESERVATION_STATUS_COLLECTED
    assert collected.HasField("closed_at")
    assert (await world.hold(reservation.hold_id)).state == inv.HOLD_STATE_COMMITTED
    level = await world.level(store, sku)
    assert (level.on_hand, level.held) == (1, 0)
    for kind in ("ready", "collected"):
        await tap.wait_for(of_reservation(f"reservations.reservation.{kind}", reservation.reservation_id))

    assert (await till.CollectReservation(collect)).reservation == collected  # a retry: the first answer
    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await till.CollectReservation(
            pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
        )
    assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "collected" in (twice.value.details() or "")
    assert (await world.level(store, sku)).on_hand == 1


async def test_collect_with_an_unknown_or_another_stores_code_is_not_found(world: World) -> None:
    store, elsewhere, sku = await world.store(), await world.store(), await world.sku()
    await world.receive(elsewhere, sku, 1)
    reservation = await world.reserve(elsewhere, [(sku, 1)])
    admin = world.as_role("admin")

    for code in (reservation.pickup_code, "ZZZZZZ" if reservation.pickup_code != "ZZZZZZ" else "YYYYYY"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await admin.CollectReservation(
                pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=code)
            )
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        # The code in quotes and the store after it: it read "pickup code 'KXKSJY at store S' not found".
        assert refused.value.details() == f"pickup code {code!r} not found at store {store}"
        (info,) = details_of(refused.value, error_details_pb2.ResourceInfo)
        assert (info.resource_type, info.resource_name, info.description) == ("pickup code", code, "pickup_code")
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await admin.CollectReservation(
            pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code="0OIL1")
        )
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(malformed.value) == ["pickup_code"]
    assert (await world.get(reservation.reservation_id)).status == pb.RESERVATION_STATUS_ACTIVE


async def test_convert_hands_the_hold_to_the_order_without_releasing_it(world: World, tap: EventTap) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])
    order_id = unique_id("ORDER-")
    request = pb.ConvertReservationRequest(
        request_id=unique_id(), reservation_id=reservation.reservation_id, order_id=order_id
    )

    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await world.as_role("storefront").ConvertReservation(request)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    converted = await world.as_role("service").ConvertReservation(request)
    assert converted.hold_id == reservation.hold_id
    assert converted.reservation.status == pb.RESERVATION_STATUS_CONVERTED
    assert converted.reservation.order_id == order_id
    hold = await world.hold(reservation.hold_id)
    assert (hold.owner, hold.state) == (f"order:{order_id}", inv.HOLD_STATE_ACTIVE)
    assert (await world.level(store, sku)).held == 1
    await tap.wait_for(of_reservation("reservations.reservation.converted", reservation.reservation_id))
    assert await world.as_role("service").ConvertReservation(request) == converted

    with pytest.raises(grpc.aio.AioRpcError) as cancel:
        await world.reservations.CancelReservation(
            pb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
        )
    assert cancel.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "converted" in (cancel.value.details() or "")
    assert (await world.hold(reservation.hold_id)).state == inv.HOLD_STATE_ACTIVE


async def test_bad_requests_name_every_field_and_change_nothing(world: World, db: Database) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 50)
    limit = ReservationsSettings.of(world.stack.settings).reservation_max_line_quantity
    bad = create_request(store, [(sku, 0), (sku, limit + 1), ("", 1)], hold_for=timedelta(days=30))
    bad.channel = common_pb2.CHANNEL_UNSPECIFIED
    bad.customer.customer_id = ""
    bad.customer.email = "not-an-address"

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.reservations.CreateReservation(bad)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(refused.value)) == {
        "channel",
        "customer.customer_id",
        "customer.email",
        "lines[0].quantity",
        "lines[1].quantity",
        "lines[1].sku",
        "lines[2].sku",
        "hold_for",
    }
    # A store that does not exist is not found; one that offers no pickup is the wrong store_id.
    for store_id, code in (
        ("NO-SUCH-STORE", grpc.StatusCode.NOT_FOUND),
        (await world.store(pickup=False), grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await world.reservations.CreateReservation(create_request(store_id, [(sku, 1)], request_id=unique_id()))
        assert unknown.value.code() == code
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            assert field_violations(unknown.value) == ["store_id"]
        else:
            (info,) = details_of(unknown.value, error_details_pb2.ResourceInfo)
            assert (info.resource_type, info.resource_name, info.description) == ("location", store_id, "store_id")
    assert await db.fetchval("SELECT count(*) FROM reservations.reservations WHERE store_id = $1", store) == 0
    assert (await world.level(store, sku)).held == 0


async def test_a_customer_name_of_only_spaces_is_refused_naming_it(world: World, db: Database) -> None:
    """The name staff ask for at the desk: absent is fine, blank is a mistake the caller should hear of."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    for blank in ("   ", "\u00a0"):
        request = create_request(store, [(sku, 1)])
        request.customer.name = blank
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await world.reservations.CreateReservation(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(refused.value) == ["customer.name"]
    assert await db.fetchval("SELECT count(*) FROM reservations.reservations WHERE store_id = $1", store) == 0


async def test_retry_returns_the_same_reservation_and_other_parameters_are_refused(world: World) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 5)
    request = create_request(store, [(sku, 2)])

    first = (await world.reservations.CreateReservation(request)).reservation
    again = (await world.reservations.CreateReservation(request)).reservation

    assert again == first
    assert (await world.level(store, sku)).held == 2
    changed = create_request(store, [(sku, 3)], request_id=request.request_id, customer_id=request.customer.customer_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.reservations.CreateReservation(changed)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert request.request_id in (refused.value.details() or "")
    assert (await world.level(store, sku)).held == 2


async def test_shortfall_fails_the_reservation_and_offers_stores_nearby(
    world: World, db: Database, tap: EventTap
) -> None:
    store, nearby, sku = await world.store(), await world.store(point=NEARBY), await world.sku()
    too_few = await world.store()
    await world.receive(store, sku, 1)
    await world.receive(nearby, sku, 3)
    await world.receive(too_few, sku, 1)  # not enough there either: no alternative
    request = create_request(store, [(sku, 2)])

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.reservations.CreateReservation(request)

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    shortfall = shortfall_of(refused.value)
    assert [(line.location_id, line.sku, line.requested, line.available) for line in shortfall.lines] == [
        (store, sku, 2, 1)
    ]
    assert [(alt.location_id, [(a.sku, a.quantity) for a in alt.available]) for alt in shortfall.alternatives] == [
        (nearby, [(sku, 3)])
    ]
    assert shortfall.alternatives[0].distance_km > 0
    status = await db.fetchval("SELECT status FROM reservations.reservations WHERE request_id = $1", request.request_id)
    assert status == "failed"
    assert (await world.level(store, sku)).held == 0

    _, refused_demand = await tap.wait_for(
        lambda envelope, payload: envelope.type == "reservations.demand.refused" and payload.location_id == store
    )
    assert refused_demand.channel == request.channel
    assert [(line.sku, line.requested, line.available) for line in refused_demand.short] == [(sku, 2, 1)]

    with pytest.raises(grpc.aio.AioRpcError) as retried:  # the same request: the same answer
        await world.reservations.CreateReservation(request)
    assert shortfall_of(retried.value) == shortfall


async def test_a_customer_has_a_limited_number_of_open_reservations(world: World) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 50)
    customer = unique_id("CUST-")
    allowed = ReservationsSettings.of(world.stack.settings).reservation_max_active_per_customer
    for _ in range(allowed):
        await world.reserve(store, [(sku, 1)], customer_id=customer)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.reserve(store, [(sku, 1)], customer_id=customer)

    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert customer in (refused.value.details() or "")
    assert (await world.level(store, sku)).held == allowed


async def test_extending_a_reservation_run_out_before_the_sweeper_came_answers_as_an_expired_one(
    omnistock_servers: tuple[str, str],
) -> None:
    """Its hold's time has passed and inventory's sweeper has not reached it yet (behind, or just
    started): the extension would be counted from an expiry in the past, and inventory refused that
    naming `expires_at`, a field the caller never sent. It is over, as an expired reservation is."""
    async with isolated_run(*omnistock_servers, label="unswept", sweep_interval=timedelta(hours=1)) as settings:
        stack = Stack(settings)
        await stack.start("inventory", "reservations")
        db = Database(settings.database_url)
        await db.connect()
        try:
            world = World(stack)
            store, sku = await world.store(), await world.sku()
            await world.receive(store, sku, 1)
            reservation = await world.reserve(store, [(sku, 1)])
            past = datetime.now(UTC) - timedelta(hours=1)
            await db.pool.execute(
                "UPDATE inventory.holds SET expires_at = $2 WHERE hold_id = $1", reservation.hold_id, past
            )
            await db.pool.execute(
                "UPDATE reservations.reservations SET expires_at = $2 WHERE reservation_id = $1",
                reservation.reservation_id,
                past,
            )

            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await world.extend(reservation.reservation_id, timedelta(minutes=15))

            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
            assert field_violations(refused.value) == []
            (failure,) = details_of(refused.value, error_details_pb2.PreconditionFailure)
            assert [(v.type, v.description) for v in failure.violations] == [
                ("RESERVATION_STATUS", "reservation is expired")
            ]
            # Nothing changed: the hold was not given a new expiry.
            assert (await world.hold(reservation.hold_id)).expires_at.ToDatetime(tzinfo=UTC) <= past + timedelta(
                milliseconds=1
            )
        finally:
            await db.close()
            await stack.close()
