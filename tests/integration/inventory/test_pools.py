"""Location groups and channel pools through the real inventory service: groups and pools are set,
listed and announced; every read answers per channel and names the pool; every hold statement
applies the same rule, so a channel never takes what its pool keeps back, even in a race.

Pools are set per channel for the whole database, so these tests run on one of their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import pool_repository
from omnistock_inventory.domain.stock import Channel
from omnistock_inventory.service_layer.pools import PoolBook
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.db import Database
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.inventory.conftest import Catalogue
from tests.integration.inventory.test_holds import hold_request

WEB, CHAT, POS = common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_CHAT, common_pb2.CHANNEL_POS
BACKOFFICE = common_pb2.CHANNEL_BACKOFFICE


@pytest_asyncio.fixture(scope="module")
async def own_db(fresh_stack: Stack) -> AsyncIterator[Database]:
    database = Database(fresh_stack.settings.database_url or "", min_size=1, max_size=4)
    await database.connect()
    yield database
    await database.close()


@pytest_asyncio.fixture
async def shop(fresh_stack: Stack) -> AsyncIterator[Catalogue]:
    catalogue = Catalogue(fresh_stack.stub("inventory", role="admin"), fresh_stack)
    yield catalogue
    # The next test starts without pools.
    for channel in (WEB, CHAT, POS, common_pb2.CHANNEL_APP, BACKOFFICE, common_pb2.CHANNEL_MARKETPLACE):
        await catalogue.admin.SetChannelPools(pb.SetChannelPoolsRequest(request_id=unique_id(), channel=channel))


async def group(shop: Catalogue, name: str, *location_ids: str) -> str:
    group_id = unique_id(f"{name}-")
    await shop.admin.UpsertLocationGroup(
        pb.UpsertLocationGroupRequest(
            request_id=unique_id(),
            group=pb.LocationGroup(group_id=group_id, display_name=name, location_ids=list(location_ids)),
        )
    )
    return group_id


async def set_pools(shop: Catalogue, channel: int, *pools: pb.ChannelPool) -> list[pb.ChannelPool]:
    reply = await shop.admin.SetChannelPools(
        pb.SetChannelPoolsRequest(request_id=unique_id(), channel=channel, pools=list(pools))  # type: ignore[arg-type]
    )
    return list(reply.pools)


async def level(shop: Catalogue, location_id: str, sku: str, channel: int, selling: str = "") -> pb.StockLevel:
    reply = await shop.admin.GetStock(
        pb.GetStockRequest(sku=sku, location_id=location_id, channel=channel, selling_location_id=selling)  # type: ignore[arg-type]
    )
    (found,) = reply.levels
    return found


async def test_groups_and_pools_are_kept_listed_and_announced(shop: Catalogue, own_db: Database) -> None:
    mitte, kreuzberg = await shop.location(), await shop.location()
    request = pb.UpsertLocationGroupRequest(
        request_id=unique_id(),
        group=pb.LocationGroup(group_id=unique_id("berlin-"), display_name="Berlin stores", location_ids=[mitte]),
    )
    first = (await shop.admin.UpsertLocationGroup(request)).group
    assert (await shop.admin.UpsertLocationGroup(request)).group == first  # a retry answers the same
    stores = first.group_id
    # Replacing the members: the group is what the last call said.
    request = pb.UpsertLocationGroupRequest(
        request_id=unique_id(),
        group=pb.LocationGroup(group_id=stores, display_name="Berlin stores", location_ids=[kreuzberg, mitte]),
    )
    assert list((await shop.admin.UpsertLocationGroup(request)).group.location_ids) == sorted([mitte, kreuzberg])
    listed = {g.group_id: g for g in (await shop.admin.ListLocationGroups(pb.ListLocationGroupsRequest())).groups}
    assert list(listed[stores].location_ids) == sorted([mitte, kreuzberg])

    stored = await set_pools(shop, WEB, pb.ChannelPool(group_id=stores, cap_percent=80, buffer_units=2))
    assert [(p.channel, p.group_id, p.cap_percent, p.buffer_units) for p in stored] == [(WEB, stores, 80, 2)]
    assert await set_pools(shop, CHAT, pb.ChannelPool(group_id=stores)) == [
        pb.ChannelPool(channel=CHAT, group_id=stores, cap_percent=100)  # 0 means the whole stock
    ]
    everyone = (await shop.admin.ListChannelPools(pb.ListChannelPoolsRequest())).pools
    assert [(p.channel, p.group_id) for p in everyone] == [(CHAT, stores), (WEB, stores)]  # by channel name
    only_web = (await shop.admin.ListChannelPools(pb.ListChannelPoolsRequest(channel=WEB))).pools
    assert [p.group_id for p in only_web] == [stores]
    # Both lists come in pages.
    await group(shop, "more", mitte)
    first_page = await shop.admin.ListLocationGroups(pb.ListLocationGroupsRequest(page_size=1))
    second_page = await shop.admin.ListLocationGroups(
        pb.ListLocationGroupsRequest(page_size=1, page_token=first_page.next_page_token)
    )
    assert len(first_page.groups) == len(second_page.groups) == 1 and second_page.next_page_token == ""
    assert first_page.groups[0].group_id < second_page.groups[0].group_id
    one = await shop.admin.ListChannelPools(pb.ListChannelPoolsRequest(page_size=1))
    other = await shop.admin.ListChannelPools(pb.ListChannelPoolsRequest(page_size=1, page_token=one.next_page_token))
    assert [(p.channel, q.channel) for p, q in zip(one.pools, other.pools, strict=True)] == [(CHAT, WEB)]
    assert other.next_page_token == ""

    subjects = [
        row["subject"].rsplit(".", 2)[-2]
        for row in await own_db.fetch("SELECT subject FROM inventory.outbox ORDER BY created_at, event_id")
    ]
    assert subjects.count("location_group") == 3 and subjects.count("channel_pools") == 2  # a retry writes none

    # Wrong input is refused naming the field (or what was not found); nothing unknown is pooled.
    refusals = [
        (pb.UpsertLocationGroupRequest(group=pb.LocationGroup(group_id="g", display_name="G", location_ids=["NOPE"])),
         grpc.StatusCode.NOT_FOUND, "'NOPE'"),
        (pb.UpsertLocationGroupRequest(group=pb.LocationGroup(group_id="g")),
         grpc.StatusCode.INVALID_ARGUMENT, "group.display_name"),
        (pb.SetChannelPoolsRequest(channel=WEB, pools=[pb.ChannelPool(group_id="no-such-group")]),
         grpc.StatusCode.NOT_FOUND, "'no-such-group'"),
        (pb.SetChannelPoolsRequest(channel=WEB, pools=[pb.ChannelPool(group_id=stores, cap_percent=101)]),
         grpc.StatusCode.INVALID_ARGUMENT, "pools[0].cap_percent"),
        (pb.SetChannelPoolsRequest(channel=WEB, pools=[pb.ChannelPool(group_id=stores, buffer_units=-1)]),
         grpc.StatusCode.INVALID_ARGUMENT, "pools[0].buffer_units"),
        (pb.SetChannelPoolsRequest(channel=WEB, pools=[pb.ChannelPool(group_id=stores)] * 2),
         grpc.StatusCode.INVALID_ARGUMENT, "pools[1].group_id"),
        (pb.SetChannelPoolsRequest(pools=[pb.ChannelPool(group_id=stores)]),
         grpc.StatusCode.INVALID_ARGUMENT, "channel"),
    ]  # fmt: skip
    for wrong, code, field in refusals:
        method = shop.admin.UpsertLocationGroup if isinstance(wrong, pb.UpsertLocationGroupRequest) else None
        wrong.request_id = unique_id()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await (method or shop.admin.SetChannelPools)(wrong)
        assert refused.value.code() == code and field in (refused.value.details() or ""), (field, refused.value)
    unchanged = await shop.admin.ListChannelPools(pb.ListChannelPoolsRequest(channel=WEB))
    assert [p.cap_percent for p in unchanged.pools] == [80]


async def test_every_read_answers_per_channel_and_names_the_pool(shop: Catalogue, fresh_stack: Stack) -> None:
    store = await shop.location()
    warehouse = await shop.location(kind=pb.LOCATION_KIND_WAREHOUSE, lat=52.4, lon=13.5)
    sofa = await shop.sku()
    await shop.receive(store, sofa, 10)
    await shop.receive(warehouse, sofa, 30)
    stores, warehouses = await group(shop, "stores", store), await group(shop, "warehouses", warehouse)
    await set_pools(shop, WEB, pb.ChannelPool(group_id=stores, cap_percent=80, buffer_units=1),
                    pb.ChannelPool(group_id=warehouses))  # fmt: skip
    await set_pools(shop, CHAT, pb.ChannelPool(group_id=warehouses))  # a marketplace-like channel: warehouses only

    web_store = await level(shop, store, sofa, WEB)
    assert (web_store.available, web_store.pool_group_id, web_store.pool_kept) == (7, stores, 3)
    assert (await level(shop, warehouse, sofa, WEB)).available == 30
    chat_store = await level(shop, store, sofa, CHAT)
    assert (chat_store.available, chat_store.pool_group_id, chat_store.pool_kept) == (0, "", 10)  # all kept
    assert (await level(shop, warehouse, sofa, CHAT)).pool_group_id == warehouses
    till = await level(shop, store, sofa, POS, selling=store)  # a channel without pools: as before
    assert (till.available, till.pool_group_id, till.pool_kept) == (10, "", 0)

    batch = await shop.admin.BatchGetStock(pb.BatchGetStockRequest(skus=[sofa], channel=CHAT))
    assert {lv.location_id: (lv.available, lv.pool_group_id) for lv in batch.levels} == {
        store: (0, ""),
        warehouse: (30, warehouses),
    }

    def where(reply: pb.FindAvailabilityResponse) -> dict[str, int]:
        return {entry.location.location_id: entry.levels[0].available for entry in reply.locations}

    want = [common_pb2.SkuQuantity(sku=sofa, quantity=1)]
    assert where(await shop.admin.FindAvailability(pb.FindAvailabilityRequest(items=want, channel=CHAT))) == {
        warehouse: 30
    }
    assert where(await shop.admin.FindAvailability(pb.FindAvailabilityRequest(items=want, channel=WEB))) == {
        store: 7,
        warehouse: 30,
    }
    per_group = pb.FindAvailabilityRequest(items=want, channel=WEB, location_group_id=stores)
    assert where(await shop.admin.FindAvailability(per_group)) == {store: 7}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.admin.FindAvailability(pb.FindAvailabilityRequest(items=want, location_group_id="no-such-group"))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND

    # WatchStock: the snapshot and every change, as the watching channel sees them.
    stream = shop.admin.WatchStock(pb.WatchStockRequest(skus=[sofa], location_ids=[store], channel=WEB))
    try:
        snapshot = await asyncio.wait_for(stream.read(), 10)
        assert [(lv.available, lv.pool_group_id) for lv in snapshot.levels] == [(7, stores)]
        await shop.receive(store, sofa, 10)  # 20 on hand: 80 % is 16, one more kept: 15
        change = await asyncio.wait_for(stream.read(), 10)
        assert [(lv.on_hand, lv.available, lv.pool_group_id, lv.pool_kept) for lv in change.levels] == [
            (20, 15, stores, 5)
        ]
    finally:
        stream.cancel()

    # No pools: the web shop sells from everywhere again.
    await set_pools(shop, WEB)
    assert (await level(shop, store, sofa, WEB)).available == 20


async def test_holds_never_take_what_the_pool_keeps_back(shop: Catalogue, fresh_stack: Stack) -> None:
    store, other = await shop.location(), await shop.location()
    sofa, lamp = await shop.sku(), await shop.sku("Lamp")
    for sku in (sofa, lamp):
        await shop.receive(store, sku, 5)
        await shop.receive(other, sku, 5)
    stores = await group(shop, "stores", store)
    await set_pools(shop, WEB, pb.ChannelPool(group_id=stores, buffer_units=2))  # the last 2 are for walk-ins

    def shortfall(refused: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> list[tuple[str, int, int]]:
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        (found,) = details_of(refused.value, common_pb2.Shortfall)
        return [(line.location_id, line.requested, line.available) for line in found.lines]

    # One line (the statement that claims the request id and takes the units at once).
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.admin.Hold(hold_request([(store, sofa, 4)]))
    assert shortfall(refused) == [(store, 4, 3)]
    # Outside its groups the web shop takes nothing.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.admin.Hold(hold_request([(other, sofa, 1)]))
    assert shortfall(refused) == [(other, 1, 0)]
    # Several lines (rows locked together, checked on the locked rows).
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.admin.Hold(hold_request([(store, sofa, 3), (store, lamp, 4)]))
    assert shortfall(refused) == [(store, 4, 3)]
    await shop.admin.Hold(hold_request([(store, sofa, 3), (store, lamp, 3)]))
    assert (await level(shop, store, sofa, WEB)).available == 0

    # The till sells the kept units, and the app (without pools) may still take units elsewhere.
    till = fresh_stack.stub("inventory", role="pos", locations=[store])
    for _ in range(2):
        await till.Hold(hold_request([(store, sofa, 1)], channel=POS, commit_now=True, selling_location_id=store))
    app = await shop.admin.Hold(hold_request([(other, sofa, 5)], channel=common_pb2.CHANNEL_APP))
    assert app.hold.state == pb.HOLD_STATE_ACTIVE
    assert (await level(shop, store, sofa, POS, selling=store)).on_hand == 3


async def test_a_hold_grown_in_place_keeps_its_channels_rule(shop: Catalogue, own_db: Database) -> None:
    """AdjustHold (an order edited after allocation) takes more units as the hold's own channel:
    a web hold cannot grow into what the web pool keeps back; a hold of a channel without pools can."""
    store, other = await shop.location(), await shop.location()
    sofa = await shop.sku()
    await shop.receive(store, sofa, 10)
    await shop.receive(other, sofa, 5)
    stores = await group(shop, "stores", store)
    await set_pools(shop, WEB, pb.ChannelPool(group_id=stores, buffer_units=4))  # the web shop may take 6
    web = (await shop.admin.Hold(hold_request([(store, sofa, 4)]))).hold

    def grow(hold: pb.Hold, location_id: str, open_: int, expected: int) -> pb.AdjustHoldRequest:
        line = pb.HoldLineChange(location_id=location_id, sku=sofa, open=open_, expected_open=expected)
        return pb.AdjustHoldRequest(
            request_id=unique_id(), adjustments=[pb.HoldAdjustment(hold_id=hold.hold_id, lines=[line])]
        )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.admin.AdjustHold(grow(web, store, 7, 4))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (short,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.location_id, line.requested, line.available) for line in short.lines] == [(store, 3, 2)]
    # Nor may it grow onto a location outside the web shop's groups.
    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await shop.admin.AdjustHold(grow(web, other, 1, 0))
    (short,) = details_of(outside.value, common_pb2.Shortfall)
    assert [(line.location_id, line.requested, line.available) for line in short.lines] == [(other, 1, 0)]
    (grown,) = (await shop.admin.AdjustHold(grow(web, store, 6, 4))).holds  # up to what the pool gives
    assert [line.open for line in grown.lines] == [6]
    with pytest.raises(grpc.aio.AioRpcError) as nothing_left:  # the web shop has taken all it may
        await shop.admin.Hold(hold_request([(store, sofa, 1)]))
    assert nothing_left.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # The chat channel has no pools: its hold grows into the units the web pool keeps back.
    chat = (await shop.admin.Hold(hold_request([(store, sofa, 1)], channel=CHAT))).hold
    (grown,) = (await shop.admin.AdjustHold(grow(chat, store, 4, 1))).holds
    assert [line.open for line in grown.lines] == [4]
    # AdjustHold answers no consistency token, so the count is read where the holds took it.
    held = await own_db.pool.fetchval(
        "SELECT held FROM inventory.stock WHERE location_id = $1 AND sku = $2", store, sofa
    )
    assert held == 10


async def test_racing_web_holds_and_till_sales_never_take_the_kept_units(
    shop: Catalogue, fresh_stack: Stack, own_db: Database
) -> None:
    """40 web holds and 20 till sales of one unit each race for 20 sofas; the web shop's pool keeps
    the last 5 for walk-ins. At every web hold, the 5 were still on the shelf; every sofa is sold
    exactly once; the tills sold at least the 5 kept ones."""
    store = await shop.location()
    sofa = await shop.sku()
    await shop.receive(store, sofa, 20)
    stores = await group(shop, "stores", store)
    await set_pools(shop, WEB, pb.ChannelPool(group_id=stores, buffer_units=5))
    tills = [fresh_stack.stub("inventory", role="pos", locations=[store]) for _ in range(2)]

    async def attempt(call: object, request: pb.HoldRequest) -> bool:
        try:
            await call(request)  # type: ignore[operator]
            return True
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error  # a shortfall, never an error
            return False

    web = [attempt(shop.admin.Hold, hold_request([(store, sofa, 1)])) for _ in range(40)]
    sales = [
        attempt(
            tills[index % 2].Hold,
            hold_request([(store, sofa, 1)], channel=POS, commit_now=True, selling_location_id=store),
        )
        for index in range(20)
    ]
    outcomes = await asyncio.gather(*(task for pair in zip(web[::2], web[1::2], sales, strict=True) for task in pair))
    results = {"web": 0, "till": 0}
    for index, won in enumerate(outcomes):
        results["till" if index % 3 == 2 else "web"] += won
    assert results["web"] + results["till"] == 20  # sold exactly as many as existed
    assert results["web"] <= 15 and results["till"] >= 5
    # Every web hold left at least the 5 kept units on the shelf and not held, in the ledger's words.
    after_web_holds = await own_db.fetch(
        "SELECT m.on_hand_after - m.held_after AS left_over FROM inventory.movements m"
        " JOIN inventory.holds h USING (hold_id) WHERE m.kind = 'hold' AND h.channel = 'web'"
        " AND m.location_id = $1 AND m.sku = $2",
        store,
        sofa,
    )
    assert len(after_web_holds) == results["web"]
    assert all(row["left_over"] >= 5 for row in after_web_holds)
    final = await level(shop, store, sofa, POS, selling=store)
    assert final.on_hand - final.held == 0
    assert await check_invariants(own_db) == []


async def test_holds_sharing_transactions_keep_each_channels_rule(
    shop: Catalogue, fresh_stack: Stack, own_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Web holds (whose pool keeps the last 2 of each row) and app holds (no pools) race for one hot
    row and for many free rows while they share transactions: holds on one row share one only with
    holds of their own channel, and holds on many rows each keep their own channel's rule. No web
    hold took a kept unit, every unit is held once, and the app took the rest."""
    batcher = fresh_stack.apps["inventory"].servicers[0].implementation.holds.batcher
    monkeypatch.setattr(batcher, "max_in_flight", 2)  # holds on free rows surely share transactions
    store = await shop.location()
    hot = await shop.sku("Hot lamp")
    await shop.receive(store, hot, 20)
    spread = [await shop.sku(f"Chair {index}") for index in range(12)]
    for sku in spread:
        await shop.receive(store, sku, 3)
    stores = await group(shop, "stores", store)
    await set_pools(shop, WEB, pb.ChannelPool(group_id=stores, buffer_units=2))

    async def attempt(request: pb.HoldRequest) -> bool:
        try:
            await shop.admin.Hold(request)
            return True
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error  # a shortfall, never an error
            return False

    wanted = [hot] * 30 + spread * 3
    requests = [
        hold_request([(store, sku, 1)], channel=channel) for sku in wanted for channel in (WEB, common_pb2.CHANNEL_APP)
    ]
    await asyncio.gather(*(attempt(request) for request in requests))

    movements = await own_db.fetch(
        "SELECT m.sku, h.channel, m.on_hand_after - m.held_after AS left_over, m.xmin::text AS txn"
        " FROM inventory.movements m JOIN inventory.holds h USING (hold_id)"
        " WHERE m.kind = 'hold' AND m.location_id = $1",
        store,
    )
    assert all(row["left_over"] >= 2 for row in movements if row["channel"] == "web")
    for sku, units in [(hot, 20), *((sku, 3) for sku in spread)]:
        mine = [row for row in movements if row["sku"] == sku]
        assert len(mine) == units  # every unit held once: the app took what the web shop may not
        assert sum(row["channel"] == "web" for row in mine) <= units - 2
    assert len({row["txn"] for row in movements}) < len(movements)  # holds did share transactions
    assert await check_invariants(own_db) == []


