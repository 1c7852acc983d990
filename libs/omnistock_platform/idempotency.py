"""Request-id idempotency for mutating calls.

The claim is an INSERT in the same transaction as the change it protects: a
concurrent duplicate waits on the row until the first commits, then reads its
answer. A failed call rolls its claim back, so a retry is evaluated afresh.

A change that asks another service to act before it writes its own part first
*begins* (`begin`): the request id is stored, unanswered, in a transaction of its
own. Should the process die after the other service acted, the retry learns that
it is resuming, and may accept what was meanwhile reconciled from the other
service (a reservation already collected, a task already handed over) as its own
doing instead of refusing it.

A stored answer belongs to its caller. The caller (role, subject and location scope of the token:
`caller_key`) is part of the request's fingerprint and is stored with it, so another caller who
sends the same request id is refused (`IdempotencyMismatch`, as for the same id with different
parameters), never answered with the first caller's data. The `Resumer` finishes a change on
behalf of the caller who began it (`acting_for`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from google.protobuf.message import Message

from omnistock_platform import deadlines
from omnistock_platform.auth import Principal, current_principal
from omnistock_platform.db import Database
from omnistock_platform.errors import (
    Aborted,
    IdempotencyMismatch,
    InvalidArgument,
    OmnistockError,
    ResourceExhausted,
    Unavailable,
)
from omnistock_platform.logging import get_logger
from omnistock_platform.statement import Statement

log = get_logger(__name__)

ResponseT = TypeVar("ResponseT", bound=Message)
T = TypeVar("T")


async def carried_through(change: Awaitable[T]) -> T:
    """Run a change to its end even when its caller stops waiting (a deadline passed, the client hung
    up and gRPC cancelled the call). A change that has asked another service to act (commit a hold,
    release it) must also record locally that it did: abandoned in between, the two services would
    disagree until somebody happened to send the same request again. The caller still sees its
    cancellation; a retry with the same request id then finds the stored answer. Its onward calls
    are not bounded by the caller's deadline (see `deadlines`): one begun as the caller's time runs
    out would otherwise be cut short once the other service acted, failing the change it was to finish."""
    task = asyncio.ensure_future(_unbounded(change))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_report_abandoned)
        raise


async def _unbounded(change: Awaitable[T]) -> T:
    deadlines.unbounded()  # in the change's own task: the caller's context keeps its deadline
    return await change


def _report_abandoned(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("change.failed_after_caller_left", error=repr(task.exception()))


@dataclass(frozen=True)
class Begun:
    """What `begin` found: the stored answer of a request already served, or whether this request
    id began before and never finished (its caller is retrying after a failure or a crash)."""

    answer: bytes | None = None
    resumed: bool = False


@dataclass(frozen=True)
class Unfinished:
    """A change that began and was never answered: its process died, or its caller went away."""

    request_id: str
    method: str
    request: bytes
    # Who began it (`caller_key`): the change is finished on their behalf.
    caller: str = ""


# Errors after which the same request may still succeed: a begun change stays begun.
TRANSIENT = (Aborted, ResourceExhausted, Unavailable)

# Set while a change is finished on behalf of the caller who began it (the Resumer): their key,
# not that of the principal running it. "" stands for requests stored before answers had owners.
acting_for: ContextVar[str | None] = ContextVar("acting_for", default=None)


@functools.lru_cache(maxsize=4096)
def caller_key(principal: Principal) -> str:
    """Who owns a request id's answer: the token's role, subject and location scope (a scope is part
    of what the caller may see), hashed to a fixed size; the role stays readable for operators."""
    digest = hashlib.sha256()
    for part in (principal.role, principal.subject, *sorted(principal.locations)):
        encoded = part.encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return f"{principal.role}:{digest.hexdigest()[:40]}"


def current_caller() -> str:
    on_behalf = acting_for.get()
    return on_behalf if on_behalf is not None else caller_key(current_principal())


def fingerprint(method: str, request: Message, caller: str | None = None) -> bytes:
    """What a request id is bound to: the method, the caller (by default the current one) and the
    request. A fingerprint of the caller "" is that of a request stored before answers had owners."""
    owner = current_caller() if caller is None else caller
    digest = hashlib.sha256(method.encode())
    if owner:
        digest.update(b"\x00caller\x00" + owner.encode() + b"\x00")
    digest.update(request.SerializeToString(deterministic=True))
    return digest.digest()


@dataclass(frozen=True)
class RequestRecord:
    """A change made under a request id: by which method, whether it went through (`answered`: a
    change that began before another service acted is stored unanswered until it finishes), when."""

    request_id: str
    method: str
    answered: bool
    created_at: datetime


class IdempotencyStore:
    def __init__(self, schema: str) -> None:
        self._table = f"{schema}.idempotency"

    async def claim(self, conn: asyncpg.Connection, request_id: str, method: str, request: Message) -> bytes | None:
        """None when this call owns the request id; otherwise the stored answer."""
        if not request_id:
            raise InvalidArgument.of("request_id", "is required on every change")
        caller = current_caller()
        expected = fingerprint(method, request, caller)
        statement = Statement()
        claim = self._claims(statement, method, [(request_id, expected, caller)])
        if await statement.fetchval(conn, f"SELECT EXISTS (SELECT 1 FROM {claim})"):
            return None
        # Locked: a request that began (see `begin`) and is resumed by two retries at once is finished
        # by one of them; the other then reads its answer.
        row = await conn.fetchrow(
            f"SELECT fingerprint, response FROM {self._table} WHERE request_id = $1 FOR UPDATE", request_id
        )
        if row is None or row["fingerprint"] != expected:
            raise IdempotencyMismatch(request_id)
        if row["response"] is None:
            return None  # begun by this same request, never finished: this call finishes it
        return bytes(row["response"])

    async def begin(self, db: Database, request_id: str, method: str, request: Message) -> Begun:
        """Record, before another service is asked to act, that this request id has begun (committed
        at once, unanswered). The change is finished later by `run`, which saves the answer."""
        if not request_id:
            raise InvalidArgument.of("request_id", "is required on every change")
        caller = current_caller()
        expected = fingerprint(method, request, caller)
        async with db.transaction() as conn:
            began = await conn.fetchval(
                f"INSERT INTO {self._table} (request_id, method, fingerprint, request, caller)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id) DO NOTHING RETURNING true",
                request_id,
                method,
                expected,
                request.SerializeToString(deterministic=True),
                caller,
            )
            if began:
                return Begun()
            row = await conn.fetchrow(
                f"SELECT fingerprint, response FROM {self._table} WHERE request_id = $1", request_id
            )
        if row is None or row["fingerprint"] != expected:
            raise IdempotencyMismatch(request_id)
        if row["response"] is not None:
            return Begun(answer=bytes(row["response"]))
        return Begun(resumed=True)

    def claim_part(self, statement: Statement, request_id: str, method: str, request: Message, caller: str) -> str:
        """The claim of `claim` as a part of `statement` (for a change that claims its request id
        and makes its change in one round trip); returns the part's name, which yields the request
        id when this call owns it. `caller`: the request's caller key (`current_caller`)."""
        return self._claims(statement, method, [(request_id, fingerprint(method, request, caller), caller)])

    async def claim_many(
        self, conn: asyncpg.Connection, method: str, requests: list[tuple[str, Message, str]]
    ) -> set[str]:
        """Claim several request ids (distinct, non-empty), each (request id, request, caller key), in
        one statement; returns those this call owns. The others were claimed before: each is answered
        by `claim` on its own, in its caller's context."""
        statement = Statement()
        claims = self._claims(
            statement,
            method,
            [(request_id, fingerprint(method, request, caller), caller) for request_id, request, caller in requests],
        )
        row = await statement.fetchrow(conn, f"SELECT array(SELECT request_id FROM {claims}) AS claimed")
        assert row is not None
        return set(row["claimed"])

    def _claims(self, statement: Statement, method: str, claims: list[tuple[str, bytes, str]]) -> str:
        """Insert (request id, fingerprint, caller) unless the request id is claimed already."""
        rows = statement.unnest(list(zip(*claims, strict=True)) or [[], [], []], ("text[]", "bytea[]", "text[]"))
        return statement.add(
            f"INSERT INTO {self._table} (request_id, method, fingerprint, caller)"
            f" SELECT r, {statement.param(method, 'text')}, f, c FROM {rows} AS t(r, f, c)"
            " ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
        )

    async def save(self, conn: asyncpg.Connection, request_id: str, response: Message) -> None:
        statement = Statement()
        self.save_many(statement, [(request_id, response)])
        await statement.execute(conn)

    def save_many(self, statement: Statement, answers: Sequence[tuple[str, Message]]) -> None:
        """Save each (request id, answer) for retries, as a part of `statement`, for request ids claimed
        by an earlier statement of the transaction (the parts of one statement do not see each other's rows)."""
        if not answers:
            return
        rows = statement.unnest(
            [[r for r, _ in answers], [a.SerializeToString(deterministic=True) for _, a in answers]],
            ("text[]", "bytea[]"),
        )
        statement.add(
            f"UPDATE {self._table} d SET response = a.response FROM {rows} AS a(request_id, response)"
            " WHERE d.request_id = a.request_id"
        )

    async def run(
        self,
        db: Database,
        method: str,
        request_id: str,
        request: Message,
        response_type: type[ResponseT],
        work: Callable[[asyncpg.Connection], Awaitable[ResponseT]],
    ) -> ResponseT:
        """Do `work` once per request id, in one transaction with the claim. Once begun it runs to
        its end even if the caller stops waiting (see `carried_through`)."""

        async def once() -> ResponseT:
            async with db.transaction() as conn:
                prior = await self.claim(conn, request_id, method, request)
                if prior is not None:
                    return response_type.FromString(prior)
                response = await work(conn)
                await self.save(conn, request_id, response)
                return response

        return await carried_through(once())

    async def run_resumable(
        self,
        db: Database,
        method: str,
        request: Message,
        response_type: type[ResponseT],
        work: Callable[[asyncpg.Connection], Awaitable[ResponseT]],
    ) -> ResponseT:
        """`run` for a change that asks another service to act first: begun before (see `resumable`),
        so that a change a crash cut short is finished."""
        request_id = str(getattr(request, "request_id", ""))

        async def change(_: Begun) -> ResponseT:
            return await self.run(db, method, request_id, request, response_type, work)

        return await self.resumable(db, method, request_id, request, response_type, change)

    async def resumable(
        self,
        db: Database,
        method: str,
        request_id: str,
        request: Message,
        response_type: type[ResponseT],
        change: Callable[[Begun], Awaitable[ResponseT]],
    ) -> ResponseT:
        """A change that asks another service to act before it writes its own part: begun first
        (so that a retry, or the service's `Resumer`, can finish it after a crash), answered from
        the store when it was finished before. Refused (a definite error: nothing was done), it is
        forgotten at once, so that a refusal leaves nothing behind."""
        begun = await self.begin(db, request_id, method, request)
        if begun.answer is not None:
            return response_type.FromString(begun.answer)
        try:
            return await change(begun)
        except OmnistockError as error:
            if not isinstance(error, TRANSIENT):
                await self.forget(db, request_id)
            raise

    async def began_at(self, db: Database, request_id: str) -> datetime | None:
        """When the request id was first stored (a change that began: when it began); None if it is not."""
        found: datetime | None = await db.fetchval(
            f"SELECT created_at FROM {self._table} WHERE request_id = $1", request_id
        )
        return found

    async def record_of(self, db: Database, request_id: str) -> RequestRecord | None:
        """The change the current caller made under `request_id`; None when it made none (another
        caller's change is not theirs to learn of)."""
        row = await db.fetchrow(
            f"SELECT method, response IS NOT NULL AS answered, created_at FROM {self._table}"
            " WHERE request_id = $1 AND caller = $2",
            request_id,
            current_caller(),
        )
        return None if row is None else RequestRecord(request_id, row["method"], row["answered"], row["created_at"])

    async def forget(self, db: Database, request_id: str) -> None:
        """Drop a begun request that was never answered: a retry is evaluated afresh."""
        await db.execute(f"DELETE FROM {self._table} WHERE request_id = $1 AND response IS NULL", request_id)

    async def unfinished(
        self, db: Database, older_than: timedelta, limit: int = 100, method: str | None = None
    ) -> list[Unfinished]:
        """Changes begun longer ago than `older_than` and never answered, oldest first; of one
        method when `method` is given."""
        rows = await db.fetch(
            f"SELECT request_id, method, request, caller FROM {self._table}"
            " WHERE response IS NULL AND request IS NOT NULL AND created_at < now() - $1::interval"
            " AND ($3::text IS NULL OR method = $3) ORDER BY created_at LIMIT $2",
            older_than,
            limit,
            method,
        )
        return [Unfinished(row["request_id"], row["method"], bytes(row["request"]), row["caller"]) for row in rows]

    async def purge(self, db: Database, older_than: timedelta) -> int:
        result = await db.execute(f"DELETE FROM {self._table} WHERE created_at < now() - $1::interval", older_than)
        return int(result.split()[-1])
