"""A caller that stops waiting must not split a change in two.

Found by the chaos run with callers that hang up (short deadlines, no retry): gRPC cancels the
call in the service wherever it got to, and a change that had already asked inventory to act
(commit the shipped units, release a cancelled order's hold, commit a collected reservation)
was abandoned before it recorded so itself. Inventory had sold or freed the units while the
task stayed packed, the order allocated, the reservation active, with nothing to bring them
together again. Here each caller hangs up just after inventory acted; the change must still
complete, and the invariants hold."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
import pytest_asyncio

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.testing.stack import Stack, addresses_from_env, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.orders.support import Shop, store_request
from tests.integration.reservations.support import create_request

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def shop(stack: Stack) -> Shop:
    if addresses_from_env():
        pytest.skip("needs the services in this process, to hang up at the right moment")
    return Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))


class HangUp:
    """Makes one inventory operation hang up the caller of the call under test just after inventory
    did its part, before the calling service could record it."""

    def __init__(self, stack: Stack, monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
        holds = stack.apps["inventory"].servicers[0].implementation.holds
        original: Callable[[Any], Awaitable[Any]] = getattr(holds, operation)
        self.call: Any = None
        self.hung_up = False

        async def then_hang_up(request: Any) -> Any:
            answer = await original(request)
            if self.call is not None and not self.hung_up:
                self.hung_up = True
                self.call.cancel()
                await asyncio.sleep(0.3)  # the cancellation reaches the calling service first
            return answer

        monkeypatch.setattr(holds, operation, then_hang_up)

    async def send(self, call: Any) -> None:
        self.call = call
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            await call
        assert self.hung_up, "the call never reached inventory"


async def placed_order(shop: Shop) -> tuple[opb.Order, str]:
    store, sku = await shop.location(), await shop.sku()
    await shop.receive(store, sku, 3)
    order = (await shop.orders.CreateOrder(store_request([(sku, 2)], store))).order
    assert order.status == opb.ORDER_STATUS_ALLOCATED, order
    return order, store


async def pick_task(stack: Stack, allocation: opb.Allocation) -> fpb.Task:
    fulfilment = stack.stub("fulfilment", role="admin")
    found: list[fpb.Task] = []

    async def made() -> bool:
        tasks = await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=allocation.location_id, page_size=500))
        found[:] = [t for t in tasks.tasks if t.allocation_id == allocation.allocation_id]
        return bool(found)

    await wait_until(made, timeout=10, what="the pick task")
    return found[0]


async def test_ship_completes_when_the_caller_hangs_up_after_the_commit(
    stack: Stack, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    order, _ = await placed_order(shop)
    task = await pick_task(stack, order.allocations[0])
    fulfilment = stack.stub("fulfilment", role="admin")
    await fulfilment.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
    await fulfilment.ConfirmPick(fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id))
    await fulfilment.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id))

    hang_up = HangUp(stack, monkeypatch, "commit")
    await hang_up.send(fulfilment.Ship(fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL")))

    async def shipped() -> bool:
        now = (await fulfilment.GetTask(fpb.GetTaskRequest(task_id=task.task_id))).task
        return now.status == fpb.TASK_STATUS_SHIPPED

    await wait_until(shipped, timeout=10, what="the task shipped although its caller hung up")
    done = await shop.wait_for_order(order.order_id, lambda o: o.status == opb.ORDER_STATUS_COMPLETED)
    assert done.allocations[0].status == opb.ALLOCATION_STATUS_SHIPPED


async def test_cancel_completes_when_the_caller_hangs_up_after_the_release(
    stack: Stack, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    order, _ = await placed_order(shop)
    hang_up = HangUp(stack, monkeypatch, "release")
    await hang_up.send(shop.orders.CancelOrder(opb.CancelOrderRequest(request_id=unique_id(), order_id=order.order_id)))
    await shop.wait_for_order(order.order_id, lambda o: o.status == opb.ORDER_STATUS_CANCELLED)
    hold = await shop.hold(order.allocations[0].hold_id)
    assert all(line.open == 0 for line in hold.lines)


async def test_collect_completes_when_the_caller_hangs_up_after_the_commit(
    stack: Stack, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, sku = await shop.location(), await shop.sku()
    await shop.receive(store, sku, 3)
    reservations = stack.stub("reservations", role="admin")
    made = (await reservations.CreateReservation(create_request(store, [(sku, 1)]))).reservation
    assert made.status == rpb.RESERVATION_STATUS_ACTIVE

    hang_up = HangUp(stack, monkeypatch, "commit")
    request = rpb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=made.pickup_code)
    await hang_up.send(reservations.CollectReservation(request))

    async def collected() -> bool:
        now = await reservations.GetReservation(rpb.GetReservationRequest(reservation_id=made.reservation_id))
        return now.reservation.status == rpb.RESERVATION_STATUS_COLLECTED

    await wait_until(collected, timeout=10, what="the reservation collected although its caller hung up")
    level = await shop.level(store, sku)
    assert (level.on_hand, level.held) == (2, 0)
