"""What one CreateReservation costs: the statements reservations sends to its database, and the calls
it makes to inventory. The work itself is a PENDING write (committed before inventory is asked, so
recovery can finish it), the hold, and the confirmation with its event; nothing more per call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.grpc.interceptors import RPC_TOTAL
from omnistock_platform.logging import request_id_var
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import wait_until
from omnistock_reservations.service_layer import creating
from omnistock_reservations.settings import ReservationsSettings
from tests.integration.reservations.support import World, create_request

# What asyncpg asks once per connection the first time it prepares a statement with these types:
# the cost of a connection's first use, not of a call.
DRIVER_INTROSPECTION = ("SELECT current_setting('jit')", "SELECT set_config('jit'", "WITH RECURSIVE typeinfo_tree")


@contextmanager
def statements_of(pool: asyncpg.Pool, request_id: str) -> Iterator[list[str]]:
    """Every statement the pool's connections send while serving the request id (the query logger runs
    in the context of the call that sent the statement, so the background loops' queries are left out)."""
    seen: list[str] = []

    def logged(record: Any) -> None:
        query = " ".join(record.query.split())
        if request_id_var.get() == request_id and not query.startswith(DRIVER_INTROSPECTION):
            seen.append(query)

    connections = [holder._con for holder in pool._holders if holder._con is not None]
    for conn in connections:
        conn.add_query_logger(logged)
    try:
        yield seen
    finally:
        for conn in connections:
            conn.remove_query_logger(logged)


async def _open_every_connection(pool: asyncpg.Pool) -> None:
    """So that the statements of a call are sent on connections the logger is attached to."""
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    for conn in held:
        await pool.release(conn)


def _inventory_calls(method: str) -> float:
    return sum(
        sample.value
        for metric in RPC_TOTAL.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels.get("service") == "inventory"
        and sample.labels.get("method") == method
    )


async def test_a_reservation_is_two_transactions_and_one_hold(world: World) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 10)
    pool = world.stack.apps["reservations"].db.pool
    await _open_every_connection(pool)
    await world.reserve(store, [(sku, 1)])  # the store and the SKU are known from here on
    methods = ("GetLocation", "BatchGetSkus", "Hold", "BatchGetStock", "ListTransfers")
    calls_before = {method: _inventory_calls(method) for method in methods}
    request = create_request(store, [(sku, 2)])

    with statements_of(pool, request.request_id) as statements:
        reservation = (await world.reservations.CreateReservation(request)).reservation
        await asyncio.sleep(0)  # the logger is called soon after each statement, on the loop

    assert reservation.status == pb.RESERVATION_STATUS_ACTIVE
    # Units on the shelf: the promise is the store's own, from the levels the hold answered.
    assert reservation.promise.kind == common_pb2.PROMISE_KIND_PICKUP
    # PENDING committed on its own (lock, write with its lines), then ACTIVE with its event in one statement.
    assert [statement.split()[0].rstrip(";") for statement in statements] == [
        "BEGIN",
        "SELECT",
        "WITH",
        "COMMIT",
        "WITH",
    ]
    assert "reservation_lines" in statements[2] and "outbox" in statements[4]
    calls = {method: _inventory_calls(method) - before for method, before in calls_before.items()}
    assert calls == {"GetLocation": 0, "BatchGetSkus": 0, "Hold": 1, "BatchGetStock": 0, "ListTransfers": 0}


async def test_a_process_that_learnt_the_catalogue_asks_nothing_for_its_skus(world: World) -> None:
    """Learning the catalogue at start spares a just-started process a BatchGetSkus per new SKU."""
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 5)
    (servicer,) = world.stack.apps["reservations"].servicers
    client = servicer.implementation.creating.deps.inventory
    assert sku not in client._known_skus  # created after the process learnt the catalogue

    assert await client.learn_skus() >= 1

    before = _inventory_calls("BatchGetSkus")
    reservation = await world.reserve(store, [(sku, 1)])
    assert reservation.status == pb.RESERVATION_STATUS_ACTIVE
    assert _inventory_calls("BatchGetSkus") - before == 0


async def test_a_sku_refused_as_unknown_is_found_once_created(world: World) -> None:
    """Only SKUs inventory knows are remembered: one created after it was refused is found."""
    store = await world.store()
    sku = unique_id("SKU-")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.reservations.CreateReservation(create_request(store, [(sku, 1)]))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    await world.inventory.UpsertSku(
        inv.UpsertSkuRequest(
            request_id=unique_id(), sku=inv.Sku(sku=sku, title="Velvet sofa", price_minor=1, currency="EUR")
        )
    )
    await world.receive(store, sku, 1)

    reservation = await world.reserve(store, [(sku, 1)])

    assert reservation.status == pb.RESERVATION_STATUS_ACTIVE


async def test_a_pickup_code_in_use_at_the_store_is_drawn_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 2)
    first = await world.reserve(store, [(sku, 1)])
    drawn = iter([first.pickup_code, first.pickup_code, "FRESH2"])
    monkeypatch.setattr(creating, "new_pickup_code", lambda: next(drawn))

    second = await world.reserve(store, [(sku, 1)])

    assert (second.status, second.pickup_code) == (pb.RESERVATION_STATUS_ACTIVE, "FRESH2")
    assert (await world.level(store, sku)).held == 2


async def test_concurrent_creates_of_one_customer_stop_at_the_limit(world: World) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 50)
    customer = unique_id("CUST-")
    allowed = ReservationsSettings.of(world.stack.settings).reservation_max_active_per_customer
    requests = [create_request(store, [(sku, 1)], customer_id=customer) for _ in range(allowed + 5)]

    answers = await asyncio.gather(
        *(world.reservations.CreateReservation(request) for request in requests), return_exceptions=True
    )

    granted = [answer for answer in answers if isinstance(answer, pb.CreateReservationResponse)]
    refused = [answer for answer in answers if isinstance(answer, grpc.aio.AioRpcError)]
    assert len(granted) == allowed
    assert {error.code() for error in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert len(refused) == 5
    assert (await world.level(store, sku)).held == allowed


async def test_a_store_that_stops_offering_pickup_is_refused_once_inventory_says_it_changed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, sku = await world.store(), await world.sku()
    await world.receive(store, sku, 5)
    app = world.stack.apps["reservations"]
    (servicer,) = app.servicers
    client = servicer.implementation.creating.deps.inventory
    monkeypatch.setattr(client, "_store_ttl", 3600.0)  # only inventory's event can make it forget
    await world.reserve(store, [(sku, 1)])
    assert store in client._stores
    location = (await world.inventory.GetLocation(inv.GetLocationRequest(location_id=store))).location
    location.pickup = False

    await world.inventory.UpsertLocation(inv.UpsertLocationRequest(request_id=unique_id(), location=location))

    await wait_until(lambda: store not in client._stores, timeout=10, what="the store forgotten on location.changed")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await world.reserve(store, [(sku, 1)])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await world.level(store, sku)).held == 1