async def test_a_transfers_hold_keeps_the_rule_of_remote_holds_unless_the_back_office_has_pools(
    shop: Catalogue, own_db: Database
) -> None:
    """Ship to store holds the units at the origin as the back office (a transfer is no shop's
    sale): the web shop's pools do not bound it, the back office's own pools would."""
    origin, destination = await shop.location(), await shop.location()
    sofa = await shop.sku()
    await shop.receive(origin, sofa, 6)
    stores = await group(shop, "stores", origin)
    await set_pools(shop, WEB, pb.ChannelPool(group_id=stores, buffer_units=5))

    async def transfer(quantity: int) -> pb.Transfer:
        request = pb.CreateTransferRequest(
            request_id=unique_id(),
            origin_location_id=origin,
            destination_location_id=destination,
            lines=[pb.TransferLineRequest(sku=sofa, quantity=quantity)],
            hold_owner=f"reservation:{unique_id()}",
        )
        return (await shop.admin.CreateTransfer(request)).transfer

    assert (await transfer(2)).origin_hold_id  # the web shop's pool keeps 5, yet the transfer holds 2
    await set_pools(shop, BACKOFFICE, pb.ChannelPool(group_id=stores, buffer_units=2))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await transfer(3)  # 4 left, the back office's pool keeps 2
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (found,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.location_id, line.requested, line.available) for line in found.lines] == [(origin, 3, 2)]
    assert (await transfer(2)).origin_hold_id
    # CreateTransfer answers no consistency token, so the count is read where the holds took it.
    held = await own_db.pool.fetchval(
        "SELECT held FROM inventory.stock WHERE location_id = $1 AND sku = $2", origin, sofa
    )
    assert held == 4


