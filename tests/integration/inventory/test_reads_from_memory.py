"""Stock reads from each inventory process's memory: read-your-writes with consistency tokens,
across processes and under concurrent writers; a restarted process loads before it answers; a
lost notification is found and repaired; a transaction still running keeps the watermark below it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_inventory.service_layer import stock_view
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.settings import InventorySettings
from omnistock_platform.db import Database
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until


def adjust(location_id: str, sku: str, delta: int) -> pb.AdjustStockRequest:
    return pb.AdjustStockRequest(
        request_id=unique_id(),
        location_id=location_id,
        sku=sku,
        reason=pb.ADJUSTMENT_REASON_CORRECTION,
        delta=delta,
    )


@pytest_asyncio.fixture
async def second_inventory(stack: Stack, tmp_path) -> AsyncIterator[tuple[ServiceProcess, object]]:
    """Another inventory process on the same database: it hears of writes made elsewhere only
    through the database's notifications."""
    process = await ServiceProcess(stack.settings, "inventory", log_file=tmp_path / "inventory.log").start()
    stub = inventory_pb2_grpc.InventoryServiceStub(stack.channel("inventory", address=process.address))
    try:
        yield process, stub
    finally:
        process.terminate()


async def test_every_stock_write_answers_a_token(catalogue) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    receipt = await catalogue.admin.ReceiveStock(
        pb.ReceiveStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=5)
    )
    adjusted = await catalogue.admin.AdjustStock(adjust(store, sku, 1))
    hold = await catalogue.admin.Hold(
        pb.HoldRequest(
            request_id=unique_id(),
            owner="order:token",
            channel=common_pb2.CHANNEL_WEB,
            lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=2)],
        )
    )
    committed = await catalogue.admin.CommitHold(
        pb.CommitHoldRequest(request_id=unique_id(), hold_id=hold.hold.hold_id)
    )
    tokens = [int(r.consistency_token) for r in (receipt, adjusted, hold, committed)]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)  # each write a later state
    seen = await catalogue.admin.GetStock(
        pb.GetStockRequest(sku=sku, location_id=store, min_consistency_token=committed.consistency_token)
    )
    assert (seen.levels[0].on_hand, seen.levels[0].held) == (4, 0)
    assert seen.HasField("as_of")
    if seen.consistency_token:  # from memory (the database answers one that waited too long)
        assert int(seen.consistency_token) >= tokens[-1]


async def test_readers_with_tokens_never_see_an_older_version_than_their_write(
    stack: Stack, catalogue, second_inventory
) -> None:
    """Writers on one process, readers with each write's token on another: every read shows the
    write's version or a later one; most come from memory (an answer from the database has no
    token: a read that waited too long for the memory goes there)."""
    _, other = second_inventory
    store, skus = await catalogue.location(), [await catalogue.sku() for _ in range(3)]
    for sku in skus:
        await catalogue.receive(store, sku, 1000)
    stale: list[str] = []
    from_memory = 0

    async def writer(worker: int) -> None:
        nonlocal from_memory
        sku = skus[worker % len(skus)]
        for _ in range(15):
            written = await catalogue.admin.AdjustStock(adjust(store, sku, -1))
            request = pb.GetStockRequest(sku=sku, location_id=store, min_consistency_token=written.consistency_token)
            for reader in (other, catalogue.admin):
                seen = await reader.GetStock(request)
                from_memory += bool(seen.consistency_token)
                if seen.levels[0].version < written.level.version:
                    stale.append(f"{sku} v{seen.levels[0].version} < v{written.level.version} {seen}")
                found = await reader.FindAvailability(
                    pb.FindAvailabilityRequest(
                        items=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
                        min_consistency_token=written.consistency_token,
                    )
                )
                version = next(level.version for level in found.locations[0].levels if level.sku == sku)
                if version < written.level.version:
                    stale.append(f"FindAvailability {sku} v{version} < v{written.level.version}")

    async def chained_reader() -> None:
        """A reader passing the token of its previous read never goes back in time."""
        token, version = "", 0
        for _ in range(40):
            seen = await other.BatchGetStock(
                pb.BatchGetStockRequest(skus=skus, location_ids=[store], min_consistency_token=token)
            )
            now = sum(level.version for level in seen.levels)
            if now < version:
                stale.append(f"BatchGetStock went back from {version} to {now}")
            token, version = seen.consistency_token or token, now

    await asyncio.gather(*(writer(i) for i in range(6)), chained_reader(), chained_reader())
    assert stale == []
    assert from_memory > 6 * 15  # of 180 reads
    final = await catalogue.admin.GetStock(pb.GetStockRequest(sku=skus[0], location_id=store))
    assert final.levels[0].on_hand == 1000 - 30


