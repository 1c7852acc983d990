"""Journey 1, "the last green sofa", through the real services: a chat agent finds the one green
sofa at the city branch and reserves it; the branch prepares the pickup from its task list; a web
customer and another store's till are refused the unit; the customer collects it with the code at
the branch, and a channel watching the SKU sees the stock reach zero."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.fulfilment.support import request_id

TIMEOUT = 15.0
HAMBURG = common_pb2.GeoPoint(latitude=53.5511, longitude=9.9937)
MUNICH = common_pb2.GeoPoint(latitude=48.1351, longitude=11.5820)


async def upsert_location(inventory: Any, kind: int, city: str, point: common_pb2.GeoPoint) -> str:
    location_id = unique_id("LOC-")
    await inventory.UpsertLocation(
        ipb.UpsertLocationRequest(
            request_id=request_id(),
            location=ipb.Location(
                location_id=location_id,
                name=f"{city} {location_id}",
                kind=kind,  # type: ignore[arg-type]
                city=city,
                point=point,
                routing_rank=1,
                ships=kind == ipb.LOCATION_KIND_WAREHOUSE,
                pickup=kind == ipb.LOCATION_KIND_STORE,
                till_sales=kind == ipb.LOCATION_KIND_STORE,
                active=True,
            ),
        )
    )
    return location_id


async def upsert_sku(inventory: Any, colour: str) -> str:
    sku = unique_id(f"SOFA-{colour.upper()}-")
    await inventory.UpsertSku(
        ipb.UpsertSkuRequest(
            request_id=request_id(),
            sku=ipb.Sku(
                sku=sku,
                title=f"Velvet sofa, {colour}",
                attributes={"colour": colour, "model": "velvet"},
                price_minor=129900,
                currency="EUR",
            ),
        )
    )
    return sku


async def receive(inventory: Any, location_id: str, sku: str, quantity: int) -> None:
    await inventory.ReceiveStock(
        ipb.ReceiveStockRequest(request_id=request_id(), location_id=location_id, sku=sku, quantity=quantity)
    )


async def next_task(stream: Any, predicate: Any) -> fpb.Task:
    """The first task in the watch stream that matches."""

    async def find() -> fpb.Task:
        while True:
            message = await stream.read()
            assert message is not grpc.aio.EOF, "the watch ended"
            for task in message.tasks:
                if predicate(task):
                    return task

    return await asyncio.wait_for(find(), TIMEOUT)


async def test_the_last_green_sofa(stack: Stack) -> None:
    admin = stack.stub("inventory", role="admin")
    warehouse = await upsert_location(admin, ipb.LOCATION_KIND_WAREHOUSE, "Hamburg", HAMBURG)
    branch = await upsert_location(admin, ipb.LOCATION_KIND_STORE, "Hamburg", HAMBURG)
    other_store = await upsert_location(admin, ipb.LOCATION_KIND_STORE, "Munich", MUNICH)
    green, blue = await upsert_sku(admin, "green"), await upsert_sku(admin, "blue")
    await receive(admin, warehouse, blue, 4)
    await receive(admin, branch, green, 1)

    # The web shop ships from warehouses: only blue is available there.
    web_inventory = stack.stub("inventory", role="storefront")
    shipping = await web_inventory.FindAvailability(
        ipb.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=green, quantity=1)],
            channel=common_pb2.CHANNEL_WEB,
            method=common_pb2.FULFILMENT_METHOD_SHIP,
            complete_only=True,
        )
    )
    assert all(found.location.location_id != branch for found in shipping.locations)

    # The chat agent looks near the customer's city and sees the one green sofa at the branch.
    chat_inventory = stack.stub("inventory", role="chat_agent")
    nearby = await chat_inventory.FindAvailability(
        ipb.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=green, quantity=1)],
            channel=common_pb2.CHANNEL_CHAT,
            near=HAMBURG,
            radius_km=50,
            method=common_pb2.FULFILMENT_METHOD_PICKUP,
            complete_only=True,
        )
    )
    assert [found.location.location_id for found in nearby.locations] == [branch]

    # A channel watches the SKU from now on; the branch staff watch their task list.
    stock_watch = chat_inventory.WatchStock(ipb.WatchStockRequest(skus=[green], channel=common_pb2.CHANNEL_CHAT))
    clerk = stack.stub("fulfilment", role="pos", locations=[branch])
    tasks = clerk.WatchTasks(fpb.WatchTasksRequest(location_id=branch))
    snapshot = await asyncio.wait_for(tasks.read(), TIMEOUT)
    assert snapshot.snapshot_complete and list(snapshot.tasks) == []

    chat = stack.stub("reservations", role="chat_agent")
    reservation = (
        await chat.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(
                    customer_id=unique_id("CUST-"), name="Ada Green", email="ada@example.com", phone="+49 40 1234567"
                ),
                store_id=branch,
                lines=[common_pb2.SkuQuantity(sku=green, quantity=1)],
            )
        )
    ).reservation
    assert reservation.pickup_code and reservation.expires_at.seconds > 0
    assert reservation.status == rpb.RESERVATION_STATUS_ACTIVE

    # The branch sees the pickup preparation, fetches the sofa and marks it ready.
    task = await next_task(tasks, lambda t: t.reservation_id == reservation.reservation_id)
    assert (task.kind, task.status) == (fpb.TASK_KIND_PICKUP_PREPARATION, fpb.TASK_STATUS_OPEN)
    assert [(line.sku, line.quantity) for line in task.lines] == [(green, 1)]
    await clerk.StartPicking(fpb.StartPickingRequest(request_id=request_id(), task_id=task.task_id))
    ready = await clerk.MarkReadyForPickup(fpb.MarkReadyForPickupRequest(request_id=request_id(), task_id=task.task_id))
    assert ready.task.status == fpb.TASK_STATUS_READY_FOR_PICKUP
    reservations_admin = stack.stub("reservations", role="admin")
    fetched = await reservations_admin.GetReservation(
        rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert fetched.reservation.status == rpb.RESERVATION_STATUS_READY_FOR_PICKUP

    # Meanwhile the web shop and another store's till try to take the same unit: both refused.
    with pytest.raises(grpc.aio.AioRpcError) as web_refused:
        await stack.stub("reservations", role="storefront").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_WEB,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Bob Blue", email="bob@example.com"),
                store_id=branch,
                lines=[common_pb2.SkuQuantity(sku=green, quantity=1)],
            )
        )
    assert web_refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(web_refused.value, common_pb2.Shortfall)
    assert [(line.sku, line.available) for line in shortfall.lines] == [(green, 0)]

    other_till = stack.stub("inventory", role="pos", locations=[other_store])
    with pytest.raises(grpc.aio.AioRpcError) as till_refused:
        await other_till.Hold(
            ipb.HoldRequest(
                request_id=request_id(),
                owner=f"till:{other_store}",
                channel=common_pb2.CHANNEL_POS,
                selling_location_id=other_store,
                lines=[ipb.HoldLineRequest(location_id=other_store, sku=green, quantity=1)],
                commit_now=True,
            )
        )
    assert till_refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(till_refused.value, common_pb2.Shortfall)

    # Days later the customer shows the code at the branch: the sale completes.
    handed = await clerk.HandOver(
        fpb.HandOverRequest(request_id=request_id(), location_id=branch, pickup_code=reservation.pickup_code)
    )
    assert (handed.task.task_id, handed.task.status) == (task.task_id, fpb.TASK_STATUS_HANDED_OVER)
    collected = await reservations_admin.GetReservation(
        rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    )
    assert collected.reservation.status == rpb.RESERVATION_STATUS_COLLECTED
    levels = (await admin.GetStock(ipb.GetStockRequest(sku=green))).levels
    assert [(level.location_id, level.on_hand, level.held) for level in levels] == [(branch, 0, 0)]

    # The watching channel sees the branch's stock reach zero, live.
    async def sold_out() -> None:
        while True:
            message = await stock_watch.read()
            if any(level.location_id == branch and level.on_hand == 0 and level.held == 0 for level in message.levels):
                return

    await asyncio.wait_for(sold_out(), TIMEOUT)
    handed_over = await next_task(
        tasks, lambda t: t.task_id == task.task_id and t.status == fpb.TASK_STATUS_HANDED_OVER
    )
    assert handed_over.status == fpb.TASK_STATUS_HANDED_OVER
    stock_watch.cancel()
    tasks.cancel()
