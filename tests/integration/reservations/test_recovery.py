"""Recovery and reconciliation, step by step: the states a crash can leave behind, each put in
place by hand, then one recovery pass."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf.duration_pb2 import Duration

from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.inventory.v1.inventory_pb2_grpc import InventoryServiceStub
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform import deadlines
from omnistock_platform.db import Database
from omnistock_platform.errors import Unavailable
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.client import service_channel
from omnistock_platform.idempotency import Begun, IdempotencyStore
from omnistock_platform.resuming import Resumer
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_reservations.adapters import repository
from omnistock_reservations.adapters.inventory_client import InventoryClient
from omnistock_reservations.domain.holds import derived_request_id
from omnistock_reservations.domain.pickup_code import new_pickup_code
from omnistock_reservations.domain.reservation import Customer, Line, Reservation
from omnistock_reservations.domain.status import Status
from omnistock_reservations.entrypoints.main import begun_changes
from omnistock_reservations.service_layer.creating import Creating
from omnistock_reservations.service_layer.lifecycle import Lifecycle
from omnistock_reservations.service_layer.recovery import Recovery
from omnistock_reservations.service_layer.syncing import HoldSync
from omnistock_reservations.service_layer.unit import Deps
from omnistock_reservations.settings import ReservationsSettings
from tests.integration.orders.support import Crash, Shop
from tests.integration.orders.test_cut_short import CrashingInventory
from tests.integration.reservations.support import World


@dataclass
class Parts:
    deps: Deps
    recovery: Recovery


@pytest_asyncio.fixture
async def parts(stack: Stack, db: Database) -> AsyncIterator[Parts]:
    """The service's own parts, wired to the running inventory, with no grace: whatever is pending is stale."""
    settings = stack.wired_settings(reservation_pending_grace=timedelta(0))
    channel = stack.channel("inventory", token=stack.token("service"))
    deps = Deps(
        db, Outbox(settings, "reservations"), IdempotencyStore("reservations"), InventoryClient(channel), settings
    )
    sync = HoldSync(deps)
    yield Parts(deps, Recovery(deps, Creating(deps), sync, verify_every=timedelta(0), batch=10_000))


async def pending(
    db: Database, store: str, sku: str, quantity: int = 1, hold_for: timedelta = timedelta(hours=1)
) -> Reservation:
    """What a crash right after step 1 of a create leaves: a PENDING reservation."""
    found = Reservation(
        reservation_id=str(uuid.uuid4()),
        request_id=unique_id(),
        channel="app",
        customer=Customer(unique_id("CUST-")),
        store_id=store,
        lines=[Line(sku, quantity)],
        pickup_code=new_pickup_code(),
        hold_for=hold_for,
    )
    async with db.transaction() as conn:
        written = (await repository.write_pending(conn, found, b"crashed", max_open=1_000)).reservation
    assert written is not None
    return written


async def test_pending_reservations_are_finished_or_undone(
    world: World, parts: Parts, db: Database, tap: EventTap
) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 2)
    held_before_crash = await pending(db, store, sku)
    hold = await parts.deps.inventory.hold(held_before_crash)  # the crash came after inventory's answer
    never_held = await pending(db, store, sku)
    too_many = await pending(db, store, sku, quantity=5)

    await parts.recovery.run_once()

    first = await world.get(held_before_crash.reservation_id)
    assert (first.status, first.hold_id) == (pb.RESERVATION_STATUS_ACTIVE, hold.hold_id)  # the same hold, not a second
    second = await world.get(never_held.reservation_id)
    assert second.status == pb.RESERVATION_STATUS_ACTIVE
    assert (await world.hold(second.hold_id)).owner == f"reservation:{never_held.reservation_id}"
    assert (await world.get(too_many.reservation_id)).status == pb.RESERVATION_STATUS_FAILED
    level = await world.level(store, sku)
    assert (level.held, level.available) == (2, 0)
    for reservation_id in (first.reservation_id, second.reservation_id):
        await tap.wait_for(
            lambda envelope, payload, wanted=reservation_id: (
                envelope.type == "reservations.reservation.created" and payload.reservation.reservation_id == wanted
            )
        )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM reservations.reservations WHERE store_id = $1 AND status = 'pending'", store
        )
        == 0
    )


