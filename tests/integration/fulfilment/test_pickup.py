"""Preparing pickups and handing them over, against a stand-in for the reservations service that
records what fulfilment asked of it (the real one is exercised by the end-to-end journeys)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import pytest_asyncio

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.fulfilment.v1 import fulfilment_pb2_grpc
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock.reservations.v1 import reservations_pb2_grpc
from omnistock_fulfilment.entrypoints.main import bootstrap
from omnistock_platform.db import Database
from omnistock_platform.grpc.client import open_channel
from omnistock_platform.grpc.server import ServiceApp
from omnistock_platform.idempotency import Begun, IdempotencyStore
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id

from .support import Events, one_task, payload_task, request_id, reservation_changed


@dataclass
class FakeReservations(reservations_pb2_grpc.ReservationsServiceServicer):
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    # pickup code -> status code to answer with, after recording the call
    failures: dict[str, grpc.StatusCode] = field(default_factory=dict)

    async def MarkReservationReady(
        self, request: rpb.MarkReservationReadyRequest, context: grpc.aio.ServicerContext
    ) -> rpb.MarkReservationReadyResponse:
        self.calls.append(("ready", request.request_id, request.reservation_id))
        return rpb.MarkReservationReadyResponse(
            reservation=rpb.Reservation(
                reservation_id=request.reservation_id, status=rpb.RESERVATION_STATUS_READY_FOR_PICKUP
            )
        )

    async def CollectReservation(
        self, request: rpb.CollectReservationRequest, context: grpc.aio.ServicerContext
    ) -> rpb.CollectReservationResponse:
        self.calls.append(("collect", request.request_id, f"{request.store_id}/{request.pickup_code}"))
        failure = self.failures.pop(request.pickup_code, None)
        if failure is not None:
            await context.abort(failure, "stand-in failure")
        return rpb.CollectReservationResponse(
            reservation=rpb.Reservation(store_id=request.store_id, status=rpb.RESERVATION_STATUS_COLLECTED)
        )


@dataclass
class Desk:
    reservations: FakeReservations
    app: ServiceApp
    stack: Stack

    def stub(self, role: str = "pos", locations: list[str] | None = None) -> Any:
        token = self.stack.token(role, locations=locations)
        channel = open_channel(self.stack.settings, "fulfilment", lambda: token, address=f"127.0.0.1:{self.app.port}")
        self.stack._channels.append(channel)
        return fulfilment_pb2_grpc.FulfilmentServiceStub(channel)


@pytest_asyncio.fixture(scope="module")
async def desk(stack: Stack) -> AsyncIterator[Desk]:
    """A fulfilment process wired to the stand-in reservations service."""
    fake = FakeReservations()  # type: ignore[abstract]  # only the calls fulfilment makes
    server = grpc.aio.server()
    reservations_pb2_grpc.add_ReservationsServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    app = bootstrap(stack.wired_settings(reservations_address=f"127.0.0.1:{port}"))
    await app.start(port=0)
    yield Desk(fake, app, stack)
    await app.stop(1.0)
    await server.stop(None)


async def prepared(events: Events, db: Database, store: str, code: str | None = None) -> tuple[str, str, str]:
    """(task id, reservation id, pickup code) of a new reservation's preparation task."""
    reservation = reservation_changed(store, {"SKU-SOFA": 1}, pickup_code=code)
    await events.reservation("created", reservation)
    row = await one_task(db, reservation_id=reservation.reservation.reservation_id)
    return str(row["task_id"]), reservation.reservation.reservation_id, reservation.reservation.pickup_code


async def test_the_store_prepares_the_pickup_and_hands_it_over_by_code(
    events: Events, db: Database, desk: Desk, tap: EventTap
) -> None:
    store = unique_id("LOC-")
    task_id, reservation_id, code = await prepared(events, db, store)
    clerk = desk.stub("pos", [store])

    ready = (
        await clerk.MarkReadyForPickup(fpb.MarkReadyForPickupRequest(request_id=request_id(), task_id=task_id))
    ).task
    assert ready.status == fpb.TASK_STATUS_READY_FOR_PICKUP
    assert ("ready", f"fulfilment:{task_id}:ready", reservation_id) in desk.reservations.calls
    await tap.wait_for(
        lambda env, p: env.type == "fulfilment.task.ready_for_pickup" and payload_task(p).task_id == task_id
    )

    # The customer reads the code aloud; the clerk types it in lower case.
    hand_over = fpb.HandOverRequest(request_id=request_id(), location_id=store, pickup_code=code.lower())
    handed = (await clerk.HandOver(hand_over)).task
    assert (handed.task_id, handed.status) == (task_id, fpb.TASK_STATUS_HANDED_OVER)
    assert ("collect", f"fulfilment:{task_id}:collect", f"{store}/{code}") in desk.reservations.calls
    await tap.wait_for(lambda env, p: env.type == "fulfilment.task.handed_over" and payload_task(p).task_id == task_id)

    # Retried by the till: the same answer, and reservations is not asked again.
    collects = len([call for call in desk.reservations.calls if call[0] == "collect"])
    assert (await clerk.HandOver(hand_over)).task == handed
    assert len([call for call in desk.reservations.calls if call[0] == "collect"]) == collects
    # A second customer with the same code finds nothing to collect.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clerk.HandOver(fpb.HandOverRequest(request_id=request_id(), location_id=store, pickup_code=code))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    # It read "pickup 'STORE/CODE' not found".
    assert refused.value.details() == f"pickup code {code!r} not found at {store}"


