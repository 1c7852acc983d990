"""Changes a crash cut short, finished later by the service's Resumer: they finish as they would
have, or are refused where the reason they were begun for no longer holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_fulfilment.adapters.inventory_client import InventoryClient as FulfilmentInventory
from omnistock_fulfilment.adapters.reservations_client import ReservationsClient as FulfilmentReservations
from omnistock_fulfilment.service_layer.changes import TaskChanges
from omnistock_fulfilment.service_layer.work import TaskWork
from omnistock_orders.domain.fulfilment_holds import HoldReason
from omnistock_orders.entrypoints.main import OrdersService
from omnistock_orders.service_layer.fulfilment_holds import expiry_cancellation
from omnistock_platform.db import Database
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.grpc.client import service_channel
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.resuming import Resumer, resume
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import BERLIN, POTSDAM, Crash, Shop, pick_task, ship_request, store_request
from tests.integration.orders.test_fulfilment_holds import task_of


class CrashingInventory:
    """Inventory as the orders process sees it, with the process dying at `at`: before the call
    (nothing was asked) or after it (inventory acted, the order was never written)."""

    def __init__(self, inventory: Any, method: str, *, after: bool) -> None:
        self._inventory = inventory
        self._method = method
        self._after = after

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._inventory, name)
        if name != self._method:
            return call

        async def crashing(*args: Any, **kwargs: Any) -> Any:
            if self._after:
                await call(*args, **kwargs)
            raise Crash(f"killed {'after' if self._after else 'before'} {name}")

        return crashing


def resumer(orders: OrdersService) -> Resumer:
    """The service's Resumer, finishing at once what was cut short."""
    settings = orders.settings.model_copy(update={"resume_after": timedelta(0)})
    changes = {"CancelOrder": resume(pb.CancelOrderRequest, orders.cancellation.cancel)}
    return Resumer("orders", settings, orders.db, orders.idempotency, changes)


async def held_order(shop: Shop) -> tuple[str, str, pb.Order, pb.FulfilmentHold]:
    store, mug = await shop.location(BERLIN), await shop.sku("Mug")
    await shop.receive(store, mug, 2)
    order = (await shop.orders.CreateOrder(store_request([(mug, 2)], store))).order
    payment = common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING
    hold = pb.FulfilmentHoldRequest(reason=payment, ttl=Duration(seconds=3600))
    held = (
        await shop.orders.HoldOrder(pb.HoldOrderRequest(request_id=unique_id(), order_id=order.order_id, hold=hold))
    ).hold
    return store, mug, order, held


async def cut_short_expiry(orders: OrdersService, order: pb.Order, hold: pb.FulfilmentHold, *, after: bool) -> None:
    """The sweep found the hold run out and began to cancel the order; the process died before
    inventory was asked (`after`: once inventory had released the order's stock)."""
    request = expiry_cancellation(order.order_id, hold.fulfilment_hold_id, HoldReason.PAYMENT_PENDING)
    cancellation = orders.cancellation
    inventory = cancellation.inventory
    cancellation.inventory = CrashingInventory(inventory, "release", after=after)  # type: ignore[assignment]
    try:
        with pytest.raises(Crash):
            await cancellation.cancel(request)
    finally:
        cancellation.inventory = inventory


async def release(shop: Shop, order: pb.Order, hold: pb.FulfilmentHold) -> pb.Order:
    request = pb.ReleaseOrderHoldRequest(
        request_id=unique_id(), order_id=order.order_id, fulfilment_hold_id=hold.fulfilment_hold_id, note="paid"
    )
    return (await shop.orders.ReleaseOrderHold(request)).order


async def test_an_expiry_cut_short_is_not_finished_once_the_hold_was_released(
    shop: Shop, orders_process: OrdersService
) -> None:
    """The payment comes (the hold is released, the order goes on) after a crash cut the sweep's
    cancellation short: the Resumer must not cancel the order for a hold that no longer exists."""
    store, mug, order, hold = await held_order(shop)
    await cut_short_expiry(orders_process, order, hold, after=False)
    released = await release(shop, order, hold)
    assert released.status == pb.ORDER_STATUS_ALLOCATED
    assert [h.status for h in released.holds] == [pb.FULFILMENT_HOLD_STATUS_RELEASED]

    assert await resumer(orders_process).run_once() == 0  # refused, and forgotten

    kept = await shop.order(order.order_id)
    assert kept.status == pb.ORDER_STATUS_ALLOCATED, kept
    assert [h.status for h in kept.holds] == [pb.FULFILMENT_HOLD_STATUS_RELEASED]
    assert (await shop.level(store, mug)).held == 2
    assert await orders_process.idempotency.unfinished(orders_process.db, timedelta(0)) == []


