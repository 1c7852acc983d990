"""Location groups and channel pools: who may sell from where, and what a channel sees.

The rule itself is `domain.stock.channel_available` (and its SQL twin in the hold statements);
this module keeps the groups and pools, and gives reads the pools of a channel. Reads take them
from `PoolBook`, a copy at most POOL_BOOK_SECONDS old (refreshed at once after a change made
through this process); holds never do: their statements read the pool tables themselves.
"""

from __future__ import annotations

import asyncio
import enum
import time

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages, pool_messages, pool_repository, repository
from omnistock_inventory.domain.stock import Channel, Counters, Pool, kept_from_channel, through_pools
from omnistock_platform.db import Database
from omnistock_platform.errors import NotFound
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.paging import key_after, key_token
from omnistock_platform.validation import MAX_QUANTITY, Validator

# How stale the pools a read applies may be (a change made through this process applies at once).
POOL_BOOK_SECONDS = 1.0
MAX_GROUP_LOCATIONS = 1000
MAX_CHANNEL_POOLS = 100


class Unknown(enum.Enum):
    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN


class PoolBook:
    """Every channel's pools by location, as reads apply them."""

    def __init__(self, db: Database, *, ttl: float = POOL_BOOK_SECONDS) -> None:
        self.db = db
        self.ttl = ttl
        self._pools: dict[str, dict[str, list[Pool]]] = {}
        self._until = 0.0
        # One read of the pools at a time: every read that finds the copy expired waits for it,
        # instead of each asking the database the same question (a hundred reads in flight made a
        # hundred queries a second). `forget()` starts a new generation: a read after it waits for
        # a query begun after it, never for one that may have missed the change.
        self._generation = 0
        self._loading: tuple[int, asyncio.Future[None]] | None = None

    async def of(self, channel: Channel) -> pool_repository.PoolsByLocation:
        """The channel's pools by location; None when it has none (it sells from every location)."""
        if time.monotonic() >= self._until:
            loading = self._loading
            if loading is None or loading[0] != self._generation:
                loading = (self._generation, asyncio.ensure_future(self._load(self._generation)))
                self._loading = loading
            # Shielded: a caller that gives up does not cancel the others' read.
            await asyncio.shield(loading[1])
        return self._pools.get(channel.value)

    def now(self, channel: Channel) -> pool_repository.PoolsByLocation | Unknown:
        """`of` when nothing needs awaiting (the copy is current): a read takes the pools without a
        coroutine; UNKNOWN when the copy has expired (then `of` reads them)."""
        if time.monotonic() >= self._until:
            return UNKNOWN
        return self._pools.get(channel.value)

    async def _load(self, generation: int) -> None:
        try:
            started = time.monotonic()
            pools = pool_repository.by_channel(await pool_repository.pool_members(self.db.pool))
            if generation == self._generation:
                self._pools = pools
                self._until = started + self.ttl
        finally:
            if self._loading is not None and self._loading[0] == generation:
                self._loading = None

    def forget(self) -> None:
        self._until = 0.0
        self._generation += 1


def at(pools: pool_repository.PoolsByLocation, location_id: str) -> list[Pool] | None:
    """The pools of a channel at one location ([] outside its groups; None: it has no pools)."""
    return None if pools is None else pools.get(location_id, [])


def as_seen_through(level: pb.StockLevel, pools: list[Pool] | None) -> pb.StockLevel:
    """A level as a remote channel sees it (an event's) as seen by a channel with these pools."""
    if pools is None:
        return level
    have = Counters(
        level.on_hand, level.held, level.safety_stock, level.incoming, level.in_transit - level.in_transit_reserved
    )
    # The event's `available` is held at 0; below it, what the remote channel's rule leaves is at
    # most on hand less held and safety stock (incoming aside), the start a pool adds units in transit to.
    general = level.available or min(0, level.on_hand - level.held - level.safety_stock)
    units, pool = through_pools(have, pools, general=general)
    seen = pb.StockLevel()
    seen.CopyFrom(level)
    seen.available = units
    seen.pool_group_id = pool.group_id if pool is not None else ""
    seen.pool_kept = kept_from_channel(have, pools, pool)
    return seen


