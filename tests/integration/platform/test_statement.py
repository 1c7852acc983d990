"""Writes of several owners in one statement: the idempotency claim gating a change, the outbox's
rows and the stored answers, each written by its own helper, committed or rolled back together."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from omnistock.inventory.v1 import inventory_pb2
from omnistock_platform.auth import Principal, Role, principal_var
from omnistock_platform.db import Database
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore, caller_key
from omnistock_platform.settings import Settings
from omnistock_platform.statement import Statement
from tests.integration.platform.support import unique_request_id

CALLER = caller_key(Principal(subject="till-7", role=Role.POS))


def receive(request_id: str) -> inventory_pb2.ReceiveStockRequest:
    return inventory_pb2.ReceiveStockRequest(request_id=request_id, location_id="L1", sku="SKU-1", quantity=5)


async def claim_and_change(db: Database, store: IdempotencyStore, schema: str, request_id: str) -> bool:
    """The claim and the change it protects in one round trip: the change only for the claim's owner."""
    async with db.transaction() as conn:
        statement = Statement()
        claim = store.claim_part(statement, request_id, "ReceiveStock", receive(request_id), CALLER)
        statement.add(f"INSERT INTO {schema}.effects (key) SELECT request_id FROM {claim}")
        return bool(await statement.fetchval(conn, f"SELECT EXISTS (SELECT 1 FROM {claim})"))


async def test_concurrent_claims_in_one_statement_have_one_owner_and_one_effect(db: Database, schema: str) -> None:
    store = IdempotencyStore(schema)
    request_id = unique_request_id()
    owners = await asyncio.gather(*(claim_and_change(db, store, schema, request_id) for _ in range(12)))
    assert owners.count(True) == 1
    assert await db.fetchval(f"SELECT count(*) FROM {schema}.effects WHERE key = $1", request_id) == 1
    # The claim is the one `claim` makes: the same caller's retry is this request, another caller is refused.
    token = principal_var.set(Principal(subject="till-7", role=Role.POS))
    try:
        async with db.transaction() as conn:
            assert await store.claim(conn, request_id, "ReceiveStock", receive(request_id)) is None  # never answered
    finally:
        principal_var.reset(token)


async def test_events_and_answers_are_written_with_the_change_or_not_at_all(
    db: Database, schema: str, omnistock_settings: Settings
) -> None:
    store, outbox = IdempotencyStore(schema), Outbox(omnistock_settings, schema)
    kept, dropped = unique_request_id(), unique_request_id()
    for request_id in (kept, dropped):
        assert await claim_and_change(db, store, schema, request_id)
    answer = inventory_pb2.ReceiveStockResponse(level=inventory_pb2.StockLevel(sku="SKU-1", on_hand=5))
    for request_id in (kept, dropped):
        with pytest.raises(RuntimeError) if request_id == dropped else contextlib.nullcontext():
            async with db.transaction() as conn:
                statement = Statement()
                events = [
                    outbox.prepare("stock.changed", answer.level, request_id),
                    outbox.prepare("stock.received", answer.level, request_id),
                ]
                outbox.add_many(statement, events)
                store.save_many(statement, [(request_id, answer)])
                await statement.execute(conn)
                if request_id == dropped:
                    raise RuntimeError("the change failed after its write")
    rows = await db.fetch(f"SELECT subject FROM {schema}.outbox ORDER BY id")
    assert [row["subject"] for row in rows] == [outbox.subject("stock.changed"), outbox.subject("stock.received")]
    answers = await db.fetch(f"SELECT request_id, response FROM {schema}.idempotency WHERE response IS NOT NULL")
    assert [(row["request_id"], bytes(row["response"])) for row in answers] == [
        (kept, answer.SerializeToString(deterministic=True))
    ]
