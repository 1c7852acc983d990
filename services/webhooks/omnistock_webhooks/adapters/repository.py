"""SQL of the webhooks schema behind plain functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from omnistock_webhooks.domain.delivery import Attempt, State

S = "webhooks"
# Wakes the dispatchers of every process: new deliveries, replays, a subscription resumed.
CHANNEL = "webhooks_deliveries"
SUBSCRIPTION_COLUMNS = (
    "subscription_id, url, event_types, description, paused, max_attempts, secret_created_at,"
    " previous_secret_expires_at, created_at, updated_at"
)


async def notify(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


# ---- subscriptions ---------------------------------------------------------------------------------


async def insert_subscription(
    conn: asyncpg.Connection,
    subscription_id: str,
    url: str,
    event_types: Sequence[str],
    description: str,
    paused: bool,
    max_attempts: int,
    secret: str,
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"INSERT INTO {S}.subscriptions"
        " (subscription_id, url, event_types, description, paused, max_attempts, secret)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {SUBSCRIPTION_COLUMNS}",
        subscription_id,
        url,
        list(event_types),
        description,
        paused,
        max_attempts,
        secret,
    )


async def get_subscription(conn: asyncpg.Connection, subscription_id: str, *, lock: bool = False) -> asyncpg.Record:
    return await conn.fetchrow(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM {S}.subscriptions WHERE subscription_id = $1"
        + (" FOR UPDATE" if lock else ""),
        subscription_id,
    )


async def list_subscriptions(
    conn: asyncpg.Connection, after: tuple[datetime, str] | None, limit: int
) -> list[asyncpg.Record]:
    if after is None:
        return await conn.fetch(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM {S}.subscriptions ORDER BY created_at, subscription_id LIMIT $1",
            limit,
        )
    return await conn.fetch(
        f"SELECT {SUBSCRIPTION_COLUMNS} FROM {S}.subscriptions WHERE (created_at, subscription_id) > ($1, $2)"
        " ORDER BY created_at, subscription_id LIMIT $3",
        after[0],
        after[1],
        limit,
    )


async def update_subscription(conn: asyncpg.Connection, subscription_id: str, changes: dict[str, Any]) -> None:
    """`changes` maps column names (from a fixed list in the use case) to their new values."""
    assignments = ", ".join(f"{column} = ${index}" for index, column in enumerate(changes, start=2))
    await conn.execute(
        f"UPDATE {S}.subscriptions SET {assignments}, updated_at = now() WHERE subscription_id = $1",
        subscription_id,
        *changes.values(),
    )


async def lock_subscription_queues(conn: asyncpg.Connection, subscription_id: str) -> None:
    """Takes the lock of every queue of the subscription (lock_queues), before its row and its
    deliveries: a deletion then waits for a fan-out or a finish in progress instead of deadlocking
    with it (each of those holds a queue and wants the subscription's or its deliveries' rows)."""
    keys = await conn.fetch(
        f"SELECT DISTINCT ordering_key FROM {S}.deliveries WHERE subscription_id = $1", subscription_id
    )
    await lock_queues(conn, [(subscription_id, row["ordering_key"]) for row in keys])


async def delete_subscription(conn: asyncpg.Connection, subscription_id: str) -> int:
    """Deletes it with its deliveries and attempts (cascade); returns the pending deliveries dropped.
    The caller holds its queues (lock_subscription_queues)."""
    return int(
        await conn.fetchval(
            f"WITH gone AS (DELETE FROM {S}.subscriptions WHERE subscription_id = $1 RETURNING subscription_id)"
            f" SELECT count(*) FROM {S}.deliveries d JOIN gone USING (subscription_id) WHERE d.state = 'pending'",
            subscription_id,
        )
    )


async def rotate_secret(
    conn: asyncpg.Connection, subscription_id: str, secret: str, keep_previous_for: timedelta
) -> None:
    await conn.execute(
        f"UPDATE {S}.subscriptions SET"
        " previous_secret = CASE WHEN $3 > interval '0' THEN secret END,"
        " previous_secret_expires_at = CASE WHEN $3 > interval '0' THEN now() + $3 END,"
        " secret = $2, secret_created_at = now(), updated_at = now()"
        " WHERE subscription_id = $1",
        subscription_id,
        secret,
        keep_previous_for,
    )


async def delivery_counts(conn: asyncpg.Connection, subscription_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(pending, dead) per subscription."""
    rows = await conn.fetch(
        f"SELECT subscription_id, count(*) FILTER (WHERE state = 'pending') AS pending,"
        " count(*) FILTER (WHERE state = 'dead') AS dead"
        f" FROM {S}.deliveries WHERE subscription_id = ANY($1::text[]) AND state <> 'delivered'"
        " GROUP BY subscription_id",
        list(subscription_ids),
    )
    return {row["subscription_id"]: (row["pending"], row["dead"]) for row in rows}