async def test_reservations_follow_what_became_of_their_holds(world: World, parts: Parts, tap: EventTap) -> None:
    """Each change reached inventory, and the crash came before reservations wrote it down."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 4)
    released, committed, transferred, extended = [await world.reserve(store, [(sku, 1)]) for _ in range(4)]
    order_id = unique_id("ORDER-")
    later = extended.expires_at.ToDatetime() + timedelta(hours=5)
    admin = world.inventory
    await admin.ReleaseHold(inv.ReleaseHoldRequest(request_id=unique_id(), hold_id=released.hold_id))
    await admin.CommitHold(inv.CommitHoldRequest(request_id=unique_id(), hold_id=committed.hold_id))
    await admin.TransferHold(
        inv.TransferHoldRequest(
            request_id=unique_id(),
            hold_id=transferred.hold_id,
            expected_owner=f"reservation:{transferred.reservation_id}",
            new_owner=f"order:{order_id}",
        )
    )
    new_expiry = inv.ExtendHoldRequest(request_id=unique_id(), hold_id=extended.hold_id)
    new_expiry.expires_at.FromDatetime(later)
    await admin.ExtendHold(new_expiry)

    await parts.recovery.run_once()

    assert (await world.get(released.reservation_id)).status == pb.RESERVATION_STATUS_CANCELLED
    assert (await world.get(committed.reservation_id)).status == pb.RESERVATION_STATUS_COLLECTED
    converted = await world.get(transferred.reservation_id)
    assert (converted.status, converted.order_id) == (pb.RESERVATION_STATUS_CONVERTED, order_id)
    still = await world.get(extended.reservation_id)
    assert still.status == pb.RESERVATION_STATUS_ACTIVE
    assert still.expires_at.ToDatetime() == later
    for kind, reservation in (
        ("cancelled", released),
        ("collected", committed),
        ("converted", transferred),
        ("extended", extended),
    ):
        await tap.wait_for(
            lambda envelope, payload, kind=kind, wanted=reservation.reservation_id: (
                envelope.type == f"reservations.reservation.{kind}" and payload.reservation.reservation_id == wanted
            )
        )

    closed = (await world.get(released.reservation_id)).closed_at
    again = await parts.recovery.run_once()  # a second pass changes nothing more
    assert again.failed == 0
    assert (await world.get(released.reservation_id)).closed_at == closed
    assert (await world.get(extended.reservation_id)).expires_at == still.expires_at


async def test_a_hold_taken_for_a_reservation_closed_meanwhile_is_given_back(
    world: World, parts: Parts, db: Database
) -> None:
    """One attempt was refused and closed the reservation; a concurrent one got the hold after all."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    refused_meanwhile = await pending(db, store, sku)
    await db.execute(
        "UPDATE reservations.reservations SET status = 'failed', closed_at = now() WHERE reservation_id = $1",
        refused_meanwhile.reservation_id,
    )

    settled = await Creating(parts.deps).take_hold(refused_meanwhile)

    assert settled.status is Status.FAILED
    hold_id = await db.fetchval(
        "SELECT hold_id FROM inventory.holds WHERE owner = $1", f"reservation:{refused_meanwhile.reservation_id}"
    )
    assert (await world.hold(hold_id)).state == inv.HOLD_STATE_RELEASED
    level = await world.level(store, sku)
    assert (level.held, level.available) == (0, 1)


async def test_a_pending_reservation_whose_hold_ran_out_expires_and_takes_nothing_again(
    world: World, parts: Parts, db: Database, tap: EventTap
) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    stranded = await pending(db, store, sku, hold_for=timedelta(seconds=1))
    hold = await parts.deps.inventory.hold(stranded)

    await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "reservations.reservation.expired"
            and payload.reservation.reservation_id == stranded.reservation_id
        ),
        timeout=15,
    )
    await parts.recovery.run_once()

    expired = await world.get(stranded.reservation_id)
    assert (expired.status, expired.hold_id) == (pb.RESERVATION_STATUS_EXPIRED, hold.hold_id)
    level = await world.level(store, sku)
    assert (level.held, level.available) == (0, 1)