async def test_a_hand_over_whose_answer_was_lost_is_completed_by_the_retry_with_the_same_remote_request(
    events: Events, db: Database, desk: Desk
) -> None:
    store = unique_id("LOC-")
    task_id, _, code = await prepared(events, db, store)
    desk.reservations.failures[code] = grpc.StatusCode.INTERNAL  # it collected, but the answer was lost
    hand_over = fpb.HandOverRequest(request_id=request_id(), location_id=store, pickup_code=code)

    # Fulfilment answers UNAVAILABLE with the task untouched; the till's channel retries that by itself.
    handed = (await desk.stub("pos", [store]).HandOver(hand_over)).task
    assert handed.status == fpb.TASK_STATUS_HANDED_OVER
    collects = [call for call in desk.reservations.calls if call[2] == f"{store}/{code}"]
    assert [call[1] for call in collects] == [f"fulfilment:{task_id}:collect"] * 2
    rows = await db.fetch("SELECT envelope FROM fulfilment.outbox WHERE subject LIKE '%.task.handed_over'")
    assert sum(task_id in bytes(row["envelope"]).decode("latin-1") for row in rows) == 1


async def test_a_hand_over_cut_short_by_a_crash_is_answered_on_retry_not_refused(
    events: Events, db: Database, desk: Desk
) -> None:
    """Reservations collected, then fulfilment died before writing the hand-over down; the
    reservation's `collected` event has since closed the task. The desk's retry (same request id)
    is told it handed over; another request for the same code still finds nothing."""
    store = unique_id("LOC-")
    task_id, reservation_id, code = await prepared(events, db, store)
    clerk = desk.stub("pos", [store])
    hand_over = fpb.HandOverRequest(request_id=request_id(), location_id=store, pickup_code=code)
    with desk.stack.acting_as("pos", locations=[store]):  # the clerk's first attempt
        assert await IdempotencyStore("fulfilment").begin(db, hand_over.request_id, "HandOver", hand_over) == Begun()
    collected = reservation_changed(store, {"SKU-SOFA": 1}, reservation_id=reservation_id, pickup_code=code)
    collected.reservation.status = rpb.RESERVATION_STATUS_COLLECTED
    await events.handled("fulfilment-reservations", await events.reservation("collected", collected))
    assert (await one_task(db, task_id=task_id))["status"] == "handed_over"

    handed = (await clerk.HandOver(hand_over)).task
    assert (handed.task_id, handed.status) == (task_id, fpb.TASK_STATUS_HANDED_OVER)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clerk.HandOver(fpb.HandOverRequest(request_id=request_id(), location_id=store, pickup_code=code))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_refused_collection_leaves_the_task_waiting(events: Events, db: Database, desk: Desk) -> None:
    store = unique_id("LOC-")
    task_id, _, code = await prepared(events, db, store)
    desk.reservations.failures[code] = grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await desk.stub("pos", [store]).HandOver(
            fpb.HandOverRequest(request_id=request_id(), location_id=store, pickup_code=code)
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await one_task(db, task_id=task_id))["status"] == "open"


async def test_a_clerk_can_not_see_or_hand_over_another_stores_pickups(
    events: Events, db: Database, desk: Desk
) -> None:
    mine, theirs = unique_id("LOC-"), unique_id("LOC-")
    task_id, _, code = await prepared(events, db, theirs)
    clerk = desk.stub("pos", [mine])
    calls = len(desk.reservations.calls)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clerk.HandOver(fpb.HandOverRequest(request_id=request_id(), location_id=theirs, pickup_code=code))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Naming their own store does not reach the other store's pickup either.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clerk.HandOver(fpb.HandOverRequest(request_id=request_id(), location_id=mine, pickup_code=code))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clerk.MarkReadyForPickup(fpb.MarkReadyForPickupRequest(request_id=request_id(), task_id=task_id))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await desk.stub("chat_agent").HandOver(
            fpb.HandOverRequest(request_id=request_id(), location_id=theirs, pickup_code=code)
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(desk.reservations.calls) == calls
    assert (await one_task(db, task_id=task_id))["status"] == "open"


async def test_a_preparation_can_not_be_shipped_nor_a_pick_handed_over(
    events: Events, db: Database, desk: Desk
) -> None:
    store = unique_id("LOC-")
    task_id, _, _ = await prepared(events, db, store)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await desk.stub("admin").ConfirmPick(fpb.ConfirmPickRequest(request_id=request_id(), task_id=task_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