async def subscribers_at(conn: asyncpg.Connection, at: datetime) -> list[asyncpg.Record]:
    """Subscriptions that existed when an event happened: (subscription_id, event_types)."""
    return await conn.fetch(f"SELECT subscription_id, event_types FROM {S}.subscriptions WHERE created_at <= $1", at)


# ---- the fan-out -----------------------------------------------------------------------------------


async def queue_event(
    conn: asyncpg.Connection,
    event_id: str,
    event_type: str,
    body: str,
    stream_seq: int,
    ordering_key: str,
    subscription_ids: Sequence[str],
) -> None:
    """The event once, a pending delivery of it per subscription, and each queue's head put right."""
    await lock_queues(conn, [(subscription_id, ordering_key) for subscription_id in subscription_ids])
    await conn.execute(
        f"INSERT INTO {S}.events (event_id, type, body, stream_seq) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (event_id) DO NOTHING",
        event_id,
        event_type,
        body,
        stream_seq,
    )
    await conn.execute(
        f"INSERT INTO {S}.deliveries (subscription_id, event_id, event_type, stream_seq, ordering_key)"
        " SELECT unnest($1::text[]), $2, $3, $4, $5 ON CONFLICT (subscription_id, event_id) DO NOTHING",
        list(subscription_ids),
        event_id,
        event_type,
        stream_seq,
        ordering_key,
    )
    for subscription_id in sorted(subscription_ids):
        await refresh_head(conn, subscription_id, ordering_key)


