"""Overload: a service at its concurrency limit refuses at once, with RESOURCE_EXHAUSTED and a
RetryInfo saying when to come back, instead of queueing calls into timeouts; clients that back
off and retry with the same request id all get through, and nothing is done twice.

The limit is `Settings.max_in_flight`, which ServiceApp hands to the server interceptor."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from omnistock_client.client import OmnistockClient, RetryPolicy

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.db import Database
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.grpc.server import ServiceApp
from omnistock_platform.registry import bootstrap_of
from omnistock_platform.testing.stack import Stack, unique_id

LIMIT = 4
FLOOD = 120

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def inventory(stack: Stack) -> AsyncIterator[tuple[ServiceApp, str]]:
    """An inventory of its own, limited to LIMIT calls at once, next to the shared stack's."""
    app = bootstrap_of("inventory")(stack.wired_settings(max_in_flight=LIMIT))
    port = await app.start(port=0)
    yield app, f"{stack.settings.host}:{port}"
    await app.stop(1.0)


def hold_request(store: str, sku: str) -> pb.HoldRequest:
    return pb.HoldRequest(
        request_id=unique_id(),
        owner=f"order:{unique_id()}",
        channel=common_pb2.CHANNEL_WEB,
        lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=1)],
    )


async def test_a_flood_is_refused_at_once_and_retries_get_through(
    stack: Stack, inventory: tuple[ServiceApp, str], db: Database
) -> None:
    _, address = inventory
    admin = inventory_pb2_grpc.InventoryServiceStub(stack.channel("inventory", address=address))
    store, sku = unique_id("LOC-"), unique_id("SKU-")
    await admin.UpsertLocation(
        pb.UpsertLocationRequest(
            request_id=unique_id(),
            location=pb.Location(
                location_id=store,
                name=store,
                kind=pb.LOCATION_KIND_STORE,
                city="Berlin",
                point=common_pb2.GeoPoint(latitude=52.5, longitude=13.4),
                active=True,
                pickup=True,
                till_sales=True,
                ships=True,
            ),
        )
    )
    await admin.UpsertSku(pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sku, title=sku)))
    await admin.ReceiveStock(pb.ReceiveStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=FLOOD))
    requests = [hold_request(store, sku) for _ in range(FLOOD)]

    # First, every call at once, without retrying: the ones beyond the limit are refused at once.
    async def first_try(request: pb.HoldRequest) -> tuple[str, float, list[error_details_pb2.RetryInfo]]:
        started = time.perf_counter()
        try:
            await admin.Hold(request, timeout=10.0)
            return "OK", time.perf_counter() - started, []
        except grpc.aio.AioRpcError as error:
            return error.code().name, time.perf_counter() - started, details_of(error, error_details_pb2.RetryInfo)

    outcomes = await asyncio.gather(*(first_try(request) for request in requests))
    codes = Counter(code for code, _, _ in outcomes)
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, codes
    assert codes["RESOURCE_EXHAUSTED"] > 0, f"a flood of {FLOOD} never hit a limit of {LIMIT}: {codes}"
    refused = [(seconds, info) for code, seconds, info in outcomes if code == "RESOURCE_EXHAUSTED"]
    assert all(info and info[0].retry_delay.ToTimedelta().total_seconds() > 0 for _, info in refused)
    assert max(seconds for seconds, _ in refused) < 2.0, "a refusal must be immediate, not queued"

    # Then as clients do: the same requests again, backing off and retrying with the same request id.
    client = OmnistockClient.connect(
        stack.settings,
        stack.token("admin"),
        addresses={"inventory": address},
        retry=RetryPolicy(attempts=30, first_backoff=0.05, max_backoff=1.0, deadline=10.0),
    )
    try:
        answers = await asyncio.gather(*(client.call(client.inventory.Hold, request) for request in requests))
    finally:
        await client.close()
    assert len({answer.hold.hold_id for answer in answers}) == FLOOD
    # The ones that got through the first time were answered again, not held twice.
    level = (await admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
    assert level.held == FLOOD, level
    assert await check_invariants(db) == []