async def test_an_expiry_cut_short_after_inventory_gave_the_stock_back_is_finished(
    shop: Shop, orders_process: OrdersService
) -> None:
    """Cut short once inventory had released the order's stock: the order can no longer go on as
    it was, so the cancellation is finished even though the hold was released meanwhile."""
    store, mug, order, hold = await held_order(shop)
    await cut_short_expiry(orders_process, order, hold, after=True)
    assert (await shop.level(store, mug)).held == 0
    await release(shop, order, hold)

    assert await resumer(orders_process).run_once() == 1

    cancelled = await shop.order(order.order_id)
    assert cancelled.status == pb.ORDER_STATUS_CANCELLED, cancelled
    assert (await shop.level(store, mug)).held == 0


async def test_a_channels_release_cut_short_does_not_release_a_fraud_review_placed_since(
    shop: Shop, orders_process: OrdersService
) -> None:
    """The web shop releases its order's holds (the payment came), and a crash cuts the release
    short. Before the Resumer finishes it, the back office puts the order under fraud review, which
    only the back office may release. The Resumer finishes the web shop's release as the web shop
    would have it now: refused, as a release of every hold is while a fraud review is among them."""
    _, _, order, payment = await held_order(shop)
    release_all = pb.ReleaseOrderHoldRequest(request_id=unique_id(), order_id=order.order_id, note="paid")
    holds = orders_process.holds
    inventory = holds.inventory
    holds.inventory = CrashingInventory(inventory, "get_hold", after=False)  # type: ignore[assignment]
    try:
        with shop.stack.acting_as("storefront"), pytest.raises(Crash):
            await holds.release(release_all)
    finally:
        holds.inventory = inventory
    fraud = pb.FulfilmentHoldRequest(reason=common_pb2.FULFILMENT_HOLD_REASON_FRAUD_REVIEW)
    review = (
        await shop.orders.HoldOrder(pb.HoldOrderRequest(request_id=unique_id(), order_id=order.order_id, hold=fraud))
    ).hold

    settings = orders_process.settings.model_copy(update={"resume_after": timedelta(0)})
    changes = {"ReleaseOrderHold": resume(pb.ReleaseOrderHoldRequest, holds.release)}
    finished = await Resumer("orders", settings, orders_process.db, orders_process.idempotency, changes).run_once()

    kept = {h.fulfilment_hold_id: h.status for h in (await shop.order(order.order_id)).holds}
    assert (finished, kept) == (
        0,
        {
            payment.fulfilment_hold_id: pb.FULFILMENT_HOLD_STATUS_ACTIVE,
            review.fulfilment_hold_id: pb.FULFILMENT_HOLD_STATUS_ACTIVE,
        },
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # the web shop's retry: refused the same
        await shop.orders_as("storefront").ReleaseOrderHold(release_all)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_return_cut_short_after_inventory_restocked_it_is_not_taken_back_twice(
    shop: Shop, orders_process: OrdersService
) -> None:
    """A till takes a lamp back and restocks it at once; orders dies once inventory booked the lamp
    back on hand, before the return was written. The till shows an error and the clerk takes the
    lamp back again, as a new request. One lamp came back: it must be booked once, not once per try
    (the lamp would be on hand twice, and sold to someone when the shelf has none)."""
    store, lamp = await shop.location(BERLIN), await shop.sku("Lamp")
    await shop.receive(store, lamp, 1)
    order = await shop.delivered(store, [(lamp, 1)])

    def take_back() -> pb.CreateReturnRequest:
        return pb.CreateReturnRequest(
            request_id=unique_id(),
            order_id=order.order_id,
            lines=[pb.ReturnLineRequest(sku=lamp, quantity=1)],
            location_id=store,
            receive_now=[pb.InspectedLine(sku=lamp, condition=pb.RETURN_CONDITION_RESTOCK, quantity=1)],
        )

    first = take_back()
    returns = orders_process.returns
    inventory = returns.inventory
    returns.inventory = CrashingInventory(inventory, "adjust_stock", after=True)  # type: ignore[assignment]
    try:
        with shop.stack.acting_as("pos", locations=[store]), pytest.raises(Crash):
            await returns.create(first)
    finally:
        returns.inventory = inventory
    assert (await shop.level(store, lamp)).on_hand == 1

    till = shop.orders_as("pos", [store])
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await till.CreateReturn(take_back())
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await shop.level(store, lamp)).on_hand == 1

    settings = orders_process.settings.model_copy(update={"resume_after": timedelta(0)})
    changes = {"CreateReturn": resume(pb.CreateReturnRequest, returns.create)}
    assert await Resumer("orders", settings, orders_process.db, orders_process.idempotency, changes).run_once() == 1
    answered = (await till.CreateReturn(first)).order_return  # the till's retry of its first try
    assert answered.status == pb.RETURN_STATUS_RECEIVED
    listed = await shop.orders.ListReturns(pb.ListReturnsRequest(order_id=order.order_id))
    assert [(r.return_id, r.status) for r in listed.returns] == [(answered.return_id, pb.RETURN_STATUS_RECEIVED)]
    assert (await shop.level(store, lamp)).on_hand == 1