async def test_a_collection_cut_short_by_a_crash_is_answered_on_retry_not_refused(
    world: World, parts: Parts, db: Database
) -> None:
    """The till's Collect committed the hold, then reservations died before writing it down, and
    reconciliation has since marked the reservation collected. The till's retry (same request id)
    is told it collected; another request for the same code is told it was collected already."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 2)
    reservation = await world.reserve(store, [(sku, 2)])
    till = world.as_role("pos", [store])
    collect = pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
    # What the first attempt got done: it began, and inventory committed the hold.
    with world.stack.acting_as("pos", locations=[store]):  # the till's first attempt
        assert await parts.deps.idempotency.begin(db, collect.request_id, "CollectReservation", collect) == Begun()
    await parts.deps.inventory.commit(
        derived_request_id(reservation.reservation_id, "commit"),
        reservation.hold_id,
        owner=f"reservation:{reservation.reservation_id}",
    )
    await parts.recovery.run_once()
    assert (await world.get(reservation.reservation_id)).status == pb.RESERVATION_STATUS_COLLECTED

    answered = (await till.CollectReservation(collect)).reservation
    assert (answered.reservation_id, answered.status) == (
        reservation.reservation_id,
        pb.RESERVATION_STATUS_COLLECTED,
    )
    assert (await till.CollectReservation(collect)).reservation == answered
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await till.CollectReservation(
            pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "collected" in (refused.value.details() or "")
    level = await world.level(store, sku)
    assert (level.on_hand, level.held) == (0, 0)


async def test_ship_to_store_cut_short_by_a_crash_is_finished_with_one_transfer_each(
    stack: Stack, world: World, parts: Parts, db: Database
) -> None:
    """Crashes at each step of a ship-to-store create: right after it was written, after the origin was
    chosen, and after inventory made the transfer. One recovery pass finishes all three, each with one
    transfer and its units held once at the warehouse."""
    store, sku = await world.store(), await world.sku()
    warehouse = await Shop(stack, world.inventory, None).location((52.53, 13.2), warehouse=True)
    await world.receive(warehouse, sku, 3)

    async def written(origin: str = "") -> Reservation:
        found = Reservation(
            reservation_id=str(uuid.uuid4()),
            request_id=unique_id(),
            channel="chat",
            customer=Customer(unique_id("CUST-")),
            store_id=store,
            lines=[Line(sku, 1)],
            pickup_code=new_pickup_code(),
            hold_for=timedelta(days=1),
            allow_ship_to_store=True,
        )
        async with db.transaction() as conn:
            saved = (await repository.write_pending(conn, found, b"crashed", max_open=1_000)).reservation
            assert saved is not None
            if origin:
                saved.transfer_origin_id = origin
                saved = await repository.save(conn, saved)
        return saved

    just_written = await written()
    origin_chosen = await written(warehouse)
    transfer_made = await written(warehouse)
    made = await parts.deps.inventory.ship_to_store(transfer_made)  # the crash came after inventory's answer

    await parts.recovery.run_once()

    found = [await world.get(r.reservation_id) for r in (just_written, origin_chosen, transfer_made)]
    assert [r.status for r in found] == [pb.RESERVATION_STATUS_AWAITING_TRANSFER] * 3
    assert found[2].transfer_id == made.transfer_id and found[2].hold_id == made.origin_hold_id
    assert all(r.transfer_origin_id == warehouse for r in found)
    level = await world.level(warehouse, sku)
    assert (level.on_hand, level.held) == (3, 3)
    listed = await world.inventory.ListTransfers(inv.ListTransfersRequest(location_id=warehouse))
    assert sorted(t.transfer_id for t in listed.transfers) == sorted(r.transfer_id for r in found)


async def test_a_hold_read_before_an_extension_does_not_take_the_reservations_expiry_back(
    world: World, parts: Parts
) -> None:
    """Reconciliation read the hold, the customer extended the reservation, then reconciliation
    applied what it had read: the reservation keeps the extension its customer was told of, as its
    hold does, instead of announcing the old expiry as a new one."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])
    read_before = await parts.deps.inventory.get_hold(reservation.hold_id)
    extended = await world.extend(reservation.reservation_id, timedelta(hours=2))
    async with parts.deps.db.transaction() as conn:
        await HoldSync(parts.deps).apply(conn, reservation.reservation_id, read_before)

    found = await world.get(reservation.reservation_id)
    assert found.expires_at == extended.expires_at
    assert (await world.hold(reservation.hold_id)).expires_at == extended.expires_at