class Pools:
    def __init__(self, db: Database, outbox: Outbox, idempotency: IdempotencyStore, book: PoolBook) -> None:
        self.db = db
        self.outbox = outbox
        self.idempotency = idempotency
        self.book = book

    async def upsert_group(self, request: pb.UpsertLocationGroupRequest) -> pb.UpsertLocationGroupResponse:
        group = request.group
        check = Validator()
        check.identifier("group.group_id", group.group_id)
        check.name("group.display_name", group.display_name, required=True)
        check.check(
            len(group.location_ids) <= MAX_GROUP_LOCATIONS,
            "group.location_ids",
            f"at most {MAX_GROUP_LOCATIONS} locations",
        )
        if len(group.location_ids) <= MAX_GROUP_LOCATIONS:
            for index, location_id in enumerate(group.location_ids):
                check.identifier(f"group.location_ids[{index}]", location_id)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.UpsertLocationGroupResponse:
            known = {row["location_id"] for row in await repository.get_locations(conn, list(group.location_ids))}
            for index, location_id in enumerate(group.location_ids):
                if location_id not in known:
                    raise NotFound("location", location_id, field=f"group.location_ids[{index}]")
            row = await pool_repository.upsert_group(conn, group.group_id, group.display_name, group.location_ids)
            stored = pool_messages.group(row)
            await self.outbox.add(conn, "location_group.changed", pb.LocationGroupChanged(group=stored))
            return pb.UpsertLocationGroupResponse(group=stored)

        try:
            return await self.idempotency.run(
                self.db, "UpsertLocationGroup", request.request_id, request, pb.UpsertLocationGroupResponse, work
            )
        finally:
            self.book.forget()

    async def list_groups(self, request: pb.ListLocationGroupsRequest) -> pb.ListLocationGroupsResponse:
        check = Validator()
        limit = check.page_size("page_size", request.page_size)
        after = key_after(request.page_token)
        check.raise_if_invalid()
        rows = await pool_repository.list_groups(self.db.pool, after=after, limit=limit + 1)
        page = rows[:limit]
        return pb.ListLocationGroupsResponse(
            groups=[pool_messages.group(row) for row in page],
            next_page_token=key_token(page[-1]["group_id"]) if len(rows) > limit else "",
        )

    async def set_channel_pools(self, request: pb.SetChannelPoolsRequest) -> pb.SetChannelPoolsResponse:
        check = Validator()
        check.enum("channel", request.channel, messages.CHANNELS)
        check.check(len(request.pools) <= MAX_CHANNEL_POOLS, "pools", f"at most {MAX_CHANNEL_POOLS} pools")
        seen: set[str] = set()
        wanted: list[Pool] = []
        for index, each in enumerate(request.pools[:MAX_CHANNEL_POOLS]):
            check.identifier(f"pools[{index}].group_id", each.group_id)
            check.check(each.group_id not in seen, f"pools[{index}].group_id", "names a group already given")
            seen.add(each.group_id)
            check.check(0 <= each.cap_percent <= 100, f"pools[{index}].cap_percent", "must be between 1 and 100")
            check.non_negative(f"pools[{index}].buffer_units", each.buffer_units, maximum=MAX_QUANTITY)
            wanted.append(
                Pool(
                    each.group_id,
                    each.cap_percent or 100,
                    each.buffer_units,
                    each.allow_in_transit,
                    each.allow_transfer_in_transit,
                )
            )
        check.raise_if_invalid()
        channel = messages.CHANNELS[request.channel]

        async def work(conn: asyncpg.Connection) -> pb.SetChannelPoolsResponse:
            known = await pool_repository.known_groups(conn, [pool.group_id for pool in wanted])
            for index, pool in enumerate(wanted):
                if pool.group_id not in known:
                    raise NotFound("location_group", pool.group_id, field=f"pools[{index}].group_id")
            await pool_repository.set_channel_pools(conn, channel.value, wanted)
            rows = await pool_repository.list_channel_pools(conn, channel.value, limit=MAX_CHANNEL_POOLS)
            stored = [pool_messages.channel_pool(row) for row in rows]
            await self.outbox.add(
                conn, "channel_pools.changed", pb.ChannelPoolsChanged(channel=request.channel, pools=stored)
            )
            return pb.SetChannelPoolsResponse(pools=stored)

        try:
            return await self.idempotency.run(
                self.db, "SetChannelPools", request.request_id, request, pb.SetChannelPoolsResponse, work
            )
        finally:
            self.book.forget()

    async def list_channel_pools(self, request: pb.ListChannelPoolsRequest) -> pb.ListChannelPoolsResponse:
        check = Validator()
        check.check(request.channel == 0 or request.channel in messages.CHANNELS, "channel", "unknown value")
        limit = check.page_size("page_size", request.page_size)
        # The token is "<channel> <group id>" (neither holds a space).
        channel_after, _, group_after = key_after(request.page_token).partition(" ")
        check.raise_if_invalid()
        channel = messages.CHANNELS[request.channel].value if request.channel else ""
        rows = await pool_repository.list_channel_pools(
            self.db.pool, channel, after=(channel_after, group_after), limit=limit + 1
        )
        page = rows[:limit]
        last = f"{page[-1]['channel']} {page[-1]['group_id']}" if len(rows) > limit else ""
        return pb.ListChannelPoolsResponse(
            pools=[pool_messages.channel_pool(row) for row in page], next_page_token=key_token(last)
        )


async def group_locations(db: Database, group_id: str, field: str) -> set[str]:
    """The locations of a group a read is filtered by; NOT_FOUND naming `field` when there is none."""
    found = await pool_repository.group_locations(db.pool, group_id)
    if found is None:
        raise NotFound("location_group", group_id, field=field)
    return set(found)
