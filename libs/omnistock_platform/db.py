"""Async PostgreSQL access: one asyncpg pool per process.

Repositories write SQL against a connection handed to them by the unit of work
(`Database.transaction()`); table definitions live in SQLModel models that
Alembic migrates. Each service owns one schema and never reads another's.
"""

from __future__ import annotations

import inspect
import json
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from prometheus_client import REGISTRY, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from omnistock_platform.errors import Reason, Unavailable

POOL_WAIT = Histogram(
    "omnistock_db_pool_wait_seconds",
    "How long a unit of work waited for a connection from the pool",
    ["service"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def _unsplit(scheme: str, netloc: str, path: str, query: str, fragment: str) -> str:
    # Not urllib's urlunsplit: it drops an empty authority for schemes it does not know,
    # turning the socket form postgresql:///db?host=/run/postgresql into postgresql:/db?...
    url = f"{scheme}://{netloc}{path}"
    if query:
        url += f"?{query}"
    if fragment:
        url += f"#{fragment}"
    return url


def asyncpg_dsn(url: str) -> str:
    """asyncpg wants plain postgresql://; SQLAlchemy-style driver suffixes are dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return _unsplit(scheme, *parts[1:])


def sqlalchemy_url(url: str) -> str:
    parts = urlsplit(asyncpg_dsn(url))
    return _unsplit("postgresql+asyncpg", *parts[1:])


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return _unsplit(parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's default reset, which sends `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL` on every release: one more round trip for every unit of work.
    Nothing here leaves session state on a pooled connection (advisory locks are transaction-scoped,
    LISTEN has a connection of its own, no SET or cursor outlives its transaction), and the pool
    still rolls back a transaction left open before this runs."""


# asyncpg < 0.30 has no reset hook; there the default reset stays.
_POOL_OPTIONS: dict[str, Any] = (
    {"reset": _keep_session} if "reset" in inspect.signature(asyncpg.create_pool).parameters else {}
)


# PostgreSQL refusing or ending connections (starting up, shutting down, crashed), or the
# connection breaking; an OSError counts only while connecting (in a unit of work it is the work's).
# asyncpg's InternalClientError is the driver's own state gone wrong ("cannot switch to state 15;
# another operation is in progress"), seen when PostgreSQL restarts in the middle of an operation:
# the connection is unusable and the work's outcome unknown, as with the others.
_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InternalClientError,
)


def _closed(conn: asyncpg.Connection) -> bool:
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:  # the pool has already taken the broken connection back
        return True


def database_lost(error: BaseException) -> bool:
    """Whether an error raised by a query made straight on the pool (outside `connection()` and
    `transaction()`, which map these themselves) means the database went away, not a bug."""
    if isinstance(error, (OSError, *_LOST)):
        return True
    return isinstance(error, asyncpg.InterfaceError) and "closed" in str(error)


def database_unavailable() -> Unavailable:
    """The answer while the database is away: the caller retries with the same request id."""
    return Unavailable(
        "the database is not answering; retry with the same request_id", reason=Reason.DATABASE_UNAVAILABLE
    )


# Connections of `Database.on_its_own()`: its transactions are short and wait for no lock of a caller.
_OWN_POOL_SIZE = 2
# Connections a service process may hold beside its pool (OMNISTOCK_DB_POOL_MAX): `on_its_own()`'s,
# and the LISTEN connections of `loops.listen` (the event relay's, and inventory's stock view or
# webhooks' dispatcher). A deployment's connection budget counts them.
CONNECTIONS_BESIDE_POOL = _OWN_POOL_SIZE + 2


class Database:
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10, name: str = "") -> None:
        self.url = asyncpg_dsn(url)
        # The service whose pool this is, in its metrics.
        self.name = name
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        # For `on_its_own()`: opens no connection until one is asked for.
        self._own_pool: asyncpg.Pool | None = None
        self._waited = POOL_WAIT.labels(name or "-")
        _DATABASES.add(self)

    async def connect(self) -> None:
        if self._pool is None:
            self._waited = POOL_WAIT.labels(self.name or "-")
            self._pool = await asyncpg.create_pool(
                self.url, min_size=self._min_size, max_size=self._max_size, init=_init_connection, **_POOL_OPTIONS
            )
            self._own_pool = await asyncpg.create_pool(
                self.url, min_size=0, max_size=_OWN_POOL_SIZE, init=_init_connection, **_POOL_OPTIONS
            )

    async def close(self) -> None:
        if self._own_pool is not None:
            own, self._own_pool = self._own_pool, None
            await own.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._pool

    @asynccontextmanager
    async def transaction(self, isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
        """The unit of work: everything done on the connection commits or rolls back together."""
        async with self._answering() as conn, conn.transaction(isolation=isolation):
            yield conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._answering() as conn:
            yield conn

    @asynccontextmanager
    async def on_its_own(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction that commits apart from one the caller has open: a record that must outlive
        the caller's rollback, written before another service is asked. Its connection comes from a
        small pool of its own. The caller's transaction may hold a row lock that other calls wait for,
        each on a connection of the main pool; with every one of those taken, a connection asked of
        the main pool would never come, and the lock would never be let go."""
        if self._own_pool is None:
            raise RuntimeError("Database.connect() has not been called")
        async with self._answering(self._own_pool) as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def _answering(self, pool: asyncpg.Pool | None = None) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection. The database going away meanwhile (a restart, a failover: it could
        not be reached, it ended the connection, the connection broke) raises Unavailable. Nothing
        is wrong with the request then, and the change either never committed or its caller cannot
        tell: it is the caller's to retry with the same request id, which the idempotency store
        answers either way. Left as they were, these errors reached callers as INTERNAL, which no
        client retries: a cancellation whose hold inventory had already released stayed unrecorded,
        its order allocated with nothing held."""
        pool = pool or self.pool
        started = time.perf_counter()
        try:
            conn = await pool.acquire()
        except (OSError, *_LOST) as error:
            raise database_unavailable() from error
        self._waited.observe(time.perf_counter() - started)
        try:
            yield conn
        except _LOST as error:
            raise database_unavailable() from error
        except asyncpg.InterfaceError as error:
            if _closed(conn):
                raise database_unavailable() from error
            raise
        finally:
            await pool.release(conn)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self.pool.fetch(query, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self.pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self.pool.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        return await self.pool.execute(query, *args)  # type: ignore[no-any-return]

    async def ping(self, timeout: float = 2.0) -> bool:
        try:
            async with self.pool.acquire(timeout=timeout) as conn:
                await conn.fetchval("SELECT 1", timeout=timeout)
        except Exception:  # whatever the failure (asyncpg also raises InternalClientError), it is not ready
            return False
        return True


_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()


class _PoolCollector(Collector):
    """The pools' state, read when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        in_use = GaugeMetricFamily(
            "omnistock_db_pool_connections_in_use", "Pooled connections lent to a unit of work", labels=["service"]
        )
        idle = GaugeMetricFamily("omnistock_db_pool_connections_idle", "Pooled connections waiting", labels=["service"])
        limit = GaugeMetricFamily(
            "omnistock_db_pool_max_connections",
            "Connections the pool may open (OMNISTOCK_DB_POOL_MAX)",
            labels=["service"],
        )
        totals: dict[str, list[int]] = {}
        for database in list(_DATABASES):
            pool = database._pool
            if pool is None:
                continue
            size, free = pool.get_size(), pool.get_idle_size()
            total = totals.setdefault(database.name or "-", [0, 0, 0])
            total[0] += size - free
            total[1] += free
            total[2] += database._max_size
        for name, (used, free, most) in sorted(totals.items()):
            in_use.add_metric([name], used)
            idle.add_metric([name], free)
            limit.add_metric([name], most)
        yield in_use
        yield idle
        yield limit


REGISTRY.register(_PoolCollector())


async def create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
