"""Holds coalesced on a hot row keep every invariant of holds taken one by one: each its own
version, movement, event and answer; a retry gets the first answer; no unit is held twice."""

from __future__ import annotations

import asyncio

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import wait_until

HOLDS = 120
STOCK = 100


async def _row(admin, units: int) -> tuple[str, str]:
    location_id, sku = unique_id("LOC-"), unique_id("SKU-")
    await admin.UpsertLocation(
        pb.UpsertLocationRequest(
            request_id=unique_id(),
            location=pb.Location(
                location_id=location_id,
                name="Hot store",
                kind=pb.LOCATION_KIND_STORE,
                city="Berlin",
                point=common_pb2.GeoPoint(latitude=52.5, longitude=13.4),
                pickup=True,
                active=True,
            ),
        )
    )
    await admin.UpsertSku(pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sku, title="Hot item")))
    await admin.ReceiveStock(
        pb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=units)
    )
    return location_id, sku


async def _hold_or_short(admin, request: pb.HoldRequest) -> pb.Hold | None:
    """The hold granted, or None when it was refused as a shortfall (any other error fails the test)."""
    try:
        return (await admin.Hold(request)).hold
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
        return None


async def test_concurrent_holds_on_one_row_are_each_recorded_and_never_oversell(stack, db, tap) -> None:
    admin = stack.stub("inventory", role="admin")
    location_id, sku = await _row(admin, STOCK)
    requests = [
        pb.HoldRequest(
            request_id=unique_id(),
            owner=f"bench:{index}",
            channel=common_pb2.CHANNEL_WEB,
            lines=[pb.HoldLineRequest(location_id=location_id, sku=sku, quantity=1)],
        )
        for index in range(HOLDS)
    ]

    # Every request twice at once: the second of each pair lands in a batch with its first, or after it.
    answers = await asyncio.gather(*(_hold_or_short(admin, request) for request in requests for _ in range(2)))
    firsts, seconds = answers[0::2], answers[1::2]
    for first, second in zip(firsts, seconds, strict=True):
        if first is not None and second is not None:
            assert first == second  # the same hold, not a second one
    granted = {answer.hold_id for answer in answers if answer is not None}
    assert len(granted) == STOCK  # more asked than there is: exactly the stock is held

    level = (await admin.GetStock(pb.GetStockRequest(sku=sku, location_id=location_id))).levels[0]
    assert level.held == STOCK
    movements = await db.fetch(
        "SELECT version, held_after, held_delta, hold_id FROM inventory.movements"
        " WHERE location_id = $1 AND sku = $2 AND kind = 'hold' ORDER BY version",
        location_id,
        sku,
    )
    assert {row["hold_id"] for row in movements} == granted
    # One version per hold, with the counters as they stood after it: as if taken one by one.
    assert [row["version"] for row in movements] == list(range(2, 2 + STOCK))
    assert [row["held_after"] for row in movements] == list(range(1, 1 + STOCK))

    def versions() -> list[int]:
        return sorted(
            event.level.version
            for event in tap.of_type("inventory.stock.changed")
            if event.level.sku == sku and event.cause == pb.MOVEMENT_KIND_HOLD
        )

    await wait_until(lambda: versions() == list(range(2, 2 + STOCK)), what="one stock.changed per hold")
    assert await check_invariants(db) == []


SPREAD_ROWS = 30  # three holds per row, each sent twice: 180 calls, under the server's 256 in flight


async def test_concurrent_holds_on_many_rows_share_transactions_and_keep_every_invariant(
    stack, db, tap, monkeypatch
) -> None:
    """More holds on free rows than may be in flight: they go in shared transactions, and each row
    still sees one version, movement and event per hold. A hold on a row without stock is taken
    out of its shared transaction and refused on its own; the others still share."""
    # Two hold transactions at once (production runs one, OMNISTOCK_HOLD_TRANSACTIONS): holds surely
    # share, and more than one shared transaction runs at a time.
    batcher = stack.apps["inventory"].servicers[0].implementation.holds.batcher
    monkeypatch.setattr(batcher, "max_in_flight", 2)
    admin = stack.stub("inventory", role="admin")
    location_id, first = await _row(admin, 2)
    skus = [first]
    for _ in range(SPREAD_ROWS - 1):
        sku = unique_id("SKU-")
        await admin.UpsertSku(pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sku, title="Spread item")))
        skus.append(sku)
    stocked = skus[: SPREAD_ROWS - 8]  # the last eight rows have no stock at all: every hold there is short
    for sku in stocked[1:]:
        await admin.ReceiveStock(
            pb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=2)
        )
    requests = [
        pb.HoldRequest(
            request_id=unique_id(),
            owner=f"spread:{index}",
            channel=common_pb2.CHANNEL_WEB,
            lines=[pb.HoldLineRequest(location_id=location_id, sku=sku, quantity=1)],
        )
        for index, sku in enumerate(skus * 3)  # three holds per row for two units: one is short
    ]

    # Each request twice at once, as a client retrying early would.
    answers = await asyncio.gather(*(_hold_or_short(admin, request) for request in requests for _ in range(2)))
    for first, second in zip(answers[0::2], answers[1::2], strict=True):
        if first is not None and second is not None:
            assert first == second
    granted = {answer.hold_id: answer.lines[0].sku for answer in answers if answer is not None}
    assert sorted(granted.values()) == sorted(stocked * 2)  # two per stocked row, none elsewhere

    movements = await db.fetch(
        "SELECT sku, version, held_after, hold_id, xmin::text AS txn FROM inventory.movements"
        " WHERE location_id = $1 AND kind = 'hold' ORDER BY sku, version",
        location_id,
    )
    assert {row["hold_id"] for row in movements} == set(granted)
    for sku in stocked:
        mine = [row for row in movements if row["sku"] == sku]
        assert [row["version"] for row in mine] == [2, 3] and [row["held_after"] for row in mine] == [1, 2]
    # Some holds shared a transaction (the point of it); none was written twice.
    assert len({row["txn"] for row in movements}) < len(movements)

    def held_events() -> int:
        return sum(
            1
            for event in tap.of_type("inventory.stock.changed")
            if event.level.location_id == location_id and event.cause == pb.MOVEMENT_KIND_HOLD
        )

    await wait_until(lambda: held_events() == len(granted), what="one stock.changed per hold")
    assert await check_invariants(db) == []
