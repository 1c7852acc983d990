"""Crash in the middle: the reservations process is SIGKILLed while reservations stream in.

Every reservation acknowledged to its caller survives, ACTIVE with its hold; after recovery
nothing is PENDING, every active hold of a reservation belongs to an active reservation, and
the store's held units are exactly the active reservations' units."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import grpc
import pytest

from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2_grpc
from omnistock_platform.db import Database
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.reservations.support import World, create_request

WORKERS = 12
ACKNOWLEDGED_BEFORE_KILL = 40
RECOVERY_INTERVAL = "0.3"
PENDING_GRACE = "1"


def reservations_at(stack: Stack, process: ServiceProcess) -> reservations_pb2_grpc.ReservationsServiceStub:
    channel = stack.channel("reservations", token=stack.token("chat_agent"), address=process.address)
    return reservations_pb2_grpc.ReservationsServiceStub(channel)


async def orphan_holds(db: Database, store: str) -> list[str]:
    """Active holds of reservations at the store without an active reservation holding them."""
    rows = await db.fetch(
        "SELECT h.hold_id FROM inventory.holds h JOIN inventory.hold_lines l USING (hold_id)"
        " LEFT JOIN reservations.reservations r ON r.hold_id = h.hold_id"
        "   AND h.owner = 'reservation:' || r.reservation_id AND r.status IN ('active', 'ready_for_pickup')"
        " WHERE l.location_id = $1 AND h.state = 'active' AND h.owner LIKE 'reservation:%'"
        " AND r.reservation_id IS NULL",
        store,
    )
    return [row["hold_id"] for row in rows]


async def test_sigkill_mid_stream_loses_nothing_acknowledged_and_leaves_nothing_half_done(
    world: World, stack: Stack, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1000)
    monkeypatch.setenv("OMNISTOCK_RESERVATION_RECOVERY_INTERVAL", RECOVERY_INTERVAL)
    monkeypatch.setenv("OMNISTOCK_RESERVATION_PENDING_GRACE", PENDING_GRACE)
    inventory_address = {"inventory": stack.addresses["inventory"]}
    log = tmp_path / "reservations.log"
    first = await ServiceProcess(stack.settings, "reservations", addresses=inventory_address, log_file=log).start()
    second: ServiceProcess | None = None
    try:
        client = reservations_at(stack, first)
        sent: list[pb.CreateReservationRequest] = []
        acknowledged: dict[str, pb.Reservation] = {}
        enough = asyncio.Event()
        killed = asyncio.Event()

        async def stream() -> None:
            while not killed.is_set():
                request = create_request(store, [(sku, 1)], customer_id=unique_id("CUST-"))
                sent.append(request)
                try:
                    response = await client.CreateReservation(request, timeout=5.0)
                except grpc.aio.AioRpcError:
                    continue  # the process is gone; this one may or may not have been written
                acknowledged[request.request_id] = response.reservation
                if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                    enough.set()

        workers = [asyncio.create_task(stream()) for _ in range(WORKERS)]
        await asyncio.wait_for(enough.wait(), 30)
        first.kill()
        killed.set()
        await asyncio.wait_for(asyncio.gather(*workers), 30)
        in_flight = len(sent) - len(acknowledged)
        assert in_flight > 0, "the kill should land while calls are in flight"
        left_pending = await db.fetchval(
            "SELECT count(*) FROM reservations.reservations WHERE store_id = $1 AND status = 'pending'", store
        )

        print(f"sent={len(sent)} acknowledged={len(acknowledged)} pending_after_kill={left_pending}")
        second = await ServiceProcess(stack.settings, "reservations", addresses=inventory_address, log_file=log).start()
        client = reservations_at(stack, second)

        for request_id, reservation in acknowledged.items():
            now = await client.GetReservation(pb.GetReservationRequest(reservation_id=reservation.reservation_id))
            assert now.reservation.status == pb.RESERVATION_STATUS_ACTIVE, request_id
            hold = await world.hold(reservation.hold_id)
            assert hold.owner == f"reservation:{reservation.reservation_id}"
            assert hold.lines[0].open == 1

        async def settled() -> bool:
            pending = await db.fetchval(
                "SELECT count(*) FROM reservations.reservations WHERE store_id = $1 AND status = 'pending'", store
            )
            return pending == 0 and not await orphan_holds(db, store)

        await eventually(settled, timeout=15, what=f"recovery of {left_pending} pending reservations")
        active = await db.fetchval(
            "SELECT count(*) FROM reservations.reservations WHERE store_id = $1 AND status = 'active'", store
        )
        assert (await world.level(store, sku)).held == active

        # The callers that got no answer retry with the same request id: each gets its one reservation.
        for request in sent:
            if request.request_id not in acknowledged:
                retried = (await client.CreateReservation(request, timeout=10.0)).reservation
                assert retried.status == pb.RESERVATION_STATUS_ACTIVE
        count = await db.fetchval("SELECT count(*) FROM reservations.reservations WHERE store_id = $1", store)
        assert count == len(sent)
        assert (await world.level(store, sku)).held == len(sent)
        assert not await orphan_holds(db, store)
    finally:
        first.kill()
        if second is not None:
            second.terminate()
        with contextlib.suppress(Exception):
            print(log.read_text()[-4000:])
