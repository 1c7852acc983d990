"""Wrong hands: store staff act on their own store's reservations only; roles are enforced."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.reservations.support import World, create_request


async def test_a_clerk_cannot_see_or_hand_over_another_stores_pickups(world: World) -> None:
    store_a, store_b, sku = await world.store(), await world.store(), await world.sku()
    await world.receive(store_a, sku, 2)
    await world.receive(store_b, sku, 2)
    at_a = await world.reserve(store_a, [(sku, 1)])
    at_b = await world.reserve(store_b, [(sku, 1)])
    clerk_a = world.as_role("pos", [store_a])

    mine = await clerk_a.GetReservation(pb.GetReservationRequest(reservation_id=at_a.reservation_id))
    assert mine.reservation.reservation_id == at_a.reservation_id
    listed = await clerk_a.ListReservations(pb.ListReservationsRequest(page_size=500))
    assert {r.store_id for r in listed.reservations} == {store_a}

    refused_calls = [
        clerk_a.GetReservation(pb.GetReservationRequest(reservation_id=at_b.reservation_id)),
        clerk_a.ListReservations(pb.ListReservationsRequest(store_id=store_b)),
        clerk_a.CollectReservation(
            pb.CollectReservationRequest(request_id=unique_id(), store_id=store_b, pickup_code=at_b.pickup_code)
        ),
        clerk_a.MarkReservationReady(
            pb.MarkReservationReadyRequest(request_id=unique_id(), reservation_id=at_b.reservation_id)
        ),
        clerk_a.CancelReservation(
            pb.CancelReservationRequest(request_id=unique_id(), reservation_id=at_b.reservation_id)
        ),
        clerk_a.CreateReservation(create_request(store_b, [(sku, 1)])),
    ]
    for call in refused_calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    assert (await world.get(at_b.reservation_id)).status == pb.RESERVATION_STATUS_ACTIVE
    assert (await world.level(store_b, sku)).held == 1


async def test_roles_and_tokens_are_checked(world: World) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])
    collect = pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)

    for role in ("storefront", "chat_agent", "app", "warehouse"):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await world.as_role(role, [store]).CollectReservation(collect)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await world.as_role("chat_agent").MarkReservationReady(
            pb.MarkReservationReadyRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    chat = world.as_role("chat_agent")
    with pytest.raises(grpc.aio.AioRpcError) as browsing:
        await chat.ListReservations(pb.ListReservationsRequest(store_id=store))
    assert browsing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "customer_id" in (browsing.value.details() or "")
    own = await chat.ListReservations(pb.ListReservationsRequest(customer_id=reservation.customer.customer_id))
    assert [r.reservation_id for r in own.reservations] == [reservation.reservation_id]
    anonymous = world.stack.stub("reservations", token="")
    with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
        await anonymous.GetReservation(pb.GetReservationRequest(reservation_id=reservation.reservation_id))
    assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await world.get(reservation.reservation_id)).status == pb.RESERVATION_STATUS_ACTIVE


async def test_a_caller_reserves_only_in_its_own_channel(world: World) -> None:
    """A channel's pools and the till's safety stock keep each channel's share: a caller naming
    another channel than its own (its token's, else its role's) is refused and takes nothing. The
    till's channel would take the safety stock, the chat's would get round the web's pool."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 2)
    await world.inventory.SetSafetyStock(
        inv.SetSafetyStockRequest(request_id=unique_id(), location_id=store, sku=sku, safety_stock=1)
    )
    chat_shop = world.stack.stub("reservations", token=world.stack.token("storefront", channel="chat"))
    refusals = [
        (world.as_role(role), channel)
        for role in ("storefront", "app", "chat_agent")
        for channel in (common_pb2.CHANNEL_POS, common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_APP, common_pb2.CHANNEL_CHAT)
        if (role, channel)
        not in {
            ("storefront", common_pb2.CHANNEL_WEB),
            ("app", common_pb2.CHANNEL_APP),
            ("chat_agent", common_pb2.CHANNEL_CHAT),
        }
    ]
    refusals += [(chat_shop, common_pb2.CHANNEL_WEB), (world.as_role("pos", [store]), common_pb2.CHANNEL_WEB)]
    for caller, channel in refusals:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await caller.CreateReservation(create_request(store, [(sku, 1)], channel=channel))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, channel
        (info,) = details_of(refused.value, error_details_pb2.ErrorInfo)
        assert info.reason == "ACTION_NOT_ALLOWED"
        assert "its own channel" in (refused.value.details() or "")
    assert (await world.level(store, sku)).held == 0

    # Each in its own: the web shop named by its token's channel, the till in the till's channel.
    web = await chat_shop.CreateReservation(create_request(store, [(sku, 1)], channel=common_pb2.CHANNEL_CHAT))
    assert web.reservation.status == pb.RESERVATION_STATUS_ACTIVE
    till = world.as_role("pos", [store])
    mine = await till.CreateReservation(create_request(store, [(sku, 1)], channel=common_pb2.CHANNEL_POS))
    assert mine.reservation.status == pb.RESERVATION_STATUS_ACTIVE
    assert (await world.level(store, sku)).held == 2


async def test_reservations_at_an_unknown_store_are_not_found_and_at_an_idle_one_none(world: World) -> None:
    """A mistyped store must not read as "no reservations there"."""
    idle, nowhere = await world.store(), unique_id("NOWHERE-")
    admin = world.as_role("admin")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin.ListReservations(pb.ListReservationsRequest(store_id=nowhere))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    (resource,) = details_of(refused.value, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.resource_name, resource.description) == ("location", nowhere, "store_id")
    assert list((await admin.ListReservations(pb.ListReservationsRequest(store_id=idle))).reservations) == []
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await world.as_role("pos", [idle]).ListReservations(pb.ListReservationsRequest(store_id=nowhere))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
