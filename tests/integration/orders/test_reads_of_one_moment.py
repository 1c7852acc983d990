"""An order read straight from the pool is read at one moment: its row and its allocations are two
statements, and a change committed between them must not be read half (a re-route's allocations
beside the decision from before it, as GetOrder answered once)."""

from __future__ import annotations

import pytest

from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_orders.adapters import repository
from tests.integration.orders.support import SPANDAU, Shop, ship_request


@pytest.mark.parametrize("read", ["get", "by_request_id", "page"])
async def test_a_change_committed_between_the_two_reads_is_not_read_half(shop: Shop, db, monkeypatch, read) -> None:
    sofa = await shop.sku()
    store = await shop.location(SPANDAU)
    await shop.receive(store, sofa, 1)
    request = ship_request([(sofa, 1)])
    order = (await shop.orders.CreateOrder(request)).order
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    allocations_of = repository._allocations

    async def a_change_commits_first(conn, order_ids):
        # Another transaction changes the order's decision and its allocation together, and commits.
        async with db.transaction() as writer:
            await writer.execute(
                "UPDATE orders.orders SET cancel_reason = 'changed meanwhile' WHERE order_id = $1", order.order_id
            )
            await writer.execute(
                "UPDATE orders.allocations SET status = 'cancelled' WHERE order_id = $1", order.order_id
            )
        monkeypatch.setattr(repository, "_allocations", allocations_of)
        return await allocations_of(conn, order_ids)

    monkeypatch.setattr(repository, "_allocations", a_change_commits_first)
    if read == "get":
        record = await repository.get(db.pool, order.order_id)
    elif read == "by_request_id":
        found = await repository.by_request_id(db.pool, request.request_id)
        record = found[0] if found is not None else None
    else:
        (record,) = [r for r in await repository.page(db.pool, limit=500) if r.order_id == order.order_id]
    assert record is not None
    changed = record.cancel_reason == "changed meanwhile"
    cancelled = [allocation.status.value == "cancelled" for allocation in record.order.allocations]
    assert cancelled == [changed], "the order's row and its allocations were read at different moments"
