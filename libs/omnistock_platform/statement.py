"""Writes to several tables sent as one SQL statement: one round trip, whoever owns each table.

Each table's owner adds its part (the outbox its rows, the idempotency store its claim or its
answers, a repository its own tables) as a data-modifying WITH part with its own parameters; the
statement numbers the parameters and runs every part, read or not, in one go. A part may read
the rows an earlier part returned by its name, and the statement may end by selecting from them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import asyncpg


@functools.lru_cache(maxsize=1024)
def _unnest(start: int, types: tuple[str, ...]) -> str:
    """The text of `Statement.unnest`: built once per shape, as a hold's statements are built per call."""
    return f"unnest({', '.join(f'${start + index + 1}::{sql_type}' for index, sql_type in enumerate(types))})"


class Statement:
    def __init__(self) -> None:
        self._parts: list[str] = []
        self._args: list[Any] = []
        self._channels: dict[str, str] = {}  # channel -> its pg_notify call

    def param(self, value: Any, sql_type: str) -> str:
        """A parameter of the statement, as SQL of the given type."""
        self._args.append(value)
        return f"${len(self._args)}::{sql_type}"

    def unnest(self, columns: Sequence[Sequence[Any]], types: tuple[str, ...]) -> str:
        """`unnest(...)` of columns given as lists (one parameter each), of the given array types."""
        if len(columns) != len(types):
            raise ValueError(f"{len(columns)} columns for {len(types)} types")
        start = len(self._args)
        self._args.extend(map(list, columns))
        return _unnest(start, types)

    def add(self, sql: str) -> str:
        """A data-modifying part; returns its name, by which later parts and the end read its rows."""
        name = f"part{len(self._parts) + 1}"
        self._parts.append(f"{name} AS ({sql})")
        return name

    def notify(self, channel: str) -> None:
        """Wake the listeners of `channel` when the transaction commits (NOTIFY is transactional)."""
        if channel not in self._channels:
            self._channels[channel] = f"pg_notify({self.param(channel, 'text')}, '')"

    def sql(self, select: str = "") -> str:
        """The statement, ending with `select`, or with the notifications when there is none."""
        if select and self._channels:
            # A part that nothing reads and that changes no table would not run at all.
            raise ValueError("a statement that notifies ends with its notifications")
        ending = select or "SELECT " + (", ".join(self._channels.values()) or "1")
        return ("WITH " + ", ".join(self._parts) + " " if self._parts else "") + ending

    async def execute(self, conn: asyncpg.Connection) -> None:
        if self._parts or self._channels:
            await conn.execute(self.sql(), *self._args)

    async def fetchval(self, conn: asyncpg.Connection, select: str) -> Any:
        """Run every part and answer the one value `select` gives."""
        return await conn.fetchval(self.sql(select), *self._args)

    async def fetchrow(self, conn: asyncpg.Connection, select: str) -> asyncpg.Record | None:
        """Run every part and answer `select`, which may read the parts by their names."""
        return await conn.fetchrow(self.sql(select), *self._args)