async def test_an_expiry_cut_short_is_not_finished_because_part_of_the_order_shipped_since(
    shop: Shop, orders_process: OrdersService
) -> None:
    """Cut short before inventory was asked; then the hold is released and the lamp's parcel leaves
    (inventory sold its units; the shipment's event has not reached orders yet) while the mug's
    waits. A shipment gave nothing back: the mug is not cancelled."""
    berlin, potsdam = await shop.location(BERLIN, warehouse=True), await shop.location(POTSDAM, warehouse=True)
    lamp, mug = await shop.sku("Lamp"), await shop.sku("Mug")
    await shop.receive(berlin, lamp, 1)
    await shop.receive(potsdam, mug, 1)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 1), (mug, 1)]))).order
    assert {allocation.location_id for allocation in order.allocations} == {berlin, potsdam}
    payment = pb.FulfilmentHoldRequest(
        reason=common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING, ttl=Duration(seconds=3600)
    )
    held = (
        await shop.orders.HoldOrder(pb.HoldOrderRequest(request_id=unique_id(), order_id=order.order_id, hold=payment))
    ).hold
    await cut_short_expiry(orders_process, order, held, after=False)
    await release(shop, order, held)
    await shop.inventory.CommitHold(
        inv.CommitHoldRequest(
            request_id=unique_id(),
            hold_id=order.allocations[0].hold_id,
            lines=[inv.HoldLineRequest(location_id=berlin, sku=lamp, quantity=1)],
            document_ref="fulfilment-task:lamp",
        )
    )

    assert await resumer(orders_process).run_once() == 0

    kept = await shop.order(order.order_id)
    assert kept.status == pb.ORDER_STATUS_ALLOCATED, kept
    assert {a.location_id: a.status for a in kept.allocations} == {
        berlin: pb.ALLOCATION_STATUS_HELD,
        potsdam: pb.ALLOCATION_STATUS_HELD,
    }
    assert (await shop.level(potsdam, mug)).held == 1


