"""GetStock's read of one SKU at one location from memory builds its level in the answer itself and
answers with the freshness made once per round: the answer is the one the general path gives, a
round's change shows in the next read (with a token as new as the round's), and a token above what
the view saw is never answered with less."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import changes, messages
from omnistock_inventory.adapters.changes import Changes, Snapshot
from omnistock_inventory.domain.stock import Pool, channel_available, kept_from_channel, may_use_safety_stock
from omnistock_inventory.service_layer.pools import UNKNOWN, PoolBook, at
from omnistock_inventory.service_layer.stock import StockLevels, channel_of
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.settings import InventorySettings

LOCATIONS = ["loc-a", "loc-b", "loc-c"]
SKUS = ["sofa", "lamp"]
WHEN = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def full_level(row: Any, *, use_safety_stock: bool, backorder: bool, pools: list[Pool] | None) -> pb.StockLevel:
    """A level with every field given, zeros included (how levels were made before)."""
    have = messages.counters(row)
    units, pool = channel_available(have, pools, use_safety_stock=use_safety_stock, backorder=backorder)
    level = pb.StockLevel(
        location_id=row["location_id"],
        sku=row["sku"],
        on_hand=have.on_hand,
        held=have.held,
        safety_stock=have.safety_stock,
        available=units,
        incoming=have.incoming,
        version=row["version"],
        in_transit=row.get("in_transit") or 0,
        in_transit_reserved=row.get("in_transit_reserved") or 0,
        pool_group_id=pool.group_id if pool is not None else "",
        pool_kept=kept_from_channel(have, pools, pool),
    )
    for field, value in (("next_incoming_at", row["next_incoming_at"]), ("updated_at", row["updated_at"])):
        if value is not None:
            getattr(level, field).FromDatetime(value)
    return level


@st.composite
def views(draw: st.DrawFn) -> StockView:
    view = StockView(None, InventorySettings(stock_view_max_staleness=timedelta(hours=1)))  # type: ignore[arg-type]
    for location_id in LOCATIONS:
        view._locations[location_id] = {"location_id": location_id, "name": location_id}  # type: ignore[assignment]
    for sku in SKUS:
        view._skus[sku] = draw(st.booleans())
        for location_id in draw(st.lists(st.sampled_from(LOCATIONS), unique=True)):
            on_hand = draw(st.integers(0, 9))
            in_transit = draw(st.integers(0, 4))
            view._stock.setdefault(sku, {})[location_id] = {  # type: ignore[assignment]
                "location_id": location_id,
                "sku": sku,
                "on_hand": on_hand,
                "held": draw(st.integers(0, on_hand)),
                "safety_stock": draw(st.integers(0, 3)),
                "incoming": draw(st.integers(0, 3)),
                "next_incoming_at": draw(st.none() | st.just(WHEN + timedelta(days=2))),
                "version": draw(st.integers(1, 50)),
                # Before and after the epoch: the timestamp's seconds and nanos either side of it.
                "updated_at": draw(st.sampled_from([WHEN, datetime(1969, 12, 31, 23, 59, 58, 500, tzinfo=UTC)])),
                "in_transit": in_transit,
                "in_transit_reserved": draw(st.integers(0, in_transit)),
                "change_seq": 1,
            }
    view.as_of = WHEN
    view.watermark = view._last_round_seen = 40
    view._round_ended = math.inf  # the last round just ended, whenever the test runs
    return view


def stock_levels(view: StockView, pools: Any) -> StockLevels:
    book = PoolBook(None)  # type: ignore[arg-type]
    book._pools = {channel.value: pools for channel in messages.CHANNELS.values()}
    book._until = math.inf
    return StockLevels(None, None, None, view, book)  # type: ignore[arg-type]


channel_pools = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(LOCATIONS),
        st.lists(
            st.builds(Pool, st.sampled_from(["a", "b"]), st.integers(1, 100), st.integers(0, 3), st.booleans()),
            max_size=2,
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    view=views(),
    pools=channel_pools,
    sku=st.sampled_from(SKUS),
    location_id=st.sampled_from(LOCATIONS),
    channel=st.sampled_from([common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_POS]),
    selling_location_id=st.sampled_from(["", *LOCATIONS]),
    token=st.sampled_from(["", "1", "40"]),
)
async def test_a_read_of_one_row_answers_what_every_field_given_would(
    view: StockView,
    pools: Any,
    sku: str,
    location_id: str,
    channel: int,
    selling_location_id: str,
    token: str,
) -> None:
    request = pb.GetStockRequest(
        sku=sku,
        location_id=location_id,
        channel=channel,
        selling_location_id=selling_location_id,
        min_consistency_token=token,
    )
    answer = await stock_levels(view, pools).get(request)
    row = view._stock.get(sku, {}).get(location_id)
    expected = pb.GetStockResponse(consistency_token="40")
    expected.as_of.FromDatetime(WHEN)
    if row is not None:
        use_safety_stock = may_use_safety_stock(channel_of(channel), selling_location_id, location_id)
        expected.levels.append(
            full_level(row, use_safety_stock=use_safety_stock, backorder=view._skus[sku], pools=at(pools, location_id))
        )
    assert answer == expected
    # The same row read through every location (the general path) gives the same level.
    everywhere = await stock_levels(view, pools).get(
        pb.GetStockRequest(sku=sku, channel=channel, selling_location_id=selling_location_id)
    )
    assert [level for level in everywhere.levels if level.location_id == location_id] == list(answer.levels)


async def test_bad_input_is_still_refused_field_by_field() -> None:
    view = StockView(None, InventorySettings(stock_view_max_staleness=timedelta(hours=1)))  # type: ignore[arg-type]
    view._skus["sofa"], view.as_of, view._round_ended = False, WHEN, math.inf
    reader = stock_levels(view, None)
    for request, field in [
        (pb.GetStockRequest(sku=""), "sku"),
        (pb.GetStockRequest(sku="sofa", location_id="no spaces"), "location_id"),
        (pb.GetStockRequest(sku="sofa", selling_location_id="-x"), "selling_location_id"),
        (pb.GetStockRequest(sku="sofa", min_consistency_token="12a"), "min_consistency_token"),
        # Digits int() cannot read, and more digits than int() reads: refused, not a crash.
        (pb.GetStockRequest(sku="sofa", min_consistency_token="4²"), "min_consistency_token"),
        (pb.GetStockRequest(sku="sofa", min_consistency_token="9" * 5000), "min_consistency_token"),
        (pb.GetStockRequest(sku="sofa", min_consistency_token=str(2**63)), "min_consistency_token"),
    ]:
        with pytest.raises(Exception) as refused:
            await reader.get(request)
        assert [violation.field for violation in refused.value.violations] == [field]  # type: ignore[attr-defined]


def stock_row(on_hand: int, change_seq: int) -> dict[str, Any]:
    return {
        "location_id": "loc-a",
        "sku": "sofa",
        "on_hand": on_hand,
        "held": 0,
        "safety_stock": 0,
        "incoming": 0,
        "next_incoming_at": None,
        "version": change_seq,
        "updated_at": datetime.now(UTC),
        "in_transit": 0,
        "change_seq": change_seq,
    }


async def test_each_round_answers_with_its_own_state_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The freshness made once per round is made again by the next: a read after a round that
    brought a change sees the change, with a token at least what that round saw and its as_of."""
    rows = [stock_row(3, 5)]

    async def changes_since(_pool: object, after: int) -> Changes:
        taken = Snapshot.parse("900:900:")
        place = {"location_id": "loc-a", "change_seq": 1}
        found = [row for row in rows if row["change_seq"] > after]
        return Changes(taken, datetime.now(UTC), [place], [("sofa", False, 2, "{}")], found, writers=frozenset())  # type: ignore[arg-type]

    monkeypatch.setattr(changes, "changes_since", changes_since)

    class Database:
        pool = None

    view = StockView(Database(), InventorySettings(stock_view_max_staleness=timedelta(hours=1)))  # type: ignore[arg-type]
    reader = stock_levels(view, None)
    request = pb.GetStockRequest(sku="sofa", location_id="loc-a")
    await view.refresh("load")
    seen: list[tuple[int, int, datetime]] = []
    for on_hand, change_seq in [(3, 5), (7, 9), (7, 9), (2, 12)]:
        rows.append(stock_row(on_hand, change_seq))
        await view.refresh("notification")
        first = await reader.get(request)
        again = await reader.get(request)
        assert first == again  # one round, one answer
        assert first.levels[0].on_hand == on_hand
        assert int(first.consistency_token) >= change_seq
        assert first.as_of.ToDatetime(tzinfo=UTC) == view.as_of
        seen.append((int(first.consistency_token), on_hand, first.as_of.ToDatetime(tzinfo=UTC)))
    tokens = [token for token, _, _ in seen]
    assert tokens == sorted(tokens)
    assert len({as_of for _, _, as_of in seen}) == len(seen)  # every round's own as_of
    # A token above what the view saw is answered with that token, never the round's lower one.
    assert view.freshness(10**6).token == 10**6
    assert view.freshness().token == view._last_round_seen == tokens[-1]