async def test_a_cancellation_cut_short_before_an_upgrade_is_answered_on_retry_after_it(
    world: World, stack: Stack
) -> None:
    """A cancellation's first try had inventory release the hold, asking in the words an older
    version used (the caller's reason in the release, no owner named), and reservations died before
    writing it down. After the upgrade the caller retries: inventory refuses the release, the same
    request id now asking in other words, and the retry must still be answered cancelled, for the
    caller's reason, as the first try would have been."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 2)
    reservation = await world.reserve(store, [(sku, 2)])
    cancel = pb.CancelReservationRequest(
        request_id=unique_id(), reservation_id=reservation.reservation_id, reason="changed my mind"
    )
    inventory = InventoryServiceStub(service_channel(stack.wired_settings(), "reservations", "inventory"))
    await inventory.ReleaseHold(
        inv.ReleaseHoldRequest(
            request_id=derived_request_id(reservation.reservation_id, "release"),
            hold_id=reservation.hold_id,
            reason="reservation cancelled: changed my mind",
        )
    )

    chat = world.as_role("chat_agent")
    answered = (await chat.CancelReservation(cancel)).reservation
    assert (answered.status, answered.cancel_reason) == (pb.RESERVATION_STATUS_CANCELLED, "changed my mind")
    assert (await chat.CancelReservation(cancel)).reservation == answered
    assert (await world.get(reservation.reservation_id)) == answered
    assert (await world.level(store, sku)).held == 0


async def extension_cut_short(world: World, parts: Parts, reservation: pb.Reservation, by: timedelta) -> str:
    """An ExtendReservation whose first try had inventory extend the hold, then reservations died
    before writing it down; returns the request id its caller retries with."""
    request = pb.ExtendReservationRequest(
        request_id=unique_id(),
        reservation_id=reservation.reservation_id,
        extend_by=Duration(seconds=int(by.total_seconds())),
    )
    dying = dataclasses.replace(
        parts.deps,
        # Inventory as the service itself calls it: its requests ids are the service's.
        inventory=CrashingInventory(
            InventoryClient(service_channel(world.stack.wired_settings(), "reservations", "inventory")),
            "extend",
            after=True,
        ),
        settings=ReservationsSettings.of(parts.deps.settings),
    )
    with world.stack.acting_as("chat_agent"), pytest.raises(Crash):
        await Lifecycle(dying, HoldSync(parts.deps)).extend(request)
    return request.request_id


def extend_again(reservation: pb.Reservation, request_id: str, by: timedelta) -> pb.ExtendReservationRequest:
    return pb.ExtendReservationRequest(
        request_id=request_id,
        reservation_id=reservation.reservation_id,
        extend_by=Duration(seconds=int(by.total_seconds())),
    )


async def test_an_extension_cut_short_is_answered_on_retry_after_another_extension(world: World, parts: Parts) -> None:
    """Inventory extended the hold by an hour and reservations died before writing it; another
    extension (its own request id) then moved the reservation's expiry. The first caller's retry is
    answered as its first try would have been, not refused as a reused request id."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])
    asked = reservation.expires_at.ToDatetime() + timedelta(hours=1)
    request_id = await extension_cut_short(world, parts, reservation, timedelta(hours=1))
    other = await world.extend(reservation.reservation_id, timedelta(minutes=30))
    assert other.expires_at.ToDatetime() == asked  # the hold runs until the first extension's time already

    retried = extend_again(reservation, request_id, timedelta(hours=1))
    answered = (await world.reservations.ExtendReservation(retried)).reservation
    assert (answered.status, answered.expires_at.ToDatetime()) == (pb.RESERVATION_STATUS_ACTIVE, asked)
    assert (await world.reservations.ExtendReservation(retried)).reservation == answered
    assert (await world.hold(reservation.hold_id)).expires_at == answered.expires_at


