"""Every service's migrations, as PostgreSQL sees them: at head each schema is what its SQLModel
tables say, the platform tables (outbox, inbox, idempotency) are the same in every schema (the
first five services' in the column order their databases have had since their first migrations),
and a downgrade to nothing followed by an upgrade gives the same schema again."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from omnistock_platform.db import Database, sqlalchemy_url
from omnistock_platform.migrations import alembic_config, upgrade
from omnistock_platform.registry import installed_services, module_name
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings
from omnistock_platform.testing.plugin import isolated_run

PLATFORM_TABLES = ("idempotency", "inbox", "outbox")
# The columns in the order a database migrated from the first revision has them: the services
# that came later create the platform tables whole, the first five added three columns later.
FIRST_IDEMPOTENCY = ["request_id", "method", "fingerprint", "response", "created_at", "request", "caller"]
WHOLE_IDEMPOTENCY = ["request_id", "method", "fingerprint", "response", "request", "caller", "created_at"]
OUTBOX = ["id", "event_id", "subject", "envelope", "created_at", "published_at", "traceparent"]
INBOX = ["consumer", "event_id", "handled_at"]
CREATED_WHOLE: set[ServiceName] = {"webhooks"}


@pytest_asyncio.fixture
async def migrated(omnistock_servers: tuple[str, str]) -> AsyncIterator[Settings]:
    admin_url, nats_url = omnistock_servers
    async with isolated_run(admin_url, nats_url, "migrations") as settings:
        yield settings


async def describe(db: Database, schema: str, tables: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Columns (in order, with type, nullability and default), indexes and constraints of the
    schema's tables, with the schema's name taken out so that two schemas compare."""
    names = list(tables) if tables else None
    columns = await db.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity"
        " FROM information_schema.columns WHERE table_schema = $1 AND ($2::text[] IS NULL OR table_name = ANY($2))"
        " ORDER BY table_name, ordinal_position",
        schema,
        names,
    )
    indexes = await db.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = $1 AND ($2::text[] IS NULL OR tablename = ANY($2)) ORDER BY tablename, indexname",
        schema,
        names,
    )
    constraints = await db.fetch(
        "SELECT t.relname AS table_name, c.conname, c.contype, pg_get_constraintdef(c.oid) AS definition"
        " FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = $1 AND ($2::text[] IS NULL OR t.relname = ANY($2)) ORDER BY t.relname, c.conname",
        schema,
        names,
    )

    def plain(value: Any) -> Any:
        return value.replace(f"{schema}.", "SCHEMA.").replace(f"ix_{schema}_", "ix_SCHEMA_") if value else value

    described: dict[str, Any] = {}
    for row in columns:
        described.setdefault(row["table_name"], {"columns": [], "indexes": [], "constraints": []})
        described[row["table_name"]]["columns"].append(
            (row["column_name"], row["data_type"], row["is_nullable"], plain(row["column_default"]), row["is_identity"])
        )
    for row in indexes:
        described[row["tablename"]]["indexes"].append((plain(row["indexname"]), plain(row["indexdef"])))
    for row in constraints:
        described[row["table_name"]]["constraints"].append((row["conname"], row["contype"], plain(row["definition"])))
    return described


def differences_from_tables(connection: Connection, service: ServiceName) -> list[Any]:
    importlib.import_module(f"{module_name(service)}.adapters.tables")

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return bool(obj.schema == service and name != "alembic_version")
        table = getattr(obj, "table", None)
        return table is None or (table.schema == service and table.name != "alembic_version")

    context = MigrationContext.configure(
        connection, opts={"include_schemas": True, "include_object": include, "compare_type": True}
    )
    return list(compare_metadata(context, SQLModel.metadata))


async def test_each_schema_at_head_is_what_its_tables_say(migrated: Settings) -> None:
    engine = create_async_engine(sqlalchemy_url(migrated.database_url or ""))
    try:
        async with engine.connect() as connection:
            for service in installed_services():
                differences = await connection.run_sync(differences_from_tables, service)
                assert differences == [], f"{service}: {differences}"
    finally:
        await engine.dispose()


async def test_the_platform_tables_are_one_shape_in_every_schema(migrated: Settings) -> None:
    db = Database(migrated.database_url or "", min_size=1, max_size=1)
    await db.connect()
    try:
        shapes = {service: await describe(db, service, PLATFORM_TABLES) for service in installed_services()}
    finally:
        await db.close()
    for service, shape in shapes.items():
        assert set(shape) == set(PLATFORM_TABLES), service
        idempotency = WHOLE_IDEMPOTENCY if service in CREATED_WHOLE else FIRST_IDEMPOTENCY
        assert [column[0] for column in shape["idempotency"]["columns"]] == idempotency, service
        assert [column[0] for column in shape["outbox"]["columns"]] == OUTBOX, service
        assert [column[0] for column in shape["inbox"]["columns"]] == INBOX, service
    reference = shapes["inventory"]

    def unordered(shape: dict[str, Any]) -> dict[str, Any]:
        return {table: {part: sorted(rows) for part, rows in parts.items()} for table, parts in shape.items()}

    for service, shape in shapes.items():
        if service in CREATED_WHOLE:
            assert unordered(shape) == unordered(reference), service
        else:
            assert shape == reference, service
    assert tuple(
        name for name, definition in reference["outbox"]["indexes"] if "WHERE (published_at IS NULL)" in definition
    ) == ("ix_SCHEMA_outbox_unpublished",)


async def test_down_to_nothing_and_up_again_gives_the_same_schema(migrated: Settings) -> None:
    db = Database(migrated.database_url or "", min_size=1, max_size=1)
    await db.connect()
    try:
        services = installed_services()
        before = {service: await describe(db, service) for service in services}
        for service in reversed(services):
            await asyncio.to_thread(command.downgrade, alembic_config(migrated, service), "base")
            left = set(await describe(db, service)) - {"alembic_version"}
            assert left == set(), f"{service} kept {left}"
        await asyncio.to_thread(upgrade, migrated, services)
        after = {service: await describe(db, service) for service in services}
    finally:
        await db.close()
    assert after == before
