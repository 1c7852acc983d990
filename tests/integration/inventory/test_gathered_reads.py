"""GetStock calls that arrive together share one query: each is still answered exactly as if it
had read alone, and never with stock older than what was committed before it was asked."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import repository
from omnistock_inventory.service_layer import reads
from omnistock_inventory.service_layer.reads import StockReads

UNKNOWN_SKU = "SKU-NOT-IN-THE-CATALOGUE"


async def _alone(db, key: tuple[str, str]) -> list[tuple] | None:
    """The plain single-key query, as GetStock ran before reads were gathered."""
    sku, location_id = key
    rows = await db.fetch(
        "SELECT s.location_id, s.on_hand, s.held, s.version FROM inventory.skus k LEFT JOIN inventory.stock s"
        " ON s.sku = k.sku AND ($2 = '' OR s.location_id = $2) WHERE k.sku = $1 ORDER BY s.location_id",
        sku,
        location_id,
    )
    if not rows:
        return None
    return [tuple(row) for row in rows if row["location_id"] is not None]


def _summary(rows) -> list[tuple] | None:
    if rows is None:
        return None
    return [(row["location_id"], row["on_hand"], row["held"], row["version"]) for row in rows]


@pytest.fixture
async def shelves(catalogue) -> tuple[list[str], list[str]]:
    """Three stores, three SKUs: stock of the first two at some stores, the third never stocked."""
    stores = [await catalogue.location() for _ in range(3)]
    skus = [await catalogue.sku() for _ in range(3)]
    for index, store in enumerate(stores):
        await catalogue.receive(store, skus[0], 5 + index)
        if index != 1:
            await catalogue.receive(store, skus[1], 2)
    return stores, skus


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=12))
async def test_one_query_for_many_keys_answers_each_as_its_own_query(db, shelves, picks) -> None:
    stores, skus = shelves
    # Index 3 is the odd one out: an unknown SKU, or "every location".
    sku_choices, store_choices = [*skus, UNKNOWN_SKU], [*stores, ""]
    wanted = list(dict.fromkeys((sku_choices[sku], store_choices[store]) for sku, store in picks))
    found = await repository.sku_level_rows(db.pool, wanted)
    assert set(found) == set(wanted)
    for key in wanted:
        assert _summary(found[key]) == await _alone(db, key), key


async def test_concurrent_reads_share_queries_and_each_gets_its_own_answer(db, shelves, monkeypatch) -> None:
    stores, skus = shelves
    queries: list[int] = []
    real = repository.sku_level_rows

    async def counted(conn, wanted):
        queries.append(len(wanted))
        return await real(conn, wanted)

    monkeypatch.setattr(reads.repository, "sku_level_rows", counted)
    gathered = StockReads(db)
    keys = [(sku, store) for sku in [*skus, UNKNOWN_SKU] for store in [*stores, ""]] * 5
    answers = await asyncio.gather(*(gathered.sku_levels(sku, store) for sku, store in keys))

    for key, rows in zip(keys, answers, strict=True):
        assert _summary(rows) == await _alone(db, key), key
    assert len(queries) < len(keys) / 4, queries
    assert max(queries) <= reads.MAX_BATCH


async def test_a_read_sees_every_change_acknowledged_before_it_was_asked(catalogue, shelves) -> None:
    stores, skus = shelves
    store, sku = stores[2], skus[0]
    stop = asyncio.Event()

    async def background() -> None:  # keeps a gathered query in flight most of the time
        while not stop.is_set():
            await asyncio.gather(
                *(catalogue.admin.GetStock(pb.GetStockRequest(sku=skus[1], location_id="")) for _ in range(8))
            )

    traffic = [asyncio.create_task(background()) for _ in range(3)]
    try:
        for _ in range(25):
            level = await catalogue.receive(store, sku, 1)
            seen = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
            assert seen.version >= level.version
            assert seen.on_hand >= level.on_hand
    finally:
        stop.set()
        await asyncio.gather(*traffic)


async def test_gathered_reads_still_answer_an_unknown_sku_not_found(catalogue, shelves) -> None:
    stores, skus = shelves
    results = await asyncio.gather(
        catalogue.admin.GetStock(pb.GetStockRequest(sku=UNKNOWN_SKU, location_id=stores[0])),
        catalogue.admin.GetStock(pb.GetStockRequest(sku=skus[0], location_id=stores[0])),
        catalogue.admin.GetStock(pb.GetStockRequest(sku=skus[2], location_id="")),
        return_exceptions=True,
    )
    missing, stocked, never = results
    assert isinstance(missing, grpc.aio.AioRpcError)
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert [level.on_hand for level in stocked.levels] == [5]
    assert list(never.levels) == []
