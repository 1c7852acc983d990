"""Limits a caller cannot push past: the size of a request, how many server streams (WatchStock,
WatchTasks) one caller may hold open on a service, and how many calls a service takes at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.grpc.server import MAX_MESSAGE_BYTES
from omnistock_platform.settings import Settings
from omnistock_platform.testing.processes import ServiceProcess
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


BURST = 2_000
CLIENTS = 20


@pytest.mark.parametrize("max_in_flight", ["256", "16"], ids=["default-limit", "low-limit"])
async def test_a_burst_is_served_or_refused_with_when_to_retry_never_cancelled(
    omnistock_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_in_flight: str
) -> None:
    """2,000 calls at once, from 20 clients, at a service in its own process: each is answered, or
    refused by the service's admission control (RESOURCE_EXHAUSTED or UNAVAILABLE, with RetryInfo).
    None is CANCELLED by gRPC before the service has seen it.

    With the low limit the service's reads are held back (a lock on the table they read) until the
    first answer comes: the calls it took fill its limit whatever the machine's speed, so the rest
    must be refused, and the first answer can only be such a refusal."""
    monkeypatch.setenv("OMNISTOCK_MAX_IN_FLIGHT", max_in_flight)
    # Reads from the database: the lock below holds them back.
    monkeypatch.setenv("OMNISTOCK_STOCK_VIEW", "false")
    process = await ServiceProcess(omnistock_settings, "inventory", log_file=tmp_path / "inventory.log").start()
    token = TokenAuthority(omnistock_settings).mint(Role.CHAT_AGENT, "burst")
    metadata = (("authorization", f"Bearer {token}"),)
    channels = [grpc.aio.insecure_channel(process.address) for _ in range(CLIENTS)]
    assert omnistock_settings.database_url
    blocker = await asyncpg.connect(omnistock_settings.database_url)
    held_back = max_in_flight == "16"

    async def one(index: int) -> tuple[grpc.StatusCode, bool]:
        stub = inventory_pb2_grpc.InventoryServiceStub(channels[index % CLIENTS])
        try:
            await stub.GetStock(ipb.GetStockRequest(sku="NO-SUCH-SKU"), metadata=metadata, timeout=60)
        except grpc.aio.AioRpcError as error:
            return error.code(), bool(details_of(error, error_details_pb2.RetryInfo))
        return grpc.StatusCode.OK, False

    try:
        lock = blocker.transaction()
        if held_back:
            await lock.start()
            await blocker.execute("LOCK TABLE inventory.skus IN ACCESS EXCLUSIVE MODE")
        calls = [asyncio.create_task(one(index)) for index in range(BURST)]
        if held_back:
            done, _ = await asyncio.wait(calls, timeout=TIMEOUT * 3, return_when=asyncio.FIRST_COMPLETED)
            await lock.rollback()
            assert done, "no call was answered while the service's reads were held back"
            first = next(iter(done)).result()
            assert first[0] == grpc.StatusCode.RESOURCE_EXHAUSTED, f"the first answer was {first}"
        answers = await asyncio.gather(*calls)
    finally:
        await blocker.close()
        for channel in channels:
            await channel.close()
        process.terminate()
    counts = Counter(code.name for code, _ in answers)
    # NOT_FOUND is the service's own answer to this request: it was seen and answered.
    assert set(counts) <= {"NOT_FOUND", "RESOURCE_EXHAUSTED", "UNAVAILABLE"}, counts
    refused = [with_retry for code, with_retry in answers if code.name in ("RESOURCE_EXHAUSTED", "UNAVAILABLE")]
    assert all(refused), f"refusals without RetryInfo: {counts}"
    if held_back:
        # The calls within the limit were answered once the reads went on.
        assert counts["NOT_FOUND"] >= int(max_in_flight), counts
