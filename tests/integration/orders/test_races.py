"""Two changes of the same reservation's hold from two sides at once: a channel converting it into
an order while another cancels or collects it. Whichever reaches inventory first wins; the other is
refused and changes nothing (least of all the hold the order now owns)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import unique_id
from omnistock_reservations.domain.holds import derived_request_id
from tests.integration.orders.support import BERLIN, Shop
from tests.integration.orders.test_edits import system_violations
from tests.integration.reservations.support import create_request


@asynccontextmanager
async def delayed_in_inventory(db: Database, request_id: str) -> AsyncIterator[Any]:
    """Inventory's claim of `request_id` waits (on the idempotency row this transaction writes and
    never commits) until the block ends: a call that is slower to reach inventory than another.
    Yields a function that returns once a call is waiting."""
    async with db.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(
            "INSERT INTO inventory.idempotency (request_id, method, fingerprint) VALUES ($1, 'paused', '')",
            request_id,
        )
        xid = await conn.fetchval("SELECT txid_current()::text")

        async def waiting(timeout: float = 10.0) -> None:
            deadline = asyncio.get_running_loop().time() + timeout
            query = (
                "SELECT EXISTS (SELECT 1 FROM pg_locks"
                " WHERE locktype = 'transactionid' AND transactionid::text = $1 AND NOT granted)"
            )
            while not await db.fetchval(query, xid):
                assert asyncio.get_running_loop().time() < deadline, f"nothing waited for {request_id}"
                await asyncio.sleep(0.02)

        try:
            yield waiting
        finally:
            await transaction.rollback()


async def reserved_sofa(shop: Shop) -> tuple[str, str, rpb.Reservation]:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    chat = shop.stack.stub("reservations", role="chat_agent")
    reservation = (await chat.CreateReservation(create_request(store, [(sofa, 1)]))).reservation
    assert reservation.status == rpb.RESERVATION_STATUS_ACTIVE
    return store, sofa, reservation


def order_from(reservation: rpb.Reservation) -> pb.CreateOrderRequest:
    return pb.CreateOrderRequest(
        request_id=unique_id(),
        channel=common_pb2.CHANNEL_CHAT,
        customer_id=reservation.customer.customer_id,
        method=common_pb2.FULFILMENT_METHOD_PICKUP,
        reservation_id=reservation.reservation_id,
    )


@pytest.mark.parametrize("step", ["cancel", "collect"])
async def test_a_reservation_converted_while_another_change_was_on_its_way_keeps_the_orders_hold(
    shop: Shop, db: Database, step: str
) -> None:
    store, sofa, reservation = await reserved_sofa(shop)
    staff = shop.stack.stub("reservations", role="pos", locations=[store])
    if step == "cancel":
        action = "release"
        change = staff.CancelReservation(
            rpb.CancelReservationRequest(
                request_id=unique_id(), reservation_id=reservation.reservation_id, reason="changed her mind"
            )
        )
    else:
        action = "commit"
        change = staff.CollectReservation(
            rpb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
        )
    # The change has read the reservation and is on its way to inventory when the order takes it over.
    async with delayed_in_inventory(db, derived_request_id(reservation.reservation_id, action)) as waiting:
        late = asyncio.ensure_future(change)
        await waiting()
        order = (await shop.orders.CreateOrder(order_from(reservation))).order
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await late
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value

    # As if the change had come after the order: refused, and the order's hold is as the order took it.
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    (allocation,) = order.allocations
    hold = await shop.hold(allocation.hold_id)
    assert (hold.state, hold.owner) == (inv.HOLD_STATE_ACTIVE, f"order:{order.order_id}"), hold
    assert [(line.sku, line.open) for line in hold.lines] == [(sofa, 1)]
    level = await shop.level(store, sofa)
    assert (level.on_hand, level.held) == (1, 1)
    assert (await shop.order(order.order_id)).status == pb.ORDER_STATUS_ALLOCATED
    admin = shop.stack.stub("reservations", role="admin")
    request = rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    found = (await admin.GetReservation(request)).reservation
    assert (found.status, found.order_id) == (rpb.RESERVATION_STATUS_CONVERTED, order.order_id)
    assert await system_violations(shop, db, order.order_id, reservation.reservation_id, hold.hold_id) == []
