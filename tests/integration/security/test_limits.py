"""Limits a caller cannot push past: the size of a request, and how many server streams
(WatchStock, WatchTasks) one caller may hold open on a service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_platform.auth import Role
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.grpc.server import MAX_MESSAGE_BYTES
from omnistock_platform.testing.stack import Stack, unique_id

TIMEOUT = 10.0

# service -> how to open one of its server streams with a stub
WATCHES: dict[str, Callable[[Any], Any]] = {
    "inventory": lambda stub: stub.WatchStock(ipb.WatchStockRequest(skus=[unique_id("SKU-WATCH-")])),
    "fulfilment": lambda stub: stub.WatchTasks(fpb.WatchTasksRequest(location_id=unique_id("LOC-WATCH-"))),
}


async def test_a_request_over_the_size_limit_is_resource_exhausted(stack: Stack) -> None:
    skus = ["S" * 1000] * (MAX_MESSAGE_BYTES // 1000 + 10)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.stub("inventory").BatchGetStock(ipb.BatchGetStockRequest(skus=skus), timeout=TIMEOUT)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The service is not harmed: a normal request right after is answered.
    answer = await stack.stub("inventory").BatchGetStock(ipb.BatchGetStockRequest(skus=[unique_id("SKU-")]))
    assert list(answer.levels) == []


async def opened(call: Any) -> Any:
    """The stream, once the server answered its snapshot (so it counts as open there)."""
    first = await asyncio.wait_for(call.read(), TIMEOUT)
    assert first is not grpc.aio.EOF and first.snapshot
    return call


@pytest.mark.parametrize("service", sorted(WATCHES))
async def test_one_caller_may_hold_only_so_many_streams_open(stack: Stack, service: str) -> None:
    limit = stack.settings.max_streams_per_caller
    assert limit > 0
    caller = stack.stub(service, token=stack.token(Role.ADMIN, subject=unique_id("dashboard-")))
    streams = [await opened(WATCHES[service](caller)) for _ in range(limit)]
    try:
        one_too_many = WATCHES[service](caller)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await asyncio.wait_for(one_too_many.read(), TIMEOUT)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        retry = details_of(refused.value, error_details_pb2.RetryInfo)
        assert retry and retry[0].retry_delay.ToTimedelta().total_seconds() > 0

        # Someone else is not held back by this caller.
        other = stack.stub(service, token=stack.token(Role.ADMIN, subject=unique_id("other-")))
        (await opened(WATCHES[service](other))).cancel()

        # Closing one stream makes room again (the server notices the cancel a moment later).
        streams.pop().cancel()
        for _ in range(50):
            again = WATCHES[service](caller)
            try:
                streams.append(await opened(again))
                break
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                await asyncio.sleep(0.1)
        else:
            pytest.fail("a closed stream never freed its place")
    finally:
        for stream in streams:
            stream.cancel()
