"""What one CreateOrder sends to orders' database: the order is written with its first attempt (the
hold call it makes) in one statement, committed before inventory is asked, so recovery and a retry
find the call; then the finishing transaction. No separate claim of the first attempt."""

from __future__ import annotations

import asyncpg
import grpc
import pytest

from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_orders.adapters import repository
from tests.integration.orders.support import LEIPZIG, Shop, ship_request
from tests.integration.reservations.test_round_trips import statements_of


async def _open_idle_connections(pool: asyncpg.Pool) -> None:
    """Every connection the pool can open now, so that the call's statements are sent on connections
    the logger is attached to; those the service's own loops hold stay with them (not waited for)."""
    held = []
    try:
        for _ in range(pool.get_max_size()):
            held.append(await pool.acquire(timeout=1.0))
    except TimeoutError:
        pass
    finally:
        for conn in held:
            await pool.release(conn)


async def test_an_order_is_written_with_its_first_attempt_in_one_statement(shop: Shop, stack, db) -> None:
    sofa, lamp = await shop.sku(), await shop.sku("Lamp")
    warehouse = await shop.location(LEIPZIG, warehouse=True)
    await shop.receive(warehouse, sofa, 5)
    await shop.receive(warehouse, lamp, 5)
    pool = stack.apps["orders"].db.pool
    await _open_idle_connections(pool)
    request = ship_request([(sofa, 2), (lamp, 1)])

    with statements_of(pool, request.request_id) as seen:
        placed = (await shop.orders.CreateOrder(request)).order

    assert placed.status == pb.ORDER_STATUS_ALLOCATED
    inserts = [query for query in seen if query.startswith("INSERT INTO orders.orders ")]
    claims = [query for query in seen if query.startswith("UPDATE orders.orders SET attempt")]
    # The insert carries the first attempt's call; no UPDATE claims it afterwards.
    assert len(inserts) == 1 and "pending_call" in inserts[0] and claims == [], seen
    stored = await repository.get(stack.apps["orders"].db.pool, placed.order_id)
    assert stored is not None and stored.attempt == 1
    assert await check_invariants(db) == []


async def test_a_shortfall_still_writes_nothing(shop: Shop, stack) -> None:
    sofa = await shop.sku()
    warehouse = await shop.location(LEIPZIG, warehouse=True)
    await shop.receive(warehouse, sofa, 1)
    request = ship_request([(sofa, 3)])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders.CreateOrder(request)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await repository.by_request_id(stack.apps["orders"].db.pool, request.request_id) is None
