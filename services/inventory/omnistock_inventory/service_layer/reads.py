"""GetStock calls that arrive together, answered by one query.

A read on its own costs a connection from the pool, a round trip and a wake-up of the event
loop for its answer: more than building the answer itself (measured with `make bench`: a
GetStock cost the inventory process 0.50 ms of CPU alone, 0.40 ms gathered). Reads are
therefore gathered: when no query of theirs is running, a read goes at once (with whatever else
waits); the reads that arrive while one runs wait for it to end, and then all of them (up to
MAX_BATCH) go in the next query. A read never joins a query that has already left, so it sees
every change committed before it arrived, exactly as a query of its own would have.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from omnistock_inventory.adapters import repository
from omnistock_platform.db import Database

# One query in flight gathers the most; a read then waits at most for the query before its own.
QUERIES_IN_FLIGHT = 1
# A read of every location returns one row per location: bound what one query carries.
MAX_BATCH = 100

Rows = list[asyncpg.Record] | None


@dataclass
class _Read:
    key: tuple[str, str]  # (sku, location_id or "" for every location)
    answer: asyncio.Future[Rows]


class StockReads:
    def __init__(self, db: Database, *, queries_in_flight: int = QUERIES_IN_FLIGHT) -> None:
        self.db = db
        self.queries_in_flight = max(1, queries_in_flight)
        self._waiting: list[_Read] = []
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def sku_levels(self, sku: str, location_id: str) -> Rows:
        """The SKU's rows (at one location, or at every one when empty); None when the SKU does not exist."""
        read = _Read((sku, location_id), asyncio.get_running_loop().create_future())
        self._waiting.append(read)
        if self._in_flight < self.queries_in_flight:
            # A task, not this caller: a caller that gives up must not take the others' query with it.
            self._in_flight += 1
            task = asyncio.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await read.answer

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._answer(batch)
        finally:
            self._in_flight -= 1

    async def _answer(self, batch: list[_Read]) -> None:
        try:
            found = await repository.sku_level_rows(self.db.pool, list(dict.fromkeys(read.key for read in batch)))
        except Exception as error:  # each caller answers for it as if it had read alone
            for read in batch:
                if not read.answer.done():
                    read.answer.set_exception(error)
            return
        except BaseException:  # the service is stopping: so are its callers
            for read in batch:
                read.answer.cancel()
            raise
        for read in batch:
            if not read.answer.done():  # a caller that gave up is not answered
                read.answer.set_result(found[read.key])