async def test_a_restarted_process_loads_before_it_answers(stack: Stack, catalogue, second_inventory) -> None:
    process, other = second_inventory
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 10)
    process.kill()
    # While it is down: changes it cannot hear of.
    written = await catalogue.admin.AdjustStock(adjust(store, sku, 7))
    await process.start()  # returns once the process reports SERVING
    seen = await other.GetStock(pb.GetStockRequest(sku=sku, location_id=store))
    assert seen.consistency_token  # from memory, not the database
    assert seen.levels[0].version == written.level.version
    assert seen.levels[0].on_hand == 17


async def test_a_read_without_a_token_says_how_fresh_it_is(catalogue) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    level = await catalogue.receive(store, sku, 3)

    async def caught_up() -> bool:
        seen = await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))
        return bool(seen.levels) and seen.levels[0].version == level.version

    await wait_until(caught_up, timeout=5, what="the receipt in memory")
    seen = await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku))
    assert seen.as_of.ToDatetime() >= level.updated_at.ToDatetime()


@pytest.mark.parametrize("token", ["yesterday", "4²", "9" * 5000])
async def test_a_token_that_is_not_one_is_refused(catalogue, token: str) -> None:
    """Whatever the text: digits int() cannot read ("²") or more of them than it reads are the
    caller's mistake (INVALID_ARGUMENT naming the field), never the service's failure."""
    sku = await catalogue.sku()
    for read in (
        catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, min_consistency_token=token)),
        catalogue.admin.BatchGetStock(pb.BatchGetStockRequest(skus=[sku], min_consistency_token=token)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await read
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        (bad,) = details_of(refused.value, error_details_pb2.BadRequest)
        assert [violation.field for violation in bad.field_violations] == ["min_consistency_token"]


async def test_with_the_view_off_reads_come_from_the_database(stack: Stack, catalogue) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    written = await catalogue.admin.ReceiveStock(
        pb.ReceiveStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=4)
    )
    process = await ServiceProcess(stack.settings, "inventory", extra_env={"OMNISTOCK_STOCK_VIEW": "false"}).start()
    try:
        stub = inventory_pb2_grpc.InventoryServiceStub(stack.channel("inventory", address=process.address))
        seen = await stub.GetStock(pb.GetStockRequest(sku=sku, min_consistency_token=written.consistency_token))
        assert seen.consistency_token == ""  # the database answered
        assert seen.levels[0].on_hand == 4 and seen.HasField("as_of")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetStock(pb.GetStockRequest(sku=sku, location_id=unique_id("NOWHERE-")))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        process.terminate()


# --- the view on its own, against the test database ---------------------------------------------