@settings(max_examples=200, deadline=None)
@given(rounds=st.lists(st.tuples(st.integers(0, 10**6), st.booleans()), min_size=1, max_size=20), asked=st.data())
def test_the_kept_freshness_is_never_older_than_the_view_or_the_token(
    rounds: list[tuple[int, bool]], asked: st.DataObject
) -> None:
    view = StockView(None, InventorySettings())  # type: ignore[arg-type]
    clock = WHEN
    for seen, new_time in rounds:
        view._last_round_seen = max(view._last_round_seen, seen)
        if new_time or view.as_of is None:
            clock += timedelta(milliseconds=1)
            view.as_of = clock
        token = asked.draw(st.none() | st.integers(0, 2 * 10**6))
        fresh = view.freshness(token)
        assert fresh.token == max(token or 0, view._last_round_seen)
        assert fresh.as_of is view.as_of
        assert fresh.token_text == str(fresh.token)
        assert fresh.as_of_message.ToDatetime(tzinfo=UTC) == view.as_of


async def test_the_pools_are_read_again_at_once_after_a_change_through_this_process() -> None:
    book = PoolBook(None)  # type: ignore[arg-type]
    web = messages.CHANNELS[common_pb2.CHANNEL_WEB]
    book._pools, book._until = {web.value: {"loc-a": [Pool("a")]}}, math.inf
    assert book.now(web) == {"loc-a": [Pool("a")]}
    book.forget()
    assert book.now(web) is UNKNOWN  # `of` reads them


@settings(max_examples=100, deadline=None)
@given(
    view=views(),
    pools=channel_pools,
    location_ids=st.lists(st.sampled_from(LOCATIONS), unique=True),
    channel=st.sampled_from([common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_POS]),
    selling_location_id=st.sampled_from(["", *LOCATIONS]),
)
async def test_a_batch_read_made_in_its_answer_gives_each_skus_levels(
    view: StockView, pools: Any, location_ids: list[str], channel: int, selling_location_id: str
) -> None:
    reader = stock_levels(view, pools)
    batch = await reader.batch_get(
        pb.BatchGetStockRequest(
            skus=SKUS, location_ids=location_ids, channel=channel, selling_location_id=selling_location_id
        )
    )
    expected = []
    for sku in sorted(SKUS):
        each = await reader.get(pb.GetStockRequest(sku=sku, channel=channel, selling_location_id=selling_location_id))
        expected += [level for level in each.levels if not location_ids or level.location_id in location_ids]
    assert list(batch.levels) == expected
    assert (batch.consistency_token, batch.as_of) == ("40", each.as_of)