async def lock_queues(conn: asyncpg.Connection, queues: Sequence[tuple[str, str]]) -> None:
    """Takes the lock of each (subscription, ordering key) queue, in one order for everybody and
    before any of its rows: a change that updated a delivery first and then waited for its queue
    would deadlock with one that holds the queue and wants that delivery."""
    for subscription_id, ordering_key in sorted(set(queues)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", subscription_id, ordering_key)


async def refresh_head(conn: asyncpg.Connection, subscription_id: str, ordering_key: str) -> None:
    """Marks the earliest pending delivery of one (subscription, ordering key) as its head, and no
    other. The caller holds the queue's lock (lock_queues), so concurrent fan-outs and finishes agree."""
    await conn.execute(
        f"WITH first AS (SELECT delivery_id FROM {S}.deliveries"
        "  WHERE subscription_id = $1 AND ordering_key = $2 AND state = 'pending'"
        "  ORDER BY stream_seq, delivery_id LIMIT 1)"
        f" UPDATE {S}.deliveries d SET is_head = (d.delivery_id = (SELECT delivery_id FROM first))"
        " WHERE d.subscription_id = $1 AND d.ordering_key = $2"
        " AND (d.is_head OR d.delivery_id = (SELECT delivery_id FROM first))",
        subscription_id,
        ordering_key,
    )


# ---- the dispatcher --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    subscription_id: str
    event_id: str
    ordering_key: str
    attempt: int
    # The attempt number this round began after (0, or `attempts` when it was last replayed).
    round_start: int
    max_attempts: int
    url: str
    secrets: tuple[str, ...]
    body: bytes


async def due_heads(
    conn: asyncpg.Connection, floor: int, per_subscription: int, limit: int, busy: Sequence[str]
) -> list[asyncpg.Record]:
    """Heads that may be sent now, oldest due first, at most `per_subscription` of each: only events
    up to `floor` (every earlier event of the stream is in the queues), none of a paused
    subscription, none of a subscription in `busy`, none another dispatcher holds."""
    return await conn.fetch(
        "SELECT delivery_id, subscription_id FROM ("
        "  SELECT d.delivery_id, d.subscription_id, d.next_attempt_at,"
        "   row_number() OVER (PARTITION BY d.subscription_id ORDER BY d.next_attempt_at, d.delivery_id) AS rank"
        f"  FROM {S}.deliveries d JOIN {S}.subscriptions s USING (subscription_id)"
        "  WHERE d.is_head AND d.state = 'pending' AND d.next_attempt_at <= now()"
        "   AND (d.leased_until IS NULL OR d.leased_until < now()) AND d.stream_seq <= $1 AND NOT s.paused"
        "   AND NOT (d.subscription_id = ANY($2::text[]))"
        ") due WHERE rank <= $3 ORDER BY next_attempt_at, delivery_id LIMIT $4",
        floor,
        list(busy),
        per_subscription,
        limit,
    )


async def claim(
    conn: asyncpg.Connection, delivery_ids: Sequence[int], lease: timedelta, default_attempts: int
) -> list[Claimed]:
    """Leases the deliveries still free (another dispatcher may have taken some meanwhile), counts
    their attempt and opens its log row, and answers what sending them needs."""
    # Rows another transaction holds (a deletion of their subscription, a finish) are left for the
    # next round: waiting for them while holding the others could deadlock with it.
    rows = await conn.fetch(
        f"WITH free AS (SELECT delivery_id FROM {S}.deliveries"
        "  WHERE delivery_id = ANY($1::bigint[]) AND state = 'pending' AND is_head"
        "  AND (leased_until IS NULL OR leased_until < now())"
        "  ORDER BY delivery_id FOR UPDATE SKIP LOCKED),"
        f" taken AS (UPDATE {S}.deliveries d SET leased_until = now() + $2, attempts = d.attempts + 1"
        "  FROM free WHERE d.delivery_id = free.delivery_id"
        "  RETURNING d.delivery_id, d.subscription_id, d.event_id, d.ordering_key, d.attempts, d.replayed_after),"
        f" logged AS (INSERT INTO {S}.attempts (delivery_id, number, started_at)"
        "  SELECT delivery_id, attempts, now() FROM taken ON CONFLICT (delivery_id, number) DO UPDATE"
        "  SET started_at = excluded.started_at, status_code = 0, latency = NULL, error = '')"
        " SELECT t.*, s.url, s.max_attempts, s.secret,"
        "  CASE WHEN s.previous_secret_expires_at > now() THEN s.previous_secret END AS previous_secret, e.body"
        f" FROM taken t JOIN {S}.subscriptions s USING (subscription_id) JOIN {S}.events e USING (event_id)",
        list(delivery_ids),
        lease,
    )
    return [
        Claimed(
            delivery_id=row["delivery_id"],
            subscription_id=row["subscription_id"],
            event_id=str(row["event_id"]),
            ordering_key=row["ordering_key"],
            attempt=row["attempts"],
            round_start=row["replayed_after"],
            max_attempts=row["max_attempts"] or default_attempts,
            url=row["url"],
            secrets=tuple(filter(None, (row["secret"], row["previous_secret"]))),
            body=row["body"].encode(),
        )
        for row in rows
    ]


async def record_attempt(conn: asyncpg.Connection, claimed: Claimed, attempt: Attempt) -> None:
    outcome = attempt.outcome
    await conn.execute(
        f"UPDATE {S}.attempts SET started_at = $3, status_code = $4, latency = $5, error = $6"
        " WHERE delivery_id = $1 AND number = $2",
        claimed.delivery_id,
        claimed.attempt,
        attempt.started_at,
        outcome.status_code,
        outcome.latency,
        outcome.error,
    )


async def finish(conn: asyncpg.Connection, claimed: Claimed, state: State) -> None:
    """Delivered or dead: out of its queue, and the next delivery of the queue becomes the head."""
    await lock_queues(conn, [(claimed.subscription_id, claimed.ordering_key)])
    updated = await conn.execute(
        f"UPDATE {S}.deliveries SET state = $2, finished_at = now(), leased_until = NULL, is_head = false"
        " WHERE delivery_id = $1 AND state = 'pending' AND attempts = $3",
        claimed.delivery_id,
        state.value,
        claimed.attempt,
    )
    if updated.endswith(" 1"):
        await refresh_head(conn, claimed.subscription_id, claimed.ordering_key)


async def record_outcome(conn: asyncpg.Connection, claimed: Claimed, attempt: Attempt) -> None:
    """An attempt's outcome: the attempt recorded, then the delivery tried again later (PENDING,
    after the attempt's delay) or out of its queue. The queue's lock comes first, before the
    attempt's row (lock_queues): a deletion of the subscription holds its queues and deletes the
    attempts, so an outcome that wrote its attempt and then waited for the queue deadlocked with it."""
    await lock_queues(conn, [(claimed.subscription_id, claimed.ordering_key)])
    await record_attempt(conn, claimed, attempt)
    if attempt.state is State.PENDING:
        await retry_later(conn, claimed, attempt.delay)
    else:
        await finish(conn, claimed, attempt.state)


async def retry_later(conn: asyncpg.Connection, claimed: Claimed, delay: timedelta) -> None:
    await conn.execute(
        f"UPDATE {S}.deliveries SET next_attempt_at = now() + $2, leased_until = NULL"
        " WHERE delivery_id = $1 AND state = 'pending' AND attempts = $3",
        claimed.delivery_id,
        delay,
        claimed.attempt,
    )


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval(f"SELECT min(next_attempt_at) FROM {S}.deliveries WHERE is_head AND state = 'pending'")


async def purge_finished(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Delivered and dead deliveries past retention (their attempts go with them), the events
    nothing refers to any more, and the consumer's inbox rows of events older than the stream keeps
    (7 days), which can never be delivered again."""
    await conn.execute(f"DELETE FROM {S}.inbox WHERE handled_at < now() - greatest($1::interval, '8 days')", older_than)
    deleted = await conn.execute(
        f"DELETE FROM {S}.deliveries WHERE finished_at < now() - $1::interval AND state <> 'pending'", older_than
    )
    await conn.execute(
        f"DELETE FROM {S}.events e WHERE e.created_at < now() - $1::interval"
        f" AND NOT EXISTS (SELECT 1 FROM {S}.deliveries d WHERE d.event_id = e.event_id)",
        older_than,
    )
    return int(deleted.split()[-1])


# ---- the delivery log ------------------------------------------------------------------------------


async def list_deliveries(
    conn: asyncpg.Connection,
    subscription_id: str,
    state: State | None,
    event_id: str | None,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT delivery_id, subscription_id, event_id, event_type, ordering_key, state, created_at,"
        " next_attempt_at, finished_at, replays, is_head"
        f" FROM {S}.deliveries WHERE subscription_id = $1"
        " AND ($2::text IS NULL OR state = $2) AND ($3::uuid IS NULL OR event_id = $3)"
        " AND ($4::bigint IS NULL OR delivery_id < $4)"
        " ORDER BY delivery_id DESC LIMIT $5",
        subscription_id,
        state.value if state else None,
        event_id,
        before,
        limit,
    )


async def attempts_of(conn: asyncpg.Connection, delivery_ids: Sequence[int]) -> dict[int, list[asyncpg.Record]]:
    rows = await conn.fetch(
        f"SELECT delivery_id, number, started_at, status_code, latency, error FROM {S}.attempts"
        " WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id, number",
        list(delivery_ids),
    )
    found: dict[int, list[asyncpg.Record]] = {}
    for row in rows:
        found.setdefault(row["delivery_id"], []).append(row)
    return found


async def states_of(conn: asyncpg.Connection, subscription_id: str, delivery_ids: Sequence[int]) -> dict[int, str]:
    rows = await conn.fetch(
        f"SELECT delivery_id, state FROM {S}.deliveries WHERE subscription_id = $1 AND delivery_id = ANY($2::bigint[])"
        " FOR UPDATE",
        subscription_id,
        list(delivery_ids),
    )
    return {row["delivery_id"]: row["state"] for row in rows}


async def replay(conn: asyncpg.Connection, subscription_id: str, delivery_ids: Sequence[int] | None) -> int:
    """Dead deliveries back in their queues with a fresh set of attempts (numbering goes on)."""
    chosen = list(delivery_ids) if delivery_ids is not None else None
    keys = [
        row["ordering_key"]
        for row in await conn.fetch(
            f"SELECT DISTINCT ordering_key FROM {S}.deliveries WHERE subscription_id = $1 AND state = 'dead'"
            " AND ($2::bigint[] IS NULL OR delivery_id = ANY($2::bigint[]))",
            subscription_id,
            chosen,
        )
    ]
    await lock_queues(conn, [(subscription_id, key) for key in keys])
    replayed = await conn.execute(
        f"UPDATE {S}.deliveries SET state = 'pending', finished_at = NULL, next_attempt_at = now(),"
        " leased_until = NULL, replays = replays + 1, replayed_after = attempts"
        " WHERE subscription_id = $1 AND state = 'dead' AND ($2::bigint[] IS NULL OR delivery_id = ANY($2::bigint[]))"
        " AND ordering_key = ANY($3::text[])",
        subscription_id,
        chosen,
        keys,
    )
    for key in sorted(keys):
        await refresh_head(conn, subscription_id, key)
    return int(replayed.split()[-1])
