"""AdjustHold: holds changed in place, all or nothing, never released and taken again."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id
from tests.integration.inventory.test_holds import hold_request


def change(location_id: str, sku: str, open_: int, expected: int) -> pb.HoldLineChange:
    return pb.HoldLineChange(location_id=location_id, sku=sku, open=open_, expected_open=expected)


def adjust(hold_id: str, *changes: pb.HoldLineChange, request_id: str = "") -> pb.AdjustHoldRequest:
    return pb.AdjustHoldRequest(
        request_id=request_id or unique_id(),
        adjustments=[pb.HoldAdjustment(hold_id=hold_id, lines=list(changes))],
        reason="order edited",
    )


async def level(catalogue, store: str, sku: str) -> pb.StockLevel:
    return (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]


async def test_lines_grow_shrink_appear_and_go_without_a_release(catalogue, db) -> None:
    store, other = await catalogue.location(), await catalogue.location()
    sofa, lamp = await catalogue.sku(), await catalogue.sku()
    await catalogue.receive(store, sofa, 5)
    await catalogue.receive(store, lamp, 5)
    await catalogue.receive(other, sofa, 5)
    held = (await catalogue.admin.Hold(hold_request([(store, sofa, 2), (store, lamp, 3)]))).hold

    request = adjust(
        held.hold_id,
        change(store, sofa, 4, 2),  # grows in place
        change(store, lamp, 0, 3),  # removed
        change(other, sofa, 1, 0),  # added at another location
    )
    (after,) = (await catalogue.admin.AdjustHold(request)).holds
    assert after.hold_id == held.hold_id and after.state == pb.HOLD_STATE_ACTIVE
    assert [(line.location_id, line.sku, line.open) for line in after.lines] == sorted(
        [(store, sofa, 4), (other, sofa, 1)]
    )
    assert ((await level(catalogue, store, sofa)).held, (await level(catalogue, store, lamp)).held) == (4, 0)
    assert (await level(catalogue, other, sofa)).held == 1
    # The same request again is the first answer, not a second change.
    assert (await catalogue.admin.AdjustHold(request)).holds[0] == after
    assert (await level(catalogue, store, sofa)).held == 4
    movements = (await catalogue.admin.ListMovements(pb.ListMovementsRequest(location_id=store, sku=sofa))).movements
    assert [m.kind for m in movements] == [pb.MOVEMENT_KIND_RECEIPT, pb.MOVEMENT_KIND_HOLD, pb.MOVEMENT_KIND_HOLD]
    assert [m.held_delta for m in movements] == [0, 2, 2]
    assert await check_invariants(db) == []


async def test_an_increase_that_does_not_fit_changes_nothing(catalogue, db) -> None:
    store = await catalogue.location()
    sofa, lamp = await catalogue.sku(), await catalogue.sku()
    await catalogue.receive(store, sofa, 3)
    await catalogue.receive(store, lamp, 3)
    held = (await catalogue.admin.Hold(hold_request([(store, sofa, 2), (store, lamp, 2)]))).hold

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, lamp, 0, 2), change(store, sofa, 4, 2)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.sku, line.requested, line.available) for line in shortfall.lines] == [(sofa, 2, 1)]
    # The lamp line was not given back either: all or nothing.
    got = (await catalogue.admin.GetHold(pb.GetHoldRequest(hold_id=held.hold_id))).hold
    assert [(line.sku, line.open) for line in got.lines] == sorted([(sofa, 2), (lamp, 2)])
    assert ((await level(catalogue, store, sofa)).held, (await level(catalogue, store, lamp)).held) == (2, 2)
    assert await check_invariants(db) == []


async def test_committed_units_stay_and_a_stale_view_is_refused(catalogue, db) -> None:
    store = await catalogue.location()
    sofa = await catalogue.sku()
    await catalogue.receive(store, sofa, 5)
    held = (await catalogue.admin.Hold(hold_request([(store, sofa, 3)]))).hold
    await catalogue.admin.CommitHold(
        pb.CommitHoldRequest(
            request_id=unique_id(),
            hold_id=held.hold_id,
            lines=[pb.HoldLineRequest(location_id=store, sku=sofa, quantity=1)],
        )
    )
    # The caller still believes 3 are open: refused, nothing applied on top of the sale.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, sofa, 1, 3)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    violations = [
        v.type for d in details_of(refused.value, error_details_pb2.PreconditionFailure) for v in d.violations
    ]
    assert violations == ["HOLD_LINE_CHANGED"]
    # Removing what is open keeps the sold unit: the hold is committed, nothing was un-sold.
    (after,) = (await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, sofa, 0, 2)))).holds
    assert after.state == pb.HOLD_STATE_COMMITTED
    assert (after.lines[0].quantity, after.lines[0].committed, after.lines[0].open) == (1, 1, 0)
    assert ((await level(catalogue, store, sofa)).on_hand, (await level(catalogue, store, sofa)).held) == (4, 0)
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, sofa, 1, 0)))
    assert ended.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await check_invariants(db) == []


async def test_holds_of_different_owners_are_not_adjusted_together(catalogue) -> None:
    store = await catalogue.location()
    sofa = await catalogue.sku()
    await catalogue.receive(store, sofa, 5)
    first = (await catalogue.admin.Hold(hold_request([(store, sofa, 1)]))).hold
    second = (await catalogue.admin.Hold(hold_request([(store, sofa, 1)]))).hold
    request = pb.AdjustHoldRequest(
        request_id=unique_id(),
        adjustments=[
            pb.HoldAdjustment(hold_id=first.hold_id, lines=[change(store, sofa, 2, 1)]),
            pb.HoldAdjustment(hold_id=second.hold_id, lines=[change(store, sofa, 2, 1)]),
        ],
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.AdjustHold(request)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await level(catalogue, store, sofa)).held == 2


async def test_malformed_adjustments_name_the_field(catalogue) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.AdjustHold(
            pb.AdjustHoldRequest(
                request_id=unique_id(),
                adjustments=[pb.HoldAdjustment(hold_id="h", lines=[change("", "SKU", -1, 0)])],
            )
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "adjustments[0].lines[0].location_id" in refused.value.details()


async def test_concurrent_increases_never_oversell(catalogue, db) -> None:
    """Many holds on one row grow at once while others take the same units: exactly as many
    units are held as exist, every loser gets a shortfall, and the ledger explains the row."""
    store = await catalogue.location()
    sofa = await catalogue.sku()
    await catalogue.receive(store, sofa, 20)
    holds = [(await catalogue.admin.Hold(hold_request([(store, sofa, 1)]))).hold for _ in range(10)]

    async def grow(hold: pb.Hold) -> int:
        try:
            await catalogue.admin.AdjustHold(adjust(hold.hold_id, change(store, sofa, 3, 1)))
            return 2
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
            return 0

    async def take() -> int:
        try:
            await catalogue.admin.Hold(hold_request([(store, sofa, 1)]))
            return 1
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
            return 0

    results = await asyncio.gather(*(grow(hold) for hold in holds), *(take() for _ in range(10)))
    row = await level(catalogue, store, sofa)
    assert row.held == 10 + sum(results) <= 20
    assert row.held == 20  # demand exceeded stock: every unit went to someone
    assert await check_invariants(db) == []