async def packed_and_cut_short(shop: Shop, db: Database) -> tuple[str, str, pb.Order, fpb.ShipRequest, TaskWork]:
    """An order's lamp picked and packed; staff press Ship, inventory sells the parcel's units and
    fulfilment dies before the task is written shipped. Returns fulfilment's work as the restarted
    process has it."""
    warehouse, lamp = await shop.location(BERLIN, warehouse=True), await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 1)
    order = (await shop.orders.CreateOrder(ship_request([(lamp, 1)]))).order
    (allocation,) = order.allocations
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    task = await pick_task(staff, warehouse, allocation.allocation_id)
    await staff.ConfirmPick(fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id))
    await staff.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id))

    settings = shop.stack.wired_settings()
    inventory = FulfilmentInventory(service_channel(settings, "fulfilment", "inventory"))
    reservations = FulfilmentReservations(service_channel(settings, "fulfilment", "reservations"))
    changes = TaskChanges(Outbox(settings, "fulfilment"))
    crashing = CrashingInventory(inventory, "commit", after=True)
    dying = TaskWork(db, changes, IdempotencyStore("fulfilment"), crashing, reservations)  # type: ignore[arg-type]
    ship = fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL", tracking_number="1")
    with shop.stack.acting_as("warehouse", locations=[warehouse]), pytest.raises(Crash):
        await dying.ship(ship)
    assert (await shop.level(warehouse, lamp)).on_hand == 0  # sold: the parcel left
    return (
        warehouse,
        allocation.allocation_id,
        order,
        ship,
        TaskWork(db, changes, IdempotencyStore("fulfilment"), inventory, reservations),
    )


def fulfilment_resumer(shop: Shop, db: Database, work: TaskWork) -> Resumer:
    settings = shop.stack.wired_settings(resume_after=timedelta(0))
    return Resumer("fulfilment", settings, db, work.idempotency, {"Ship": resume(fpb.ShipRequest, work.ship)})


async def hold_order(shop: Shop, order: pb.Order, ttl: Duration | None = None) -> pb.FulfilmentHold:
    hold = pb.FulfilmentHoldRequest(reason=common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING)
    if ttl is not None:
        hold.ttl.CopyFrom(ttl)
    request = pb.HoldOrderRequest(request_id=unique_id(), order_id=order.order_id, hold=hold)
    return (await shop.orders.HoldOrder(request)).hold


async def test_a_shipment_cut_short_before_its_order_was_put_on_hold_is_finished_once_released(
    shop: Shop, db: Database
) -> None:
    """After the crash the order is put on hold (its payment is checked again). The Resumer must
    not forget the shipment because the task now waits: the parcel has left. It finishes it once the
    hold is released, and the order completes."""
    warehouse, allocation_id, order, ship, work = await packed_and_cut_short(shop, db)
    placed = await hold_order(shop, order)
    await task_of(shop.stack, warehouse, allocation_id, lambda found: bool(found.hold_reason))
    resumer = fulfilment_resumer(shop, db, work)
    assert await resumer.run_once() == 0  # the task waits: not now, and not forgotten

    await release(shop, order, placed)
    await task_of(shop.stack, warehouse, allocation_id, lambda found: not found.hold_reason)
    assert await resumer.run_once() == 1
    shipped = await task_of(shop.stack, warehouse, allocation_id, lambda found: found.status == fpb.TASK_STATUS_SHIPPED)
    assert (shipped.carrier, shipped.tracking_number) == ("DHL", "1")
    staff = shop.stack.stub("fulfilment", role="warehouse", locations=[warehouse])
    assert (await staff.Ship(ship)).task == shipped  # the handheld's retry: the same answer
    await shop.wait_for_order(order.order_id, lambda found: found.status == pb.ORDER_STATUS_COMPLETED)


async def test_a_hold_that_runs_out_on_an_order_whose_parcel_left_lets_the_shipment_finish(
    shop: Shop, db: Database
) -> None:
    """After the crash the order is put on hold, and nobody releases it. Its cancellation is refused:
    the parcel left (inventory sold every unit). The hold still runs out, so that the task stops
    waiting, the shipment is finished and the order completes (it used to be refused on every
    sweep, the hold never closing and the task waiting for good)."""
    warehouse, allocation_id, order, _, work = await packed_and_cut_short(shop, db)
    await hold_order(shop, order, Duration(seconds=1))
    expired = await shop.wait_for_order(
        order.order_id, lambda found: [h.status for h in found.holds] == [pb.FULFILMENT_HOLD_STATUS_EXPIRED]
    )
    assert expired.status != pb.ORDER_STATUS_CANCELLED
    await task_of(shop.stack, warehouse, allocation_id, lambda found: not found.hold_reason)
    assert await fulfilment_resumer(shop, db, work).run_once() == 1
    await shop.wait_for_order(order.order_id, lambda found: found.status == pb.ORDER_STATUS_COMPLETED)
