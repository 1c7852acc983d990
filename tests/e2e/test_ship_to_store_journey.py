"""Ship to store: a store runs short of a bestseller; a customer reserves it for pickup there all the
same; a transfer from the warehouse brings it, held for her at the warehouse, on the road and at the
store (nobody else can buy it in between); the reservation becomes ready when the store receives it;
she collects it. Every figure ends exact: stock on both sides, the ledger, in transit, and every
invariant `omnistock verify` checks, including that a reservation awaiting a transfer has its units
exactly once. On a database of its own, as verify reads everything."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.invariants import check_all
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.orders.support import BERLIN, Shop, store_request
from tests.integration.reservations.support import create_request, shortfall_of


def _ship_to_store(store: str, lines: list[tuple[str, int]], **fields: Any) -> pb.CreateReservationRequest:
    request = create_request(store, lines, **fields)
    request.allow_ship_to_store = True
    return request


async def _violations(stack: Stack, settle: float = 10.0) -> list[str]:
    """What `omnistock verify` finds. An event the relay has not published yet, on a machine under
    load, shows as unpublished for a moment: a violation counts once it outlasts `settle` seconds (a
    real one, a lost effect or units held twice, never goes away by itself)."""
    deadline = asyncio.get_running_loop().time() + settle
    while True:
        found = [str(v) for v in await check_all(stack.settings)]
        if not found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_a_reservation_at_a_store_without_stock_is_brought_by_a_transfer_and_collected(
    fresh_stack: Stack,
) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    store = await shop.location(BERLIN, city="Berlin")
    warehouse = await shop.location((52.53, 13.2), warehouse=True, city="Berlin")
    far_warehouse = await shop.location((48.14, 11.58), warehouse=True, city="Munich")
    sofa = await shop.sku("Green velvet sofa", 129900)
    await shop.receive(store, sofa, 2)
    await shop.receive(warehouse, sofa, 10)
    await shop.receive(far_warehouse, sofa, 10)

    # The till sells the store's last two: the bestseller is gone from the shelf.
    till = stack.stub("orders", role="pos", locations=[store])
    await till.CreateOrder(store_request([(sofa, 2)], store, carry_out=True))
    assert (await shop.level(store, sofa)).on_hand == 0

    # Without ship to store the chat agent is told the store is short, as before.
    chat = stack.stub("reservations", role="chat_agent")
    with pytest.raises(grpc.aio.AioRpcError) as short:
        await chat.CreateReservation(create_request(store, [(sofa, 2)]))
    assert short.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert shortfall_of(short.value).lines[0].available == 0

    # With it, the nearest warehouse that has both sofas holds them for her, and a transfer brings them.
    before = datetime.now(UTC)
    reservation = (await chat.CreateReservation(_ship_to_store(store, [(sofa, 2)]))).reservation
    assert reservation.status == pb.RESERVATION_STATUS_AWAITING_TRANSFER
    assert reservation.transfer_origin_id == warehouse
    promised = reservation.promised_at.ToDatetime(tzinfo=UTC)
    # The default lead time from a warehouse: two days (setting transfer_lead_days_from_warehouse).
    assert before + timedelta(days=2) <= promised <= datetime.now(UTC) + timedelta(days=2)
    assert reservation.expires_at.ToDatetime(tzinfo=UTC) > promised  # the hold outlasts the journey

    admin = stack.stub("inventory", role="admin")
    transfer = (await admin.GetTransfer(inv.GetTransferRequest(transfer_id=reservation.transfer_id))).transfer
    assert transfer.status == inv.TRANSFER_STATUS_DRAFT
    assert (transfer.origin_location_id, transfer.destination_location_id) == (warehouse, store)
    assert transfer.hold_owner == f"reservation:{reservation.reservation_id}"
    assert transfer.origin_hold_id == reservation.hold_id
    assert transfer.expected_arrival_at == reservation.promised_at
    warehouse_level = await shop.level(warehouse, sofa)
    assert (warehouse_level.on_hand, warehouse_level.held) == (10, 2)
    # Nobody else can have the two held sofas: the web shop sees eight at the warehouse.
    web = stack.stub("inventory", role="storefront")
    seen = await web.GetStock(inv.GetStockRequest(sku=sofa, location_id=warehouse, channel=common_pb2.CHANNEL_WEB))
    assert [level.available for level in seen.levels] == [8]
    # The store has no pickup task yet: there is nothing to fetch until the sofas arrive.
    staff = stack.stub("fulfilment", role="pos", locations=[store])
    tasks = (await staff.ListTasks(fpb.ListTasksRequest(location_id=store))).tasks
    assert [task for task in tasks if task.reservation_id == reservation.reservation_id] == []
    assert await _violations(stack) == []

    # The warehouse ships: the held sofas leave on hand and held together, and are on their way.
    picker = stack.stub("inventory", role="warehouse", locations=[warehouse])
    await picker.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id))
    warehouse_level, store_level = await shop.level(warehouse, sofa), await shop.level(store, sofa)
    assert (warehouse_level.on_hand, warehouse_level.held) == (8, 0)
    assert (store_level.on_hand, store_level.held, store_level.in_transit) == (0, 0, 2)
    assert (await shop.hold(reservation.hold_id)).state == inv.HOLD_STATE_RELEASED
    reservations_admin = stack.stub("reservations", role="admin")

    async def current() -> pb.Reservation:
        got = await reservations_admin.GetReservation(
            pb.GetReservationRequest(reservation_id=reservation.reservation_id)
        )
        return got.reservation

    assert (await current()).status == pb.RESERVATION_STATUS_AWAITING_TRANSFER
    assert await _violations(stack) == []

    # The store receives both: they are held for her in the same moment, never on sale.
    clerk = stack.stub("inventory", role="pos", locations=[store])
    received = await clerk.ReceiveTransfer(
        inv.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=transfer.transfer_id,
            lines=[inv.TransferArrival(sku=sofa, received=2)],
        )
    )
    arrival_hold = received.transfer.arrival_hold_id
    assert arrival_hold
    store_level = await shop.level(store, sofa)
    assert (store_level.on_hand, store_level.held, store_level.in_transit, store_level.available) == (2, 2, 0, 0)
    with pytest.raises(grpc.aio.AioRpcError) as sold_out:
        await stack.stub("orders", role="storefront").CreateOrder(store_request([(sofa, 1)], store))
    assert sold_out.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    async def ready() -> bool:
        return (await current()).status == pb.RESERVATION_STATUS_READY_FOR_PICKUP

    await wait_until(ready, what="the reservation ready for pickup")
    arrived = await current()
    assert arrived.hold_id == arrival_hold
    assert [(line.sku, line.quantity) for line in arrived.lines] == [(sofa, 2)]

    async def task_ready() -> bool:
        tasks = (await staff.ListTasks(fpb.ListTasksRequest(location_id=store))).tasks
        return any(
            t.reservation_id == reservation.reservation_id and t.status == fpb.TASK_STATUS_READY_FOR_PICKUP
            for t in tasks
        )

    await wait_until(task_ready, what="the store's pickup task, ready")

    # She collects them with her code.
    pos = stack.stub("reservations", role="pos", locations=[store])
    collected = await pos.CollectReservation(
        pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
    )
    assert collected.reservation.status == pb.RESERVATION_STATUS_COLLECTED

    async def handed_over() -> bool:
        tasks = (await staff.ListTasks(fpb.ListTasksRequest(location_id=store))).tasks
        return any(
            t.reservation_id == reservation.reservation_id and t.status == fpb.TASK_STATUS_HANDED_OVER for t in tasks
        )

    await wait_until(handed_over, what="the store's pickup task handed over")

    # Every figure is exact on both sides.
    warehouse_level, store_level = await shop.level(warehouse, sofa), await shop.level(store, sofa)
    assert (warehouse_level.on_hand, warehouse_level.held, warehouse_level.in_transit) == (8, 0, 0)
    assert (store_level.on_hand, store_level.held, store_level.in_transit) == (0, 0, 0)

    async def ledger(location_id: str) -> list[inv.Movement]:
        reply = await admin.ListMovements(inv.ListMovementsRequest(location_id=location_id, sku=sofa))
        return list(reply.movements)

    at_warehouse, at_store = await ledger(warehouse), await ledger(store)
    assert [(m.kind, m.on_hand_delta, m.held_delta) for m in at_warehouse] == [
        (inv.MOVEMENT_KIND_RECEIPT, 10, 0),
        (inv.MOVEMENT_KIND_HOLD, 0, 2),
        (inv.MOVEMENT_KIND_TRANSFER_OUT, -2, -2),
    ]
    assert [(m.kind, m.on_hand_delta, m.held_delta) for m in at_store][-4:] == [
        (inv.MOVEMENT_KIND_TRANSFER_IN_TRANSIT, 0, 0),
        (inv.MOVEMENT_KIND_TRANSFER_IN, 2, 0),
        (inv.MOVEMENT_KIND_HOLD, 0, 2),
        (inv.MOVEMENT_KIND_COMMIT, -2, -2),
    ]
    for movements, level in ((at_warehouse, warehouse_level), (at_store, store_level)):
        assert sum(m.on_hand_delta for m in movements) == level.on_hand
        assert sum(m.held_delta for m in movements) == level.held
    far = await shop.level(far_warehouse, sofa)
    assert (far.on_hand, far.held) == (10, 0)  # the nearer warehouse was chosen, the far one untouched
    assert await _violations(stack) == []
