"""The newest state heard of each order and reservation, kept from their events.

Events of one order or reservation can be handled out of order (a retry waits while later events go
ahead, and copies of the service share the events). Each carries the source as it was then, with
its version (the source's updated_at): what the newest says is the truth. One row per source keeps
it; an older event's state is never kept over it, and reads as the one kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

SourceKind = Literal["order", "reservation"]

_STATES = "fulfilment.newest_states"


@dataclass(frozen=True)
class Heard:
    """What an event said of its source: the source's version then, and its state (JSON)."""

    version: datetime
    state: dict[str, Any]


async def keep(conn: asyncpg.Connection, kind: SourceKind, source_id: str, heard: Heard) -> Heard:
    """Keep what an event heard of the source unless a newer version (or the same) is kept already;
    the one kept after it: `heard` itself when it was. In the caller's transaction, under the
    source's lock."""
    kept = await conn.fetchval(
        f"INSERT INTO {_STATES} AS kept (source_kind, source_id, version, state) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (source_kind, source_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state"
        " WHERE kept.version < EXCLUDED.version RETURNING true",
        kind,
        source_id,
        heard.version,
        heard.state,
    )
    if kept:
        return heard
    newer = await newest(conn, kind, source_id)
    assert newer is not None  # the row that refused this one
    return newer


async def newest(conn: asyncpg.Connection, kind: SourceKind, source_id: str) -> Heard | None:
    """The newest state heard of the source; None when none was kept."""
    row = await conn.fetchrow(
        f"SELECT version, state FROM {_STATES} WHERE source_kind = $1 AND source_id = $2", kind, source_id
    )
    return Heard(row["version"], row["state"]) if row is not None else None
