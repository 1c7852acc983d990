"""Helpers for the platform tests: throwaway schemas, bounded waiting, reading the stream."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel

from omnistock_platform.events.bus import EventBus
from omnistock_platform.tables import platform_tables

T = TypeVar("T")

# Every test that touches the database works in a schema of its own; this table
# records what handlers and idempotent work did, so a second effect shows.
EFFECTS_DDL = "CREATE TABLE {schema}.effects (id bigserial PRIMARY KEY, key text NOT NULL, note text)"


def new_schema_name() -> str:
    return f"platformtest_{uuid.uuid4().hex[:10]}"


def platform_ddl(schema: str) -> list[str]:
    """CREATE statements of the platform tables exactly as the metadata defines them."""
    known = f"{schema}.outbox" in SQLModel.metadata.tables
    platform_tables(schema)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    statements = [f'CREATE SCHEMA "{schema}"']
    for name in ("outbox", "inbox", "idempotency"):
        table = SQLModel.metadata.tables[f"{schema}.{name}"]
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes)
        if not known:  # throwaway tables must not leak into the metadata Alembic compares
            SQLModel.metadata.remove(table)
    statements.append(EFFECTS_DDL.format(schema=schema))
    return statements


async def create_platform_schema(conn: asyncpg.Connection, schema: str) -> None:
    async with conn.transaction():
        for statement in platform_ddl(schema):
            await conn.execute(statement)


async def subject_count(bus: EventBus, subject_filter: str) -> int:
    """How many messages the stream holds on subjects matching the filter."""
    info = await bus.js.stream_info(bus.settings.stream_name, subjects_filter=subject_filter)
    return sum((info.state.subjects or {}).values())


async def read_stream(bus: EventBus, subject_filter: str, timeout: float = 10.0) -> list[Msg]:
    """Every message the stream holds on the filter, in stream order."""
    expected = await subject_count(bus, subject_filter)
    received: list[Msg] = []
    complete = asyncio.Event()

    async def collect(message: Msg) -> None:
        received.append(message)
        if len(received) >= expected:
            complete.set()

    subscription = await bus.js.subscribe(
        subject_filter,
        cb=collect,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        stream=bus.settings.stream_name,
    )
    try:
        if expected:
            await asyncio.wait_for(complete.wait(), timeout)
    finally:
        await subscription.unsubscribe()
    return received[:expected]


def header(message: Msg, name: str) -> Any:
    return (message.headers or {}).get(name)


@contextlib.asynccontextmanager
async def running(*loops: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[asyncio.Event]:
    """Run background loops (relay.run, consumer.run) for the block, then stop them."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop(stop)) for loop in loops]
    try:
        yield stop
    finally:
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=10.0)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise AssertionError("a background loop failed") from task.exception()
        assert not pending, "a background loop did not stop within 10s"


def unique_request_id() -> str:
    return f"req-{uuid.uuid4().hex}"
