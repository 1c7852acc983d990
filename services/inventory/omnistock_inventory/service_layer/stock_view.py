"""Stock in memory: GetStock, BatchGetStock and FindAvailability answered without the database.

The view holds the raw rows (stock counters, each SKU's backorder flag, each location) exactly as
the database had them at one snapshot; answers are computed from them by the same code as from
the database, so the one availability rule applies. Holds, commits and routing never read it.

Every insert and update of those tables takes the next value of inventory.change_seq (a trigger),
and notifies. A round reads every row changed after the view's watermark W, all in one statement
(one snapshot). W is the highest change number below which every change is in memory: a snapshot
that saw change number M raises W to M once a later round's snapshot shows that every
transaction still running when it was taken, and that had changed any of those tables, has ended
(a transaction that starts later, or changes them only later, can only take higher numbers; one
that changed them holds a lock on the table until it ends, which is how the others are told
apart, and how those the snapshot does not list are found: it lists running transactions only
below the newest that had ended, and one with a higher id may hold a lower number). So a round never
misses a change, whatever notification was lost: a notification only says "come and look now",
and a check every `stock_view_check_interval` looks anyway.

Consistency tokens: a write answers a change number at least as high as its own. A read passing
a token at or below W is answered at once; above it, after a round that started once the read had
arrived (it sees every write committed before, so the token's too), or from the database if that
round is not done within `stock_view_token_wait`. A read without a token is answered from memory
while the last round ended within `stock_view_max_staleness`, from the database otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import time
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import Counter, Gauge, Histogram

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import changes as queries
from omnistock_inventory.adapters import messages
from omnistock_inventory.service_layer.promises import LocationPromises
from omnistock_inventory.service_layer.ranking import Ranked, rank
from omnistock_inventory.settings import InventorySettings
from omnistock_platform.db import Database
from omnistock_platform.geo import Point
from omnistock_platform.loops import listen, repeat

log = structlog.get_logger()

# A transaction that runs for long keeps W from rising; the rounds meanwhile remember this many
# candidates (the newest), enough for a few seconds of back-to-back rounds.
MAX_CANDIDATES = 64

LAG = Histogram(
    "omnistock_inventory_view_lag_seconds",
    "From a stock row's change (its transaction's time) to the in-memory view holding it",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
ROUNDS = Counter("omnistock_inventory_view_rounds_total", "Rounds that read changed rows into the view", ["trigger"])
REPAIRED = Counter(
    "omnistock_inventory_view_repaired_total",
    "Changed rows found by a round no notification asked for (a notification lost or late)",
)
GAPS = Counter(
    "omnistock_inventory_view_notification_gaps_total",
    "Notifications whose change number skipped some: lost, rolled back, or still running",
)
WATERMARK = Gauge("omnistock_inventory_view_watermark", "Every change up to this number is in memory")
FROM_DATABASE = Counter(
    "omnistock_inventory_view_database_reads_total",
    "Reads answered by the database instead of the view, and why",
    ["reason"],
)


# Searches' orders of locations kept (`StockView.ranking`): at most this many locations in all.
MAX_RANKED = 200_000

# The location's columns a stock row carries in answers (the rest are the stock row's own).
LOCATION_COLUMNS = frozenset(
    {
        "name",
        "kind",
        "city",
        "latitude",
        "longitude",
        "routing_rank",
        "ships",
        "pickup",
        "till_sales",
        "active",
        "promise_settings",
    }
)


class ViewRow:
    """A stock row with its SKU's backorder flag and its location's columns: what the answers read."""

    __slots__ = ("backorder", "place", "stock")

    def __init__(self, stock: asyncpg.Record, backorder: bool, place: asyncpg.Record | None) -> None:
        self.stock = stock
        self.backorder = backorder
        self.place = place

    def __getitem__(self, key: str) -> Any:
        if key in LOCATION_COLUMNS:
            if self.place is None:
                raise KeyError(key)
            return self.place[key]
        if key == "allow_backorder":
            return self.backorder
        return self.stock[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


@dataclass(frozen=True)
class Freshness:
    """What a read from memory reflects: a state that a read passing `token` never goes back from,
    as the database had it at `as_of`."""

    token: int
    as_of: datetime

    @functools.cached_property
    def token_text(self) -> str:
        """`token` as answers carry it (made once: a round's freshness answers every read until the next)."""
        return str(self.token)

    @functools.cached_property
    def as_of_message(self) -> Timestamp:
        """`as_of` as answers carry it, made once (an answer copies it in)."""
        stamp = Timestamp()
        messages.set_timestamp(stamp, self.as_of)
        return stamp


@dataclass
class _Candidate:
    seen: int  # the highest change number the snapshot saw
    writers: frozenset[int]  # the transactions running then that may still commit lower numbers


class StockView:
    def __init__(self, db: Database, settings: InventorySettings) -> None:
        self.db = db
        self.enabled = settings.stock_view
        self.check_interval = settings.stock_view_check_interval.total_seconds()
        self.max_staleness = settings.stock_view_max_staleness.total_seconds()
        self.token_wait = settings.stock_view_token_wait.total_seconds()
        self.watermark = 0
        self.as_of: datetime | None = None
        self._round_ended = 0.0  # monotonic time of the last round that succeeded
        self._locations: dict[str, asyncpg.Record] = {}
        self._skus: dict[str, bool] = {}  # SKU -> allow_backorder
        self._bundles: dict[str, dict[str, int]] = {}  # bundle SKU -> its components
        self._stock: dict[str, dict[str, asyncpg.Record]] = {}  # SKU -> location -> row
        self._location_messages: dict[str, tuple[asyncpg.Record, pb.Location]] = {}
        # FindAvailability's order of every location per point, method and radius asked about,
        # until a location changes (`ranking`).
        self._rankings: dict[tuple[Point | None, str | None, float], list[Ranked]] = {}
        # FindAvailability's promises: each location's calendar once per version of its row.
        self.promises = LocationPromises()
        self._candidates: list[_Candidate] = []
        self._heard = 0  # the highest change number a notification carried
        self._last_round_seen = 0  # the highest change number the last round's snapshot saw
        # The last round's freshness, made once per round: every read without a token (or with one
        # at or below what the round saw) is answered with it until the next round.
        self._freshness: Freshness | None = None
        self._next: asyncio.Future[None] | None = None
        self._next_trigger = "notification"
        self._runner: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()

    # --- reads -------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.as_of is not None

    def ready(self) -> bool:
        """Serving waits for the first full load (with the view turned off, nothing to wait for)."""
        return not self.enabled or self.loaded

    def _fresh(self) -> bool:
        return self.loaded and time.monotonic() - self._round_ended <= self.max_staleness

    async def reflecting(self, token: int | None) -> Freshness | None:
        """The view's freshness once it reflects `token` (None: no token asked for), or None when
        the read must go to the database."""
        if not self.enabled:
            return None
        if not self.loaded:
            FROM_DATABASE.labels("not_loaded").inc()
            return None
        if token is None or token <= self.watermark:
            if self._fresh():
                return self.freshness(token)
            FROM_DATABASE.labels("stale").inc()
            return None
        try:
            await asyncio.wait_for(asyncio.shield(self.refresh("token")), self.token_wait)
        except Exception:  # too slow, or the database away: the database answers
            FROM_DATABASE.labels("token_wait").inc()
            return None
        return self.freshness(token)

    def freshness(self, token: int | None = None) -> Freshness:
        """The memory holds the last round's snapshot: every change it saw (up to `_last_round_seen`)
        is in, and a read elsewhere passing that number waits for a state at least as new."""
        assert self.as_of is not None
        made = self._freshness
        if made is None or made.token != self._last_round_seen or made.as_of is not self.as_of:
            made = self._freshness = Freshness(self._last_round_seen, self.as_of)
        if token is not None and token > made.token:
            return Freshness(token, self.as_of)
        return made

    def reflecting_now(self, token: int | None) -> Freshness | None:
        """`reflecting` when it needs to await nothing (the common read: no token, or one the view
        has reached, and a recent round); None when `reflecting` must be asked."""
        if (
            self.enabled
            and self.as_of is not None
            and (token is None or token <= self.watermark)
            and time.monotonic() - self._round_ended <= self.max_staleness
        ):
            return self.freshness(token)
        return None

    def has_sku(self, sku: str) -> bool:
        return sku in self._skus

    def has_location(self, location_id: str) -> bool:
        return location_id in self._locations

    def components(self, sku: str) -> dict[str, int]:
        """A bundle SKU's components; empty for a plain (or unknown) SKU."""
        return self._bundles.get(sku, {})

    def row(self, sku: str, location_id: str) -> ViewRow | None:
        """The SKU's row at one location, if it has one."""
        here = self._stock.get(sku)
        stock = here.get(location_id) if here else None
        if stock is None:
            return None
        return ViewRow(stock, self._skus.get(sku, False), self._locations.get(location_id))

    def rows(self, sku: str, location_ids: frozenset[str] = frozenset(), *, ordered: bool = True) -> list[ViewRow]:
        """The SKU's rows (only at `location_ids` when given), in location order if `ordered`."""
        here = self._stock.get(sku)
        if not here:
            return []
        backorder = self._skus.get(sku, False)
        places = self._locations
        chosen = [key for key in location_ids if key in here] if location_ids else list(here)
        if ordered:
            chosen.sort()
        return [ViewRow(here[key], backorder, places.get(key)) for key in chosen]

    def places_of(self, skus: Iterable[str]) -> dict[str, asyncpg.Record]:
        """The locations (those the view has read) where any of the SKUs has a row, by id."""
        tables = [here for sku in skus if (here := self._stock.get(sku))]
        located = self._locations
        ids: Iterable[str] = tables[0].keys() if len(tables) == 1 else set().union(*tables)
        return {key: located[key] for key in ids if key in located}

    def first_stocked(self, skus: Iterable[str], location_ids: Iterable[str], count: int) -> list[str]:
        """The first `count` of the locations, in the order given, where any of the SKUs has a row."""
        tables = [here for sku in skus if (here := self._stock.get(sku))]
        return first_of(location_ids, _AnyOf(tables), count)

    def rows_at(self, skus: Iterable[str], location_id: str) -> list[ViewRow]:
        """The rows of the SKUs at one location, in the order of `skus` (a SKU without one left out)."""
        place = self._locations.get(location_id)
        return [
            ViewRow(here[location_id], self._skus.get(sku, False), place)
            for sku in skus
            if (here := self._stock.get(sku)) is not None and location_id in here
        ]

    def ranking(self, near: Point | None, flag: str | None, radius_km: float, stocked: int) -> list[Ranked] | None:
        """Every location the view holds in a search's order (`ranking.rank`), made once per
        question (the point, the method's flag, the radius) until a location changes; None when
        the search draws from fewer than a quarter of the locations (`stocked`): then ranking only
        those costs less than making the whole order once."""
        key = (near, flag, radius_km)
        found = self._rankings.get(key)
        if found is None:
            if stocked * 4 < len(self._locations):
                return None
            found = rank(self._locations, near, flag, radius_km)
            if len(self._rankings) >= max(1, MAX_RANKED // max(1, len(self._locations))):
                self._rankings.clear()
            self._rankings[key] = found
        return found

    def location_message(self, place: Any) -> pb.Location:
        """The location's message, made once per version of the view's record of it (a row read
        from the database gets a message of its own)."""
        location_id = place["location_id"]
        made = self._location_messages.get(location_id)
        if made is not None and made[0] is place:
            return made[1]
        message = messages.location(place)
        if self._locations.get(location_id) is place:
            self._location_messages[location_id] = (place, message)
        return message

    # --- keeping up --------------------------------------------------------------------------

    async def token(self) -> str:
        """A change number at least as high as that of every write committed before the call."""
        if self.enabled and self.loaded:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.refresh("write")), self.token_wait)
                return str(self._last_round_seen)
        return str(await queries.last_change(self.db.pool))

    def refresh(self, trigger: str = "notification") -> asyncio.Future[None]:
        """A round that starts after this call (rounds never overlap: one running, one waiting)."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            self._next_trigger = trigger
        future = self._next
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run_rounds())
        return future

    async def _run_rounds(self) -> None:
        while self._next is not None:
            future, trigger, self._next = self._next, self._next_trigger, None
            try:
                await self._round(trigger)
            except Exception as error:
                log.warning("inventory.view_round_failed", error=repr(error), trigger=trigger)
                if not future.done():
                    future.set_exception(error)
                    future.exception()  # a round nobody waited for must not be reported as unretrieved
                continue
            except BaseException:
                future.cancel()
                raise
            if not future.done():
                future.set_result(None)

    async def _round(self, trigger: str) -> None:
        found = await queries.changes_since(self.db.pool, self.watermark)
        ROUNDS.labels(trigger).inc()
        seen = self._apply(found, unasked=trigger == "check")
        self._last_round_seen = seen
        if trigger == "load":  # notifications below what the load saw tell nothing new
            self._heard = max(self._heard, seen)
        # An earlier round's candidate whose running writers have all ended (seen by this round's
        # snapshot): every change up to its number was committed by then, so this round has it.
        # Never this round's own: a writer that ended between its snapshot and its look at the
        # locks is known to neither, but committed before the next round's snapshot.
        reached = max(
            (c.seen for c in self._candidates if all(found.snapshot.finished(xid) for xid in c.writers)),
            default=self.watermark,
        )
        if reached > self.watermark:
            self.watermark = reached
            WATERMARK.set(reached)
        self._candidates = [c for c in self._candidates if c.seen > self.watermark]
        if seen > self.watermark:
            self._candidates.append(_Candidate(seen, found.writers))
            del self._candidates[:-MAX_CANDIDATES]
        self.as_of = found.at
        self._round_ended = time.monotonic()

    def _apply(self, found: queries.Changes, *, unasked: bool) -> int:
        """Take the rows in (each is the database's latest as of the snapshot) and answer the
        highest change number the snapshot saw. Synchronous: no read sees half a round."""
        seen = self.watermark
        for place in found.locations:
            self._locations[place["location_id"]] = place
            self.promises.forget(place["location_id"])
            seen = max(seen, place["change_seq"])
        if found.locations:  # a location moved, closed, opened, or changed its rank or methods
            self._rankings.clear()
        for sku, backorder, change_seq, components in found.skus:
            self._skus[sku] = bool(backorder)
            parts = json.loads(components) if components else {}
            if parts:
                self._bundles[sku] = parts
            else:
                self._bundles.pop(sku, None)
            seen = max(seen, change_seq)
        now = time.time()
        news = 0
        for row in found.stock:
            here = self._stock.setdefault(row["sku"], {})
            before = here.get(row["location_id"])
            if before is None or row["change_seq"] > before["change_seq"]:
                here[row["location_id"]] = row
                LAG.observe(max(0.0, now - row["updated_at"].timestamp()))
                news += 1
            seen = max(seen, row["change_seq"])
        if unasked and news and self.loaded:
            REPAIRED.inc(news)
            log.info("inventory.view_repaired", rows=news, watermark=self.watermark)
        return seen

    def heard(self, payload: str) -> None:
        """A notification: its change number tells whether some went unheard (then a round finds them)."""
        with contextlib.suppress(ValueError):
            number = int(payload)
            if self._heard and number > self._heard + 1:
                GAPS.inc()
            self._heard = max(self._heard, number)
        self.refresh("notification")

    async def load(self) -> None:
        """The first full read: the process serves once it is done."""
        if self.enabled:
            await self.refresh("load")

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the notifications, and look every check interval whatever they say."""
        if not self.enabled:
            return

        async def check() -> None:
            await self.refresh("check")

        try:
            await asyncio.gather(
                listen(
                    stop,
                    self.db.url,
                    queries.CHANNEL,
                    self.wake,
                    failed="inventory.view_listen_failed",
                    heard=self.heard,
                ),
                repeat(stop, self.check_interval, check, failed="inventory.view_check_failed"),
            )
        finally:  # a round still running ends with the service, not after its pool is closed
            if self._runner is not None and not self._runner.done():
                self._runner.cancel()
                with contextlib.suppress(BaseException):
                    await self._runner


def first_of(location_ids: Iterable[str], stocked: Container[str], count: int) -> list[str]:
    """The first `count` of the locations, in the order given (each once), that are among `stocked`."""
    return list(itertools.islice((key for key in dict.fromkeys(location_ids) if key in stocked), count))


class _AnyOf:
    """Is a key in any of the tables: a location with a row of any of several SKUs."""

    def __init__(self, tables: Sequence[Container[str]]) -> None:
        self._tables = tables

    def __contains__(self, key: object) -> bool:
        return any(key in table for table in self._tables)
