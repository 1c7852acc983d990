"""The delivery queues in PostgreSQL under concurrency: the fan-out of a new event and the finish of
the queue's head, in either order, never deadlock (a deadlock cost a lease, 30 s, per delivery)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from omnistock_platform.db import Database
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import wait_until
from omnistock_webhooks.adapters import repository
from omnistock_webhooks.domain.delivery import Attempt, Outcome, State

KEY = "stock:STORE-Q/SKU-Q"
# The test's subscription matches no event a service publishes: the running service's fan-out of
# the run's live events never adds to its queue, only the test does.
NOTHING_PUBLISHED = "queues.test.only"


async def queue_one(db: Database, subscription_id: str, seq: int) -> None:
    async with db.transaction() as conn:
        await repository.queue_event(
            conn, str(uuid.uuid4()), "inventory.stock.changed", "{}", seq, KEY, [subscription_id]
        )


async def test_a_new_event_and_the_finish_of_the_head_never_deadlock(db: Database) -> None:
    subscription_id = str(uuid.uuid4())
    async with db.transaction() as conn:
        # Paused: the running service's dispatcher leaves its deliveries alone.
        await repository.insert_subscription(
            conn, subscription_id, "http://127.0.0.1:9/", [NOTHING_PUBLISHED], "queues", True, 0, "whsec_" + unique_id()
        )
    try:
        await queue_one(db, subscription_id, 1)
        head = await db.fetchval(
            "SELECT delivery_id FROM webhooks.deliveries WHERE subscription_id = $1 AND is_head", subscription_id
        )
        async with db.transaction() as conn:
            (claimed,) = await repository.claim(conn, [head], timedelta(minutes=1), 5)

        # The fan-out of the next event holds the queue, then the head is finished meanwhile.
        async with db.transaction() as fanout:
            await fanout.execute("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", subscription_id, KEY)

            async def finish() -> None:
                async with db.transaction() as conn:
                    await repository.finish(conn, claimed, State.DELIVERED)

            finishing = asyncio.create_task(finish())
            # The finish waits for the queue (before the fix: it had locked the head's row first).
            await wait_until(lambda: _waiting(db), what="the finish waiting for a lock")
            await repository.queue_event(
                fanout, str(uuid.uuid4()), "inventory.stock.changed", "{}", 2, KEY, [subscription_id]
            )
        await asyncio.wait_for(finishing, 10)

        rows = await db.fetch(
            "SELECT stream_seq, state, is_head FROM webhooks.deliveries WHERE subscription_id = $1 ORDER BY stream_seq",
            subscription_id,
        )
        assert [(r["stream_seq"], r["state"], r["is_head"]) for r in rows] == [
            (1, "delivered", False),
            (2, "pending", True),
        ]
    finally:
        await db.execute("DELETE FROM webhooks.subscriptions WHERE subscription_id = $1", subscription_id)


async def _waiting(db: Database) -> bool:
    return bool(
        await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )


async def test_an_attempt_s_outcome_and_the_deletion_of_its_subscription_never_deadlock(db: Database) -> None:
    """The subscription is deleted while a delivery's outcome is written: the deletion holds the
    subscription's queues and deletes the attempts with it, so an outcome that wrote its attempt
    before waiting for the queue deadlocked with it (DeleteSubscription answered ABORTED)."""
    subscription_id = str(uuid.uuid4())
    async with db.transaction() as conn:
        await repository.insert_subscription(
            conn, subscription_id, "http://127.0.0.1:9/", [NOTHING_PUBLISHED], "queues", True, 0, "whsec_" + unique_id()
        )
    try:
        await queue_one(db, subscription_id, 1)
        head = await db.fetchval(
            "SELECT delivery_id FROM webhooks.deliveries WHERE subscription_id = $1 AND is_head", subscription_id
        )
        async with db.transaction() as conn:
            (claimed,) = await repository.claim(conn, [head], timedelta(minutes=1), 5)

        async with db.transaction() as deleting:
            await repository.lock_subscription_queues(deleting, subscription_id)

            async def outcome() -> None:
                async with db.transaction() as conn:
                    delivered = Attempt(
                        claimed_at(), Outcome(204, timedelta(milliseconds=5), ""), State.DELIVERED, timedelta(0)
                    )
                    await repository.record_outcome(conn, claimed, delivered)

            writing = asyncio.create_task(outcome())
            await wait_until(lambda: _waiting(db), what="the outcome waiting for a lock")
            assert await repository.delete_subscription(deleting, subscription_id) == 1
        await asyncio.wait_for(writing, 10)

        left = await db.fetchval("SELECT count(*) FROM webhooks.deliveries WHERE subscription_id = $1", subscription_id)
        assert left == 0
    finally:
        await db.execute("DELETE FROM webhooks.subscriptions WHERE subscription_id = $1", subscription_id)


def claimed_at() -> datetime:
    return datetime.now(UTC)
