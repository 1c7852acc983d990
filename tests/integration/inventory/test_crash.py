"""SIGKILL of inventory in the middle of a stream of holds and commits: every
acknowledged hold is there afterwards, and the invariants hold."""

from __future__ import annotations

import asyncio
import contextlib

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import wait_until


async def test_acknowledged_holds_survive_a_kill(stack, catalogue, db, tmp_path) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 500)
    process = await ServiceProcess(stack.settings, "inventory", log_file=tmp_path / "inventory.log").start()
    stub = inventory_pb2_grpc.InventoryServiceStub(stack.channel("inventory", address=process.address))
    acknowledged: dict[str, str] = {}
    committed: set[str] = set()
    stop = asyncio.Event()

    async def client(worker: int) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            request = pb.HoldRequest(
                request_id=f"crash-{worker}-{number}-{unique_id()}",
                owner=f"order:{worker}-{number}",
                channel=common_pb2.CHANNEL_WEB,
                lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=1)],
            )
            # A real client retries with the same request id until it gets an answer.
            for _ in range(50):
                try:
                    hold = (await stub.Hold(request, timeout=2)).hold
                    break
                except grpc.aio.AioRpcError as error:
                    assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), error
                    await asyncio.sleep(0.1)
            else:
                continue
            acknowledged[hold.hold_id] = request.owner
            if number % 2 == 0:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await stub.CommitHold(
                        pb.CommitHoldRequest(request_id=f"commit-{hold.hold_id}", hold_id=hold.hold_id), timeout=2
                    )
                    committed.add(hold.hold_id)

    workers = [asyncio.create_task(client(i)) for i in range(8)]
    await wait_until(lambda: len(acknowledged) >= 40, what="40 acknowledged holds")
    process.kill()
    await process.start()
    before_restart = len(acknowledged)
    await wait_until(lambda: len(acknowledged) >= before_restart + 20, what="holds after the restart")
    stop.set()
    await asyncio.gather(*workers)
    process.terminate()

    for hold_id, owner in acknowledged.items():
        hold = (await catalogue.admin.GetHold(pb.GetHoldRequest(hold_id=hold_id))).hold
        assert hold.owner == owner
        assert hold.state in (pb.HOLD_STATE_ACTIVE, pb.HOLD_STATE_COMMITTED)
        if hold_id in committed:
            assert hold.state == pb.HOLD_STATE_COMMITTED
    assert await check_invariants(db) == []