async def test_an_extension_cut_short_and_recovered_is_not_extended_twice_on_retry(world: World, parts: Parts) -> None:
    """The recovery loop brought the reservation in line with its hold (extended by the first try)
    before the caller retried: the retry answers the hour it asked for, not a second hour on top."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])
    asked = reservation.expires_at.ToDatetime() + timedelta(hours=1)
    request_id = await extension_cut_short(world, parts, reservation, timedelta(hours=1))
    await parts.recovery.run_once()
    assert (await world.get(reservation.reservation_id)).expires_at.ToDatetime() == asked

    answered = (
        await world.reservations.ExtendReservation(extend_again(reservation, request_id, timedelta(hours=1)))
    ).reservation
    assert (answered.status, answered.expires_at.ToDatetime()) == (pb.RESERVATION_STATUS_ACTIVE, asked)
    assert (await world.hold(reservation.hold_id)).expires_at == answered.expires_at


class ActedThenFailed:
    """Inventory as the service calls it: inventory does `method`, and then the caller meets `failure`."""

    def __init__(self, inventory: InventoryClient, method: str) -> None:
        self._inventory = inventory
        self._method = method

    def failure(self, name: str) -> BaseException:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._inventory, name)
        if name != self._method:
            return call

        async def acted_then_failed(*args: Any, **kwargs: Any) -> Any:
            await call(*args, **kwargs)
            raise self.failure(name)

        return acted_then_failed


class AnswerLost(ActedThenFailed):
    """Inventory's answer is lost on the way back: the caller sees it as not answering (its deadline
    ran out, the connection broke)."""

    def failure(self, name: str) -> BaseException:
        return Unavailable(f"inventory did not answer {name}: DEADLINE_EXCEEDED")


async def test_a_cancellation_whose_answer_was_lost_is_finished_by_the_service_as_its_caller_asked(
    world: World, parts: Parts
) -> None:
    """Inventory released the hold and its answer never came back (the connection broke on the
    way): the cancellation failed with the hold released and the reservation still active, and its
    caller may never ask again. The service finishes it, for the customer's reason, within the
    Resumer's delay, not at the comparison due every ten minutes."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])
    # Inventory as the service itself calls it, before and after: the request ids are the service's.
    inventory = InventoryClient(service_channel(world.stack.wired_settings(), "reservations", "inventory"))
    losing = dataclasses.replace(
        parts.deps, inventory=AnswerLost(inventory, "release"), settings=ReservationsSettings.of(parts.deps.settings)
    )
    request = pb.CancelReservationRequest(
        request_id=unique_id(), reservation_id=reservation.reservation_id, reason="changed my mind"
    )
    with world.stack.acting_as("chat_agent"), pytest.raises(Unavailable):
        await Lifecycle(losing, HoldSync(parts.deps)).cancel(request)
    assert (await world.get(reservation.reservation_id)).status == pb.RESERVATION_STATUS_ACTIVE
    assert (await world.hold(reservation.hold_id)).state == inv.HOLD_STATE_RELEASED

    # The Resumer as the service runs it, once its delay has passed.
    settings = ReservationsSettings.of(parts.deps.settings).model_copy(update={"resume_after": timedelta(0)})
    deps = dataclasses.replace(parts.deps, inventory=inventory, settings=settings)
    await Resumer(
        "reservations", settings, deps.db, deps.idempotency, begun_changes(Lifecycle(deps, HoldSync(deps)))
    ).run_once()

    finished = await world.get(reservation.reservation_id)
    assert (finished.status, finished.cancel_reason) == (pb.RESERVATION_STATUS_CANCELLED, "changed my mind")
    assert (await world.level(store, sku)).held == 0