@contextlib.asynccontextmanager
async def running(view: StockView) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    await view.load()
    task = asyncio.create_task(view.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await task


def view_of(db: Database, stack: Stack, **settings: object) -> StockView:
    return StockView(db, InventorySettings.of(stack.settings).model_copy(update=settings))


async def test_a_lost_notification_is_repaired_by_the_next_one(stack: Stack, catalogue, db) -> None:
    store, first, second = await catalogue.location(), await catalogue.sku(), await catalogue.sku()
    view = view_of(db, stack, stock_view_check_interval=timedelta(hours=1))
    lost: list[int] = []
    hear = view.heard

    def lossy(payload: str) -> None:
        """Every notification is lost until the test knows the first receipt's number; then only that one's."""
        if not lost or int(payload) <= lost[0]:
            return
        hear(payload)

    view.heard = lossy  # type: ignore[method-assign]
    gaps = stock_view.GAPS._value.get()
    async with running(view):
        await catalogue.receive(store, first, 5)
        lost.append(
            await db.pool.fetchval(
                "SELECT change_seq FROM inventory.stock WHERE location_id = $1 AND sku = $2", store, first
            )
        )
        await catalogue.receive(store, second, 6)
        await wait_until(lambda: any(view.rows(second)), timeout=5, what="the second receipt in memory")
        assert [row["on_hand"] for row in view.rows(first)] == [5]
    assert stock_view.GAPS._value.get() > gaps


async def test_a_lost_last_notification_is_repaired_by_the_check(stack: Stack, catalogue, db) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    view = view_of(db, stack, stock_view_check_interval=timedelta(milliseconds=100))
    view.heard = lambda payload: None  # type: ignore[method-assign]  # every notification lost
    repaired = stock_view.REPAIRED._value.get()
    async with running(view):
        await catalogue.receive(store, sku, 9)
        await wait_until(lambda: any(view.rows(sku)), timeout=5, what="the receipt found by the check")
    assert [row["on_hand"] for row in view.rows(sku)] == [9]
    assert stock_view.REPAIRED._value.get() > repaired


async def test_a_transaction_still_running_holds_the_watermark_below_its_change(stack: Stack, catalogue, db) -> None:
    """A change numbered before another but committed after it is not skipped: the watermark stays
    below the open transaction's number until it ends, and the round after its commit reads it."""
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 1)
    view = view_of(db, stack, stock_view_check_interval=timedelta(hours=1))
    await view.load()
    async with db.pool.acquire() as slow, slow.transaction():
        number = await slow.fetchval(
            "UPDATE inventory.locations SET name = 'Renamed' WHERE location_id = $1 RETURNING change_seq", store
        )
        await catalogue.admin.AdjustStock(adjust(store, sku, 1))  # a higher number, committed first
        await view.refresh("check")
        assert [(row["on_hand"], row["name"]) for row in view.rows(sku)] == [(2, f"Store {store}")]
        assert view.watermark < number
    await view.refresh("check")
    await view.refresh("check")
    assert [(row["on_hand"], row["name"]) for row in view.rows(sku)] == [(2, "Renamed")]
    assert view.watermark >= number


async def test_a_transaction_that_writes_no_stock_does_not_hold_the_watermark(stack: Stack, catalogue, db) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    view = view_of(db, stack, stock_view_check_interval=timedelta(hours=1))
    await view.load()
    async with db.pool.acquire() as elsewhere, elsewhere.transaction():
        await elsewhere.fetchval("SELECT pg_current_xact_id()")  # running, with an id, but no stock
        await catalogue.receive(store, sku, 3)
        number = await db.pool.fetchval(
            "SELECT change_seq FROM inventory.stock WHERE location_id = $1 AND sku = $2", store, sku
        )
        await view.refresh("check")
        await view.refresh("check")
        assert view.watermark >= number


async def test_a_transaction_with_a_newer_id_than_the_last_commit_holds_the_watermark(
    stack: Stack, catalogue, db
) -> None:
    """A snapshot lists running transactions only up to the newest that had ended: one that took
    its id after that one's, and its change number before that one's, still holds the watermark
    below its number, and the round after its commit reads its change."""
    store, elsewhere, sku = await catalogue.location(), await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 1)
    view = view_of(db, stack, stock_view_check_interval=timedelta(hours=1))
    await view.load()
    async with db.pool.acquire() as first, db.pool.acquire() as slow:
        committing = first.transaction()
        await committing.start()
        await first.fetchval("SELECT pg_current_xact_id()")  # the older id
        async with slow.transaction():
            number = await slow.fetchval(
                "UPDATE inventory.locations SET name = 'Renamed' WHERE location_id = $1 RETURNING change_seq", store
            )
            higher = await first.fetchval(
                "UPDATE inventory.locations SET name = 'Other' WHERE location_id = $1 RETURNING change_seq", elsewhere
            )
            await committing.commit()
            assert higher > number
            for _ in range(3):
                await view.refresh("check")
            assert [row["name"] for row in view.rows(sku)] == [f"Store {store}"]
            assert view.watermark < number
    for _ in range(2):
        await view.refresh("check")
    assert [row["name"] for row in view.rows(sku)] == ["Renamed"]
    assert view.watermark >= higher
