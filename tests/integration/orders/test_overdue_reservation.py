"""An order from a reservation whose hold has run out, before inventory's sweeper has noticed (it was
behind, or inventory had just started again): the reservation has expired, its units are not the
order's to take over."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.db import Database
from tests.integration.orders.support import Shop
from tests.integration.orders.test_edits import system_violations
from tests.integration.orders.test_races import order_from, reserved_sofa


async def test_an_order_from_a_reservation_whose_hold_ran_out_is_refused_and_the_unit_goes_back(
    shop: Shop, db: Database
) -> None:
    store, sofa, reservation = await reserved_sofa(shop)
    async with db.pool.acquire() as conn:
        # The hold ran out an hour ago; nobody has expired it yet. The row stays locked until the
        # order's takeover waits for it, so the sweeper cannot come first.
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(
            "UPDATE inventory.holds SET expires_at = now() - interval '1 hour' WHERE hold_id = $1",
            reservation.hold_id,
        )
        xid = await conn.fetchval("SELECT txid_current()::text")
        ordering = asyncio.ensure_future(shop.orders.CreateOrder(order_from(reservation)))
        deadline = asyncio.get_running_loop().time() + 10
        while not await db.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND transactionid::text = $1"
            " AND NOT granted",
            xid,
        ):
            assert asyncio.get_running_loop().time() < deadline, "the order never reached the hold"
            await asyncio.sleep(0.02)
        await transaction.commit()

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await ordering
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value.details()
    assert "expired" in (refused.value.details() or ""), refused.value.details()
    admin = shop.stack.stub("reservations", role="admin")
    found = (
        await admin.GetReservation(rpb.GetReservationRequest(reservation_id=reservation.reservation_id))
    ).reservation
    assert found.status == rpb.RESERVATION_STATUS_EXPIRED
    level = await shop.level(store, sofa)
    assert (level.on_hand, level.held) == (1, 0)  # on sale again
    assert await system_violations(shop, db, reservation.reservation_id, reservation.hold_id) == []