async def test_a_cancellation_begun_as_its_callers_time_ran_out_is_carried_to_its_end(
    world: World, parts: Parts
) -> None:
    """The chat agent's deadline was spent by the time reservations asked inventory to release the
    hold. The cancellation is carried to its end without its caller, so inventory is asked within
    the service's own deadline: asked within what the caller had left, the release ran out (after
    inventory had acted, or before) and the cancellation failed half done or not at all."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])
    deps = dataclasses.replace(
        parts.deps,
        inventory=InventoryClient(service_channel(world.stack.wired_settings(), "reservations", "inventory")),
        settings=ReservationsSettings.of(parts.deps.settings),
    )
    request = pb.CancelReservationRequest(
        request_id=unique_id(), reservation_id=reservation.reservation_id, reason="changed my mind"
    )

    async def no_time_left() -> pb.CancelReservationResponse:
        deadlines.serve_until(time.monotonic())  # as the server sets it; in this task's context only
        return await Lifecycle(deps, HoldSync(deps)).cancel(request)

    with world.stack.acting_as("chat_agent"):
        answered = (await asyncio.create_task(no_time_left())).reservation

    assert (answered.status, answered.cancel_reason) == (pb.RESERVATION_STATUS_CANCELLED, "changed my mind")
    assert (await world.get(reservation.reservation_id)) == answered
    assert (await world.hold(reservation.hold_id)).state == inv.HOLD_STATE_RELEASED
    assert (await world.level(store, sku)).held == 0


HOUR = Duration(seconds=3600)


class Killed(BaseException):
    """The process killed (SIGKILL): nothing more of it runs, not even its `except Exception` handlers."""


class KilledAfter(ActedThenFailed):
    """The service's process is killed once inventory acted."""

    def failure(self, name: str) -> BaseException:
        return Killed(f"killed after {name}")


@pytest.mark.parametrize(
    ("method", "action", "caller", "change"),
    [
        ("release", "cancel", "chat_agent", lambda r: pb.CancelReservationRequest(reservation_id=r, reason="moved")),
        ("extend", "extend", "app", lambda r: pb.ExtendReservationRequest(reservation_id=r, extend_by=HOUR)),
        ("transfer", "convert", "service", lambda r: pb.ConvertReservationRequest(reservation_id=r, order_id=r[:8])),
    ],
)
async def test_a_change_cut_short_by_a_crash_is_finished_by_the_service_as_its_caller_asked(
    world: World, parts: Parts, method: str, action: str, caller: str, change: Any
) -> None:
    """Inventory acted on the hold (released, extended, transferred to an order), then the
    reservations process was killed before writing it down, and the caller never asks again. The
    service finishes the change itself, as it was asked (the customer's reason for a cancellation),
    within the Resumer's delay, not at the comparison due every ten minutes; a retry then gets that
    answer."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 1)
    reservation = await world.reserve(store, [(sku, 1)])
    request = change(reservation.reservation_id)
    request.request_id = unique_id()
    # Inventory as the service itself calls it, before and after the crash: the request ids are the service's.
    inventory = InventoryClient(service_channel(world.stack.wired_settings(), "reservations", "inventory"))
    dying = dataclasses.replace(
        parts.deps, inventory=KilledAfter(inventory, method), settings=ReservationsSettings.of(parts.deps.settings)
    )
    with world.stack.acting_as(caller), pytest.raises(Killed):
        await getattr(Lifecycle(dying, HoldSync(dying)), action)(request)
    assert (await world.get(reservation.reservation_id)).status == pb.RESERVATION_STATUS_ACTIVE

    # Started again: the Resumer as the service runs it, finding what began at once.
    settings = ReservationsSettings.of(parts.deps.settings).model_copy(update={"resume_after": timedelta(0)})
    deps = dataclasses.replace(parts.deps, inventory=inventory, settings=settings)
    lifecycle = Lifecycle(deps, HoldSync(deps))
    await Resumer("reservations", settings, deps.db, deps.idempotency, begun_changes(lifecycle)).run_once()

    finished = await world.get(reservation.reservation_id)
    hold = await world.hold(reservation.hold_id)
    if method == "release":
        assert (finished.status, finished.cancel_reason) == (pb.RESERVATION_STATUS_CANCELLED, "moved")
        assert (await world.level(store, sku)).held == 0
    elif method == "extend":
        assert finished.status == pb.RESERVATION_STATUS_ACTIVE
        assert finished.expires_at.ToDatetime() == reservation.expires_at.ToDatetime() + timedelta(hours=1)
        assert hold.expires_at == finished.expires_at
    else:
        assert (finished.status, finished.order_id) == (pb.RESERVATION_STATUS_CONVERTED, request.order_id)
        assert hold.owner == f"order:{request.order_id}"
    with world.stack.acting_as(caller):
        retried = await getattr(lifecycle, action)(request)
    assert retried.reservation == finished
