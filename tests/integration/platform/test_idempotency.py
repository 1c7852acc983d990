"""IdempotencyStore against real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import asyncpg
import grpc
import pytest

from omnistock.inventory.v1 import inventory_pb2
from omnistock_platform.auth import Principal, Role, principal_var
from omnistock_platform.db import Database
from omnistock_platform.errors import FailedPrecondition, IdempotencyMismatch, InvalidArgument, Unavailable
from omnistock_platform.grpc.errors import to_status
from omnistock_platform.idempotency import Begun, IdempotencyStore, acting_for, fingerprint
from omnistock_platform.resuming import Resumer
from omnistock_platform.settings import Settings
from tests.integration.platform.support import unique_request_id

METHOD = "ReceiveStock"
Response = inventory_pb2.ReceiveStockResponse


def receive(request_id: str, quantity: int = 5) -> inventory_pb2.ReceiveStockRequest:
    return inventory_pb2.ReceiveStockRequest(request_id=request_id, location_id="L1", sku="SKU-1", quantity=quantity)


def work_for(
    schema: str, request: inventory_pb2.ReceiveStockRequest, *, pause: float = 0.0
) -> Callable[[asyncpg.Connection], Awaitable[inventory_pb2.ReceiveStockResponse]]:
    """The protected change: one effects row, and an answer that says which row it was."""

    async def work(conn: asyncpg.Connection) -> inventory_pb2.ReceiveStockResponse:
        effect_id = await conn.fetchval(
            f"INSERT INTO {schema}.effects (key) VALUES ($1) RETURNING id", request.request_id
        )
        if pause:
            await conn.execute("SELECT pg_sleep($1)", pause)
        return Response(level=inventory_pb2.StockLevel(sku=request.sku, on_hand=int(effect_id)))

    return work


async def effects(db: Database, schema: str, request_id: str) -> int:
    return int(await db.fetchval(f"SELECT count(*) FROM {schema}.effects WHERE key = $1", request_id))


async def test_a_retry_gets_the_stored_answer_and_no_second_effect(db: Database, schema: str) -> None:
    store = IdempotencyStore(schema)
    request = receive(unique_request_id())
    first = await store.run(db, METHOD, request.request_id, request, Response, work_for(schema, request))
    again = await store.run(
        db, METHOD, request.request_id, receive(request.request_id), Response, work_for(schema, request)
    )
    assert again == first
    assert first.level.on_hand > 0
    assert await effects(db, schema, request.request_id) == 1


async def test_the_same_id_with_a_different_request_is_refused(db: Database, schema: str) -> None:
    store = IdempotencyStore(schema)
    request = receive(unique_request_id())
    await store.run(db, METHOD, request.request_id, request, Response, work_for(schema, request))
    changed = receive(request.request_id, quantity=6)
    with pytest.raises(IdempotencyMismatch) as refused:
        await store.run(db, METHOD, request.request_id, changed, Response, work_for(schema, changed))
    # ... also when only the method differs.
    with pytest.raises(IdempotencyMismatch):
        await store.run(db, "AdjustStock", request.request_id, request, Response, work_for(schema, request))
    assert to_status(refused.value).code == grpc.StatusCode.FAILED_PRECONDITION
    assert await effects(db, schema, request.request_id) == 1


async def test_concurrent_duplicates_have_one_effect(omnistock_settings: Settings, schema: str) -> None:
    # A pool as large as the burst, so every duplicate really is in flight at once.
    wide = Database(omnistock_settings.database_url or "", min_size=1, max_size=20)
    await wide.connect()
    try:
        store = IdempotencyStore(schema)
        request = receive(unique_request_id())
        answers = await asyncio.gather(
            *(
                store.run(wide, METHOD, request.request_id, request, Response, work_for(schema, request, pause=0.05))
                for _ in range(20)
            )
        )
        assert await effects(wide, schema, request.request_id) == 1
        assert all(answer == answers[0] for answer in answers)
    finally:
        await wide.close()


async def test_a_begun_request_is_resumed_by_its_retry_and_finished_once(
    omnistock_settings: Settings, schema: str
) -> None:
    """Begun (another service was about to act), then cut short: the retry learns it resumes;
    concurrent retries finish it with one effect and one answer; afterwards it is a plain replay."""
    wide = Database(omnistock_settings.database_url or "", min_size=1, max_size=10)
    await wide.connect()
    try:
        store = IdempotencyStore(schema)
        request = receive(unique_request_id())
        assert await store.begin(wide, request.request_id, METHOD, request) == Begun()
        assert await store.begin(wide, request.request_id, METHOD, request) == Begun(resumed=True)
        with pytest.raises(IdempotencyMismatch):
            await store.begin(wide, request.request_id, METHOD, receive(request.request_id, quantity=6))
        answers = await asyncio.gather(
            *(
                store.run(wide, METHOD, request.request_id, request, Response, work_for(schema, request, pause=0.05))
                for _ in range(8)
            )
        )
        assert await effects(wide, schema, request.request_id) == 1
        assert all(answer == answers[0] for answer in answers)
        assert await store.begin(wide, request.request_id, METHOD, request) == Begun(
            answer=answers[0].SerializeToString(deterministic=True)
        )
    finally:
        await wide.close()


async def test_a_failed_call_leaves_no_claim(db: Database, schema: str) -> None:
    store = IdempotencyStore(schema)
    request = receive(unique_request_id())

    async def failing(conn: asyncpg.Connection) -> inventory_pb2.ReceiveStockResponse:
        await work_for(schema, request)(conn)
        raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await store.run(db, METHOD, request.request_id, request, Response, failing)
    assert (
        await db.fetchval(f"SELECT count(*) FROM {schema}.idempotency WHERE request_id = $1", request.request_id) == 0
    )
    assert await effects(db, schema, request.request_id) == 0

    # A retry is evaluated afresh, even with other parameters.
    retried = receive(request.request_id, quantity=7)
    await store.run(db, METHOD, request.request_id, retried, Response, work_for(schema, retried))
    assert await effects(db, schema, request.request_id) == 1


async def test_a_request_id_is_required(db: Database, schema: str) -> None:
    store = IdempotencyStore(schema)
    request = receive("")
    with pytest.raises(InvalidArgument) as refused:
        await store.run(db, METHOD, "", request, Response, work_for(schema, request))
    assert [violation.field for violation in refused.value.violations] == ["request_id"]


async def test_purge_removes_only_old_claims(db: Database, schema: str) -> None:
    store = IdempotencyStore(schema)
    old, recent = receive(unique_request_id()), receive(unique_request_id())
    for request in (old, recent):
        await store.run(db, METHOD, request.request_id, request, Response, work_for(schema, request))
    await db.execute(
        f"UPDATE {schema}.idempotency SET created_at = now() - interval '3 days' WHERE request_id = $1", old.request_id
    )

    assert await store.purge(db, timedelta(hours=48)) == 1

    remaining = await db.fetch(f"SELECT request_id FROM {schema}.idempotency")
    assert [row["request_id"] for row in remaining] == [recent.request_id]


async def test_the_resumer_finishes_what_it_can_keeps_what_may_yet_succeed_and_forgets_refusals(
    omnistock_settings: Settings, db: Database, schema: str
) -> None:
    store = IdempotencyStore(schema)
    requests = {outcome: receive(unique_request_id()) for outcome in ("finished", "postponed", "refused")}
    for request in requests.values():
        await store.begin(db, request.request_id, METHOD, request)
    await store.begin(db, unique_request_id(), "NoSuchMethod", receive("unknown"))

    async def again(raw: bytes) -> Response:
        request = inventory_pb2.ReceiveStockRequest.FromString(raw)
        if request.request_id == requests["postponed"].request_id:
            raise Unavailable("inventory is restarting")
        if request.request_id == requests["refused"].request_id:
            raise FailedPrecondition("the task was withdrawn meanwhile")
        return await store.run(db, METHOD, request.request_id, request, Response, work_for(schema, request))

    settings = omnistock_settings.model_copy(update={"resume_after": timedelta(0)})
    resumer = Resumer("inventory", settings, db, store, {METHOD: again})
    assert await resumer.run_once() == 1
    left = [change.request_id for change in await store.unfinished(db, timedelta(0))]
    assert left == [requests["postponed"].request_id]
    assert await effects(db, schema, requests["finished"].request_id) == 1
    assert (await store.begin(db, requests["finished"].request_id, METHOD, requests["finished"])).answer is not None
    # Refused: evaluated afresh should its caller ever come back.
    assert await store.begin(db, requests["refused"].request_id, METHOD, requests["refused"]) == Begun()


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = principal_var.set(principal)
    try:
        yield
    finally:
        principal_var.reset(token)


CLERK = Principal(subject="till-7", role=Role.POS, locations=frozenset({"L1"}))
OTHER_CLERK = Principal(subject="till-7", role=Role.POS, locations=frozenset({"L2"}))
WEB_SHOP = Principal(subject="till-7", role=Role.STOREFRONT)


async def test_an_answer_is_its_callers_and_the_resumer_finishes_a_change_on_their_behalf(
    omnistock_settings: Settings, db: Database, schema: str
) -> None:
    """Another caller (another subject, role or location scope) replaying a request id is refused and
    learns nothing; a change cut short is finished by the Resumer for the caller who began it, whose
    retry then gets the answer."""
    store = IdempotencyStore(schema)
    request = receive(unique_request_id())
    with acting_as(CLERK):
        assert await store.begin(db, request.request_id, METHOD, request) == Begun()
    for other in (OTHER_CLERK, WEB_SHOP):
        with acting_as(other):
            with pytest.raises(IdempotencyMismatch):
                await store.begin(db, request.request_id, METHOD, request)
            with pytest.raises(IdempotencyMismatch):
                await store.run(db, METHOD, request.request_id, request, Response, work_for(schema, request))

    async def again(raw: bytes) -> Response:
        replayed = inventory_pb2.ReceiveStockRequest.FromString(raw)
        return await store.run(db, METHOD, replayed.request_id, replayed, Response, work_for(schema, replayed))

    settings = omnistock_settings.model_copy(update={"resume_after": timedelta(0)})
    assert await Resumer("inventory", settings, db, store, {METHOD: again}).run_once() == 1
    assert await effects(db, schema, request.request_id) == 1
    with acting_as(CLERK):
        answer = (await store.begin(db, request.request_id, METHOD, request)).answer
        assert answer is not None
        retried = await store.run(db, METHOD, request.request_id, request, Response, work_for(schema, request))
        assert retried.SerializeToString(deterministic=True) == answer
    with acting_as(WEB_SHOP), pytest.raises(IdempotencyMismatch):
        await store.run(db, METHOD, request.request_id, request, Response, work_for(schema, request))
    assert await effects(db, schema, request.request_id) == 1


async def test_answers_stored_before_they_had_owners_are_refused_to_everyone(db: Database, schema: str) -> None:
    """A row from before callers were recorded (caller "", a fingerprint of method and request only)
    is never handed to anyone; a begun one is still finished by the Resumer (acting for "")."""
    store = IdempotencyStore(schema)
    request = receive(unique_request_id())
    await db.execute(
        f"INSERT INTO {schema}.idempotency (request_id, method, fingerprint, response) VALUES ($1, $2, $3, $4)",
        request.request_id,
        METHOD,
        fingerprint(METHOD, request, ""),
        Response().SerializeToString(),
    )
    for caller in (CLERK, WEB_SHOP):
        with acting_as(caller), pytest.raises(IdempotencyMismatch):
            await store.run(db, METHOD, request.request_id, request, Response, work_for(schema, request))
    begun = receive(unique_request_id())
    await db.execute(
        f"INSERT INTO {schema}.idempotency (request_id, method, fingerprint, request) VALUES ($1, $2, $3, $4)",
        begun.request_id,
        METHOD,
        fingerprint(METHOD, begun, ""),
        begun.SerializeToString(deterministic=True),
    )
    owner = acting_for.set("")
    try:
        await store.run(db, METHOD, begun.request_id, begun, Response, work_for(schema, begun))
    finally:
        acting_for.reset(owner)
    assert await effects(db, schema, begun.request_id) == 1