async def test_reads_that_find_the_pools_expired_share_one_query(
    shop: Catalogue, own_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read applies the pools of its channel; a hundred reads in flight when the copy expired
    asked the database a hundred times. One query serves them all, and a read after a change made
    through this process (forget) never takes the answer of a query begun before it."""
    queries = 0
    real = pool_repository.pool_members

    async def counted(conn: object, channel: str = "") -> list:  # type: ignore[type-arg]
        nonlocal queries
        queries += 1
        return await real(conn, channel)  # type: ignore[arg-type]

    monkeypatch.setattr(pool_repository, "pool_members", counted)
    book = PoolBook(own_db)
    answers = await asyncio.gather(*(book.of(Channel.WEB) for _ in range(50)))
    assert queries == 1
    assert answers == [None] * 50  # no pools: the channel sells from every location

    store = await shop.location()
    # A query is under way when the pools change: a read after the change waits for a new one.
    book.forget()
    before = asyncio.ensure_future(book.of(Channel.WEB))
    await asyncio.sleep(0)
    await set_pools(shop, WEB, pb.ChannelPool(group_id=await group(shop, "web", store), cap_percent=50))
    book.forget()
    after = await book.of(Channel.WEB)
    await before
    assert queries == 3
    assert after is not None and [pool.cap_percent for pool in after[store]] == [50]
