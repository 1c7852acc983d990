"""Journey 8, "wrong hands", through the real services: a chat agent cannot adjust stock; a store
clerk cannot see or hand over another store's pickups; a request without a valid token is
refused; malformed requests get INVALID_ARGUMENT naming the field. Nothing any of them tried
changed anything, and the right hands still can."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import grpc
import jwt
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id

TIMEOUT = 15.0
HAMBURG = common_pb2.GeoPoint(latitude=53.5511, longitude=9.9937)


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def first_of(stream: Any) -> Any:
    return await asyncio.wait_for(stream.read(), TIMEOUT)


def violated_fields(error: grpc.aio.AioRpcError) -> set[str]:
    return {v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations}


async def store(inventory: Any, name: str) -> str:
    location_id = unique_id(f"LOC-{name}-")
    await inventory.UpsertLocation(
        ipb.UpsertLocationRequest(
            request_id=unique_id(),
            location=ipb.Location(
                location_id=location_id,
                name=f"Store {name}",
                kind=ipb.LOCATION_KIND_STORE,
                city="Hamburg",
                point=HAMBURG,
                routing_rank=1,
                pickup=True,
                till_sales=True,
                active=True,
            ),
        )
    )
    return location_id


async def pickup_task(fulfilment: Any, location_id: str, reservation_id: str) -> fpb.Task:
    """The pickup preparation fulfilment made of the reservation (from its event)."""

    async def find() -> fpb.Task:
        while True:
            for task in (await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=location_id))).tasks:
                if task.reservation_id == reservation_id:
                    return task
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(find(), TIMEOUT)


async def test_wrong_hands_are_refused_and_change_nothing(stack: Stack) -> None:
    admin = stack.stub("inventory", role="admin")
    store_a, store_b = await store(admin, "A"), await store(admin, "B")
    sofa = unique_id("SOFA-")
    await admin.UpsertSku(ipb.UpsertSkuRequest(request_id=unique_id(), sku=ipb.Sku(sku=sofa, title="Velvet sofa")))
    for location_id in (store_a, store_b):
        await admin.ReceiveStock(
            ipb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sofa, quantity=2)
        )
    chat = stack.stub("reservations", role="chat_agent")
    reservation = (
        await chat.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada Green"),
                store_id=store_b,
                lines=[common_pb2.SkuQuantity(sku=sofa, quantity=1)],
            )
        )
    ).reservation
    task_b = await pickup_task(stack.stub("fulfilment", role="admin"), store_b, reservation.reservation_id)
    stock_before = (await admin.GetStock(ipb.GetStockRequest(sku=sofa))).levels

    # 1. The chat agent sees stock per location, but cannot change it.
    chat_inventory = stack.stub("inventory", role="chat_agent")
    assert len((await chat_inventory.GetStock(ipb.GetStockRequest(sku=sofa))).levels) == 2
    for change in (
        chat_inventory.AdjustStock(
            ipb.AdjustStockRequest(
                request_id=unique_id(),
                location_id=store_b,
                sku=sofa,
                reason=ipb.ADJUSTMENT_REASON_CORRECTION,
                delta=5,
            )
        ),
        chat_inventory.ReceiveStock(
            ipb.ReceiveStockRequest(request_id=unique_id(), location_id=store_b, sku=sofa, quantity=5)
        ),
        chat_inventory.SetSafetyStock(
            ipb.SetSafetyStockRequest(request_id=unique_id(), location_id=store_b, sku=sofa, safety_stock=0)
        ),
    ):
        assert (await refused(change)).code() == grpc.StatusCode.PERMISSION_DENIED

    # 2. A clerk of store A neither sees nor hands over store B's pickups.
    clerk_a_reservations = stack.stub("reservations", role="pos", locations=[store_a])
    clerk_a_tasks = stack.stub("fulfilment", role="pos", locations=[store_a])
    code = reservation.pickup_code
    for attempt in (
        clerk_a_reservations.ListReservations(rpb.ListReservationsRequest(store_id=store_b)),
        clerk_a_reservations.GetReservation(rpb.GetReservationRequest(reservation_id=reservation.reservation_id)),
        clerk_a_reservations.CollectReservation(
            rpb.CollectReservationRequest(request_id=unique_id(), store_id=store_b, pickup_code=code)
        ),
        clerk_a_reservations.MarkReservationReady(
            rpb.MarkReservationReadyRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
        ),
        clerk_a_tasks.ListTasks(fpb.ListTasksRequest(location_id=store_b)),
        clerk_a_tasks.GetTask(fpb.GetTaskRequest(task_id=task_b.task_id)),
        clerk_a_tasks.MarkReadyForPickup(fpb.MarkReadyForPickupRequest(request_id=unique_id(), task_id=task_b.task_id)),
        clerk_a_tasks.HandOver(fpb.HandOverRequest(request_id=unique_id(), location_id=store_b, pickup_code=code)),
        first_of(clerk_a_tasks.WatchTasks(fpb.WatchTasksRequest(location_id=store_b))),
    ):
        error = await refused(attempt)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
    # Their own lists do not show it, and B's code is nothing at store A's desk.
    own = await clerk_a_reservations.ListReservations(rpb.ListReservationsRequest())
    assert reservation.reservation_id not in {r.reservation_id for r in own.reservations}
    own_tasks = await clerk_a_tasks.ListTasks(fpb.ListTasksRequest())
    assert task_b.task_id not in {t.task_id for t in own_tasks.tasks}
    at_a = await refused(
        clerk_a_tasks.HandOver(fpb.HandOverRequest(request_id=unique_id(), location_id=store_a, pickup_code=code))
    )
    assert at_a.code() == grpc.StatusCode.NOT_FOUND

    # 3. No valid token, no entry: missing, expired, signed with another key, unsigned.
    claims = jwt.decode(stack.token(Role.ADMIN), options={"verify_signature": False})
    bad_tokens = {
        "missing": "",
        "expired": stack.token(Role.ADMIN, ttl=timedelta(seconds=-120)),
        "forged": jwt.encode(claims, "not-the-secret-but-long-enough-for-hs256", algorithm="HS256"),
        "unsigned": jwt.encode(claims, None, algorithm="none"),  # type: ignore[arg-type]
    }
    for why, token in bad_tokens.items():
        for attempt in (
            stack.stub("inventory", token=token).GetStock(ipb.GetStockRequest(sku=sofa)),
            stack.stub("reservations", token=token).CancelReservation(
                rpb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
            ),
        ):
            assert (await refused(attempt)).code() == grpc.StatusCode.UNAUTHENTICATED, why

    # 4. Malformed requests: INVALID_ARGUMENT, naming every field that is wrong.
    malformed = await refused(
        chat.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada", email="not-an-address"),
                store_id="",
                lines=[common_pb2.SkuQuantity(sku=sofa, quantity=0)],
            )
        )
    )
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(malformed) == {"customer.email", "store_id", "lines[0].quantity"}
    warehouse = stack.stub("inventory", role="warehouse", locations=[store_b])
    bad_adjustment = await refused(
        warehouse.AdjustStock(
            ipb.AdjustStockRequest(request_id=unique_id(), location_id=store_b, sku="no spaces allowed", delta=1)
        )
    )
    assert bad_adjustment.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(bad_adjustment) == {"sku", "reason"}
    clerk_b_tasks = stack.stub("fulfilment", role="pos", locations=[store_b])
    no_code = await refused(
        clerk_b_tasks.HandOver(fpb.HandOverRequest(request_id=unique_id(), location_id=store_b, pickup_code=""))
    )
    assert no_code.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(no_code) == {"pickup_code"}

    # Nothing of all that changed anything.
    assert (await admin.GetStock(ipb.GetStockRequest(sku=sofa))).levels == stock_before
    still = await stack.stub("reservations", role="admin").GetReservation(
        rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert still.reservation.status == rpb.RESERVATION_STATUS_ACTIVE

    # The right hands still can: store B's clerk hands the sofa over.
    handed = await clerk_b_tasks.HandOver(
        fpb.HandOverRequest(request_id=unique_id(), location_id=store_b, pickup_code=code)
    )
    assert handed.task.status == fpb.TASK_STATUS_HANDED_OVER
    collected = await stack.stub("reservations", role="pos", locations=[store_b]).GetReservation(
        rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert collected.reservation.status == rpb.RESERVATION_STATUS_COLLECTED
