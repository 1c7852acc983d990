"""What an edit after the pick asked inventory to give back is recorded before inventory is asked,
and dropped with the transaction that announces it. An edit's event that is never handled to the
end (dead-lettered, or overtaken by a newer edit) leaves its record behind: fulfilment purges those
once inventory has forgotten the request id too (the idempotency retention), as answers to request
ids are purged."""

from __future__ import annotations

from datetime import timedelta

from omnistock_fulfilment.adapters import give_backs
from omnistock_fulfilment.entrypoints.main import bootstrap
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until


async def kept(db: Database, task_id: str) -> bool:
    return bool(await db.fetchval("SELECT count(*) FROM fulfilment.edit_give_backs WHERE task_id = $1", task_id))


async def test_a_running_fulfilment_purges_give_back_records_past_retention_and_keeps_recent_ones(
    stack: Stack, db: Database
) -> None:
    retention = timedelta(hours=48)
    old, recent = unique_id("TASK-"), unique_id("TASK-")
    async with db.transaction() as conn:
        for task_id in (old, recent):
            await give_backs.record(conn, task_id, unique_id("EVENT-"), {"SKU-SOFA": 1})
    await db.execute(
        "UPDATE fulfilment.edit_give_backs SET created_at = now() - $2::interval WHERE task_id = $1",
        old,
        retention + timedelta(hours=1),
    )

    app = bootstrap(stack.wired_settings(idempotency_retention=retention))
    await app.start(port=0)
    try:
        await wait_until(lambda: _gone(db, old), what="the record past retention purged")
    finally:
        await app.stop(1.0)
    assert await kept(db, recent)


async def _gone(db: Database, task_id: str) -> bool:
    return not await kept(db, task_id)


async def test_the_purge_takes_only_records_older_than_the_retention(db: Database) -> None:
    old, edge, recent = unique_id("TASK-"), unique_id("TASK-"), unique_id("TASK-")
    async with db.transaction() as conn:
        for task_id in (old, edge, recent):
            await give_backs.record(conn, task_id, unique_id("EVENT-"), {"SKU-SOFA": 2})
    for task_id, age in ((old, timedelta(days=3)), (edge, timedelta(hours=47))):
        await db.execute(
            "UPDATE fulfilment.edit_give_backs SET created_at = now() - $2::interval WHERE task_id = $1",
            task_id,
            age,
        )

    assert await give_backs.purge(db.pool, timedelta(hours=48)) >= 1

    assert [await kept(db, task_id) for task_id in (old, edge, recent)] == [False, True, True]
