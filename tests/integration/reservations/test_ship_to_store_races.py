"""Ship to store under concurrency: the warehouse ships, the store receives, customers and staff
cancel, all at once (the one-at-a-time steps are in test_ship_to_store.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.test_edits import system_violations
from tests.integration.reservations.test_ship_to_store import Route


async def test_shipping_receiving_and_cancelling_at_once_lose_and_keep_nothing_twice(stack: Stack, db) -> None:
    """For several reservations served by a transfer: the warehouse ships while the customer cancels
    and staff cancel the transfer, then the store receives while the customer cancels. Whatever wins
    each race, every unit is on a shelf once, held only for a reservation still waiting for it, and
    every cross-service check holds."""
    route = await Route(stack).build(stock=8)
    reservations = [await route.reserve(2) for _ in range(4)]
    picker = stack.stub("inventory", role="warehouse", locations=[route.warehouse])

    async def outcome(call: Any) -> str:
        try:
            await call
            return "ok"
        except grpc.aio.AioRpcError as error:
            assert error.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED), error
            return error.code().name

    def cancel(reservation: pb.Reservation) -> Any:
        return route.chat.CancelReservation(
            pb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
        )

    # Customers 0 and 1 cancel while the warehouse ships (1 also while staff cancel the transfer).
    await asyncio.gather(
        *(outcome(route.ship(r.transfer_id)) for r in reservations),
        outcome(cancel(reservations[0])),
        outcome(cancel(reservations[1])),
        outcome(
            picker.CancelTransfer(
                inv.CancelTransferRequest(
                    request_id=unique_id(), transfer_id=reservations[1].transfer_id, reason="van broke down"
                )
            )
        ),
    )
    shipped = [r for r in reservations if (await route.transfer(r.transfer_id)).status == inv.TRANSFER_STATUS_SHIPPED]
    # Customers 2 (and 0 or 1 again, if theirs shipped) cancel while the store receives.
    await asyncio.gather(
        *(outcome(route.receive(r.transfer_id, received=2)) for r in shipped),
        *(outcome(cancel(r)) for r in shipped if r in reservations[:3]),
    )
    statuses = {}
    for reservation in reservations:
        found = await route.get(reservation.reservation_id)
        statuses[reservation.reservation_id] = found.status
        if reservation not in shipped:
            assert found.status == pb.RESERVATION_STATUS_CANCELLED, found
    assert reservations[3] in shipped  # nobody cancelled it: it ships, arrives and waits for her
    await route.becomes(reservations[3].reservation_id, pb.RESERVATION_STATUS_READY_FOR_PICKUP)
    assert (
        await system_violations(
            route.shop,
            db,
            *(r.reservation_id for r in reservations),
            *(r.transfer_id for r in reservations),
            timeout=15,
        )
        == []
    )
    ready = [
        r for r in reservations if (await route.get(r.reservation_id)).status == pb.RESERVATION_STATUS_READY_FOR_PICKUP
    ]
    store, warehouse = await route.figures(route.store), await route.figures(route.warehouse)
    assert store[0] + warehouse[0] == 8 and store[2] == warehouse[2] == 0, (store, warehouse)
    assert (store[1], warehouse[1]) == (2 * len(ready), 0), (store, warehouse, statuses)
