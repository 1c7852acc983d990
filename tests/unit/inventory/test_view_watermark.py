"""The view's watermark rule on made-up snapshots: it rises to what a snapshot saw only once every
transaction running at that snapshot has ended, so a change numbered earlier but committed later
is still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnistock_inventory.adapters import changes
from omnistock_inventory.adapters.changes import Changes, Snapshot
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.settings import InventorySettings


def stock_row(sku: str, on_hand: int, change_seq: int) -> dict[str, Any]:
    return {
        "location_id": "L1",
        "sku": sku,
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


def test_a_snapshot_knows_which_transactions_had_ended() -> None:
    snapshot = Snapshot.parse("100:105:100,103")
    assert snapshot.finished(99) and snapshot.finished(101) and snapshot.finished(104)
    assert not snapshot.finished(100) and not snapshot.finished(103) and not snapshot.finished(105)
    assert Snapshot.parse("7:7:") == Snapshot(7, 7, frozenset())


async def test_a_change_committed_after_a_higher_one_is_not_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Transaction 100 took number 3 and is still running when transaction 101 commits number 5.
    rounds = iter(
        [
            (Snapshot.parse("100:102:100"), [stock_row("B", 1, 5)]),
            (Snapshot.parse("102:102:"), [stock_row("A", 7, 3), stock_row("B", 1, 5)]),
        ]
    )
    asked: list[int] = []

    async def changes_since(_pool: object, after: int) -> Changes:
        asked.append(after)
        snapshot, rows = next(rounds)
        found = [row for row in rows if row["change_seq"] > after]
        skus = [("A", False, 1, "{}"), ("B", False, 2, "{}")]
        return Changes(snapshot, datetime.now(UTC), [], skus, found, writers=snapshot.xip)  # type: ignore[arg-type]

    monkeypatch.setattr(changes, "changes_since", changes_since)

    class Pool:
        pool = None

    view = StockView(Pool(), InventorySettings(stock_view_max_staleness=timedelta(hours=1)))  # type: ignore[arg-type]
    await view.refresh("load")
    assert view.watermark == 0  # transaction 100 may still commit a lower number
    await view.refresh("check")
    assert asked == [0, 0]
    assert [row["on_hand"] for row in view.rows("A")] == [7]
    assert view.watermark == 5


def test_a_writer_with_an_id_above_the_snapshots_xmax_is_a_writer() -> None:
    # Transaction 101 took its id and a number, then 100 took a higher number and committed: the
    # snapshot ends its list at 100 (one past the newest ended), so 101 is running but not listed.
    snapshot = Snapshot.parse("101:101:")
    assert changes.writers(snapshot, [(101, True)]) == {101}
    assert changes.writers(snapshot, [(101, False), (102, True)]) == {102}  # 101 locks none of the tables


def test_writers_of_the_snapshots_list_are_kept_unless_seen_running_without_a_lock() -> None:
    snapshot = Snapshot.parse("100:105:100,103")
    assert changes.writers(snapshot, [(100, True)]) == {100, 103}  # 103 ended meanwhile: it may have written
    assert changes.writers(snapshot, [(100, True), (103, False)]) == {100}


def test_ids_from_the_locks_are_widened_to_the_snapshots_epoch() -> None:
    epoch = 3 * 2**32
    snapshot = Snapshot(epoch + 10, epoch + 10, frozenset())
    assert changes.writers(snapshot, [(12, True), (9, True)]) == {epoch + 12}  # 9 had ended before it
    near_wrap = Snapshot(epoch - 2, epoch - 2, frozenset())
    assert changes.writers(near_wrap, [(1, True), (2**32 - 1, True)]) == {epoch + 1, epoch - 1}


async def test_a_snapshots_number_is_confirmed_only_by_a_later_round(monkeypatch: pytest.MonkeyPatch) -> None:
    # No transaction is listed running at either snapshot, yet one may have ended between the first
    # snapshot and its look at the locks, with a number below 5 the first snapshot did not see.
    rounds = iter(
        [
            (Snapshot.parse("102:102:"), [stock_row("B", 1, 5)]),
            (Snapshot.parse("103:103:"), [stock_row("A", 7, 3), stock_row("B", 1, 5)]),
        ]
    )
    asked: list[int] = []

    async def changes_since(_pool: object, after: int) -> Changes:
        asked.append(after)
        snapshot, rows = next(rounds)
        found = [row for row in rows if row["change_seq"] > after]
        skus = [("A", False, 1, "{}"), ("B", False, 2, "{}")]
        return Changes(snapshot, datetime.now(UTC), [], skus, found)  # type: ignore[arg-type]

    monkeypatch.setattr(changes, "changes_since", changes_since)

    class Pool:
        pool = None

    view = StockView(Pool(), InventorySettings(stock_view_max_staleness=timedelta(hours=1)))  # type: ignore[arg-type]
    await view.refresh("load")
    assert view.watermark == 0
    await view.refresh("check")
    assert asked == [0, 0]
    assert [row["on_hand"] for row in view.rows("A")] == [7]
    assert view.watermark == 5
