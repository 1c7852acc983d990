"""AdjustHold on a set held whole: its bundle line grows or shrinks in whole sets, its components
move together by their units per set (as the hold holds the set), never oversold."""

from __future__ import annotations

import asyncio
import random
from typing import TypeVar

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import unique_id
from omnistock_platform.testing.waiting import eventually
from tests.integration.inventory.test_bundles import hold_request, levels_of
from tests.integration.inventory.test_hold_edits import adjust, change

Event = TypeVar("Event", pb.StockChanged, pb.HoldChanged)


def refusal(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
    return [(v.type, v.subject) for d in details_of(error, error_details_pb2.PreconditionFailure) for v in d.violations]


async def movements(catalogue, store: str, sku: str) -> list[tuple[int, int]]:
    found = (await catalogue.admin.ListMovements(pb.ListMovementsRequest(location_id=store, sku=sku))).movements
    return [(m.kind, m.held_delta) for m in found]


async def events(db, kind: str, message: type[Event], hold_id: str) -> list[Event]:
    """The events of `kind` about the hold that inventory wrote, oldest first."""
    found = []
    for row in await db.pool.fetch(
        "SELECT envelope FROM inventory.outbox WHERE subject LIKE $1 ORDER BY id", f"%.inventory.{kind}"
    ):
        payload = message()
        common_pb2.EventEnvelope.FromString(row["envelope"]).payload.Unpack(payload)
        about = payload.hold.hold_id if isinstance(payload, pb.HoldChanged) else payload.hold_id
        if about == hold_id:
            found.append(payload)
    return found


@pytest.fixture
async def sofas(catalogue):
    """A store with 10 sofas and 10 cushions, and a set of one sofa with two cushions."""
    store = await catalogue.location()
    sofa, cushion = await catalogue.sku("Green velvet sofa"), await catalogue.sku("Green cushion")
    await catalogue.receive(store, sofa, 10)
    await catalogue.receive(store, cushion, 10)
    return store, sofa, cushion, await define_set(catalogue.admin, {sofa: 1, cushion: 2})


async def test_a_set_grows_and_shrinks_with_its_components(catalogue, db, sofas) -> None:
    store, sofa, cushion, sofa_set = sofas
    held = (await catalogue.admin.Hold(hold_request([(store, sofa_set, 1)]))).hold

    grow = adjust(held.hold_id, change(store, sofa_set, 3, 1))
    (grown,) = (await catalogue.admin.AdjustHold(grow)).holds
    assert [(b.sku, b.quantity, b.open) for b in grown.bundles] == [(sofa_set, 3, 3)]
    assert {(line.sku, line.quantity, line.open) for line in grown.lines} == {(sofa, 3, 3), (cushion, 6, 6)}
    levels = await levels_of(catalogue, [sofa, cushion], store)
    assert [(levels[p].on_hand, levels[p].held) for p in (sofa, cushion)] == [(10, 3), (10, 6)]
    # Each component row's change is announced with its level, and the hold's change with its lines.
    changed = await events(db, "stock.changed", pb.StockChanged, held.hold_id)
    assert [(e.level.sku, e.level.held) for e in changed if e.cause == pb.MOVEMENT_KIND_HOLD][-2:] == sorted(
        [(sofa, 3), (cushion, 6)]
    )
    (adjusted,) = await events(db, "hold.adjusted", pb.HoldChanged, held.hold_id)
    assert [(line.sku, line.open) for line in adjusted.previous_lines] == sorted([(sofa, 1), (cushion, 2)])
    assert [(line.sku, line.open) for line in adjusted.lines] == sorted([(sofa, 3), (cushion, 6)])
    assert [(b.sku, b.open) for b in adjusted.hold.bundles] == [(sofa_set, 3)]
    # The same request again is the first answer, not two more sets.
    assert (await catalogue.admin.AdjustHold(grow)).holds[0] == grown
    assert (await levels_of(catalogue, [cushion], store))[cushion].held == 6

    (shrunk,) = (await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, sofa_set, 1, 3)))).holds
    assert [(b.quantity, b.released, b.open) for b in shrunk.bundles] == [(3, 2, 1)]
    assert {(line.sku, line.released, line.open) for line in shrunk.lines} == {(sofa, 2, 1), (cushion, 4, 2)}
    levels = await levels_of(catalogue, [sofa, cushion], store)
    assert [(levels[p].on_hand, levels[p].held) for p in (sofa, cushion)] == [(10, 1), (10, 2)]
    hold_kind, release_kind = pb.MOVEMENT_KIND_HOLD, pb.MOVEMENT_KIND_RELEASE
    assert (await movements(catalogue, store, cushion))[1:] == [(hold_kind, 2), (hold_kind, 4), (release_kind, -4)]

    # 0 gives the set back: nothing else is held, so the hold is released.
    (gone,) = (await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, sofa_set, 0, 1)))).holds
    assert gone.state == pb.HOLD_STATE_RELEASED
    assert [(b.quantity, b.released, b.open) for b in gone.bundles] == [(3, 3, 0)]
    levels = await levels_of(catalogue, [sofa, cushion], store)
    assert (levels[sofa].held, levels[cushion].held) == (0, 0)
    assert await check_invariants(db) == []


async def test_committed_sets_stay_and_a_stale_view_of_them_is_refused(catalogue, db, sofas) -> None:
    store, sofa, cushion, sofa_set = sofas
    held = (await catalogue.admin.Hold(hold_request([(store, sofa_set, 3)]))).hold
    await catalogue.admin.CommitHold(
        pb.CommitHoldRequest(
            request_id=unique_id(),
            hold_id=held.hold_id,
            lines=[pb.HoldLineRequest(location_id=store, sku=sofa_set, quantity=2)],
        )
    )
    # The caller still believes 3 sets are open: refused, naming the set's line; nothing moves.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, sofa_set, 1, 3)))
    assert refusal(refused.value) == [("HOLD_LINE_CHANGED", f"{held.hold_id}/{store}/{sofa_set}")]
    # Growing the open set keeps the two sold ones as they are.
    (grown,) = (await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, sofa_set, 2, 1)))).holds
    assert [(b.quantity, b.committed, b.released, b.open) for b in grown.bundles] == [(4, 2, 0, 2)]
    (after,) = (await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, sofa_set, 0, 2)))).holds
    assert after.state == pb.HOLD_STATE_COMMITTED
    assert [(b.quantity, b.committed, b.released, b.open) for b in after.bundles] == [(4, 2, 2, 0)]
    levels = await levels_of(catalogue, [sofa, cushion], store)
    assert [(levels[p].on_hand, levels[p].held) for p in (sofa, cushion)] == [(8, 0), (6, 0)]
    assert await check_invariants(db) == []


async def test_a_component_held_for_the_set_is_not_changed_alone(catalogue, db, sofas) -> None:
    store, sofa, cushion, sofa_set = sofas
    held = (await catalogue.admin.Hold(hold_request([(store, sofa_set, 1), (store, cushion, 1)]))).hold
    subject = f"{store}/{cushion}"
    for changes in (
        [change(store, cushion, 1, 3)],  # below the two the set takes
        [change(store, sofa_set, 2, 1), change(store, cushion, 5, 3)],  # with its set at once
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await catalogue.admin.AdjustHold(adjust(held.hold_id, *changes))
        assert refusal(refused.value) == [("BUNDLE_COMPONENT", subject)]
    # More sets than a hold line could hold the units of: the field is named, nothing changes.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.AdjustHold(
            adjust(held.hold_id, change(store, cushion, 3, 3), change(store, sofa_set, 600_000, 1))
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "adjustments[0].lines[1].open" in refused.value.details()
    # The cushion held alone still may change.
    (edited,) = (await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, cushion, 4, 3)))).holds
    assert {(line.sku, line.open) for line in edited.lines} == {(sofa, 1), (cushion, 4)}
    assert [(b.sku, b.open) for b in edited.bundles] == [(sofa_set, 1)]
    assert await check_invariants(db) == []


async def test_a_short_component_names_the_set_in_whole_sets_and_changes_nothing(catalogue, db) -> None:
    store = await catalogue.location()
    sofa, cushion, lamp = await catalogue.sku(), await catalogue.sku(), await catalogue.sku()
    await catalogue.receive(store, sofa, 5)
    await catalogue.receive(store, cushion, 7)
    await catalogue.receive(store, lamp, 5)
    sofa_set = await define_set(catalogue.admin, {sofa: 1, cushion: 2})
    held = (await catalogue.admin.Hold(hold_request([(store, sofa_set, 1), (store, lamp, 2)]))).hold
    before = await movements(catalogue, store, sofa)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        # 3 more sets need 3 sofas (4 are free) and 6 cushions (5 are free): two more sets at most.
        await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, lamp, 0, 2), change(store, sofa_set, 4, 1)))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(refused.value, common_pb2.Shortfall)
    assert [(line.location_id, line.sku, line.requested, line.available) for line in shortfall.lines] == [
        (store, sofa_set, 3, 2)
    ]
    got = (await catalogue.admin.GetHold(pb.GetHoldRequest(hold_id=held.hold_id))).hold
    assert list(got.lines) == list(held.lines) and list(got.bundles) == list(held.bundles)
    levels = await levels_of(catalogue, [sofa, cushion, lamp], store)
    assert [levels[p].held for p in (sofa, cushion, lamp)] == [1, 2, 2]
    assert await movements(catalogue, store, sofa) == before
    assert await check_invariants(db) == []


async def test_a_set_grows_as_it_was_held_and_may_be_added_elsewhere(catalogue, db, sofas) -> None:
    store, sofa, cushion, sofa_set = sofas
    other = await catalogue.location()
    await catalogue.receive(other, sofa, 2)
    await catalogue.receive(other, cushion, 2)
    held = (await catalogue.admin.Hold(hold_request([(store, sofa_set, 1)]))).hold
    await define_set(catalogue.admin, {sofa: 1, cushion: 4}, sku=sofa_set)  # redefined since

    (after,) = (
        await catalogue.admin.AdjustHold(
            adjust(held.hold_id, change(store, sofa_set, 2, 1), change(other, sofa_set, 1, 0))
        )
    ).holds
    # Both as the hold holds the set: two cushions a set, not the four of the new definition.
    assert [(b.location_id, b.quantity, {c.sku: c.quantity for c in b.components}) for b in after.bundles] == sorted(
        [(store, 2, {sofa: 1, cushion: 2}), (other, 1, {sofa: 1, cushion: 2})]
    )
    assert {(line.location_id, line.sku, line.open) for line in after.lines} == {
        (store, sofa, 2),
        (store, cushion, 4),
        (other, sofa, 1),
        (other, cushion, 2),
    }
    levels = await levels_of(catalogue, [sofa, cushion], other)
    assert (levels[sofa].held, levels[cushion].held) == (1, 2)
    assert await check_invariants(db) == []


async def test_a_set_added_where_the_hold_has_none_takes_its_definition(catalogue, db, sofas) -> None:
    store, sofa, cushion, sofa_set = sofas
    lamp = await catalogue.sku()
    await catalogue.receive(store, lamp, 3)
    held = (await catalogue.admin.Hold(hold_request([(store, lamp, 1)]))).hold
    (after,) = (
        await catalogue.admin.AdjustHold(adjust(held.hold_id, change(store, lamp, 0, 1), change(store, sofa_set, 2, 0)))
    ).holds
    assert [(b.sku, b.quantity, b.open) for b in after.bundles] == [(sofa_set, 2, 2)]
    assert {(line.sku, line.open) for line in after.lines} == {(sofa, 2), (cushion, 4)}
    assert await check_invariants(db) == []


GROWERS = 12
SELLERS = 24


async def test_growing_sets_and_selling_components_alone_at_once_never_oversell(stack, catalogue, db, tmp_path) -> None:
    """Orders' holds grow their sets while tills and other holds sell sofas and cushions alone, on two
    inventory processes at once: every change is all or nothing, on hand never drops below zero nor
    below held, and each hold holds exactly its sets' components."""
    store = await catalogue.location()
    sofa, cushion = await catalogue.sku("Sofa"), await catalogue.sku("Cushion")
    await catalogue.receive(store, sofa, 20)
    await catalogue.receive(store, cushion, 30)
    sofa_set = await define_set(catalogue.admin, {sofa: 1, cushion: 2})
    holds = [(await catalogue.admin.Hold(hold_request([(store, sofa_set, 1)]))).hold for _ in range(GROWERS)]
    second = await ServiceProcess(stack.settings, "inventory", log_file=tmp_path / "inventory.log").start()
    try:
        stubs = [
            catalogue.admin,
            inventory_pb2_grpc.InventoryServiceStub(stack.channel("inventory", address=second.address)),
        ]
        rng = random.Random(7)
        sales = [(rng.choice([sofa, cushion]), rng.randint(1, 3)) for _ in range(SELLERS)]
        growth = [rng.randint(2, 4) for _ in range(GROWERS)]

        async def grow(index: int) -> int:
            try:
                await stubs[index % 2].AdjustHold(
                    adjust(holds[index].hold_id, change(store, sofa_set, growth[index], 1))
                )
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
                assert [line.sku for d in details_of(error, common_pb2.Shortfall) for line in d.lines] == [sofa_set]
                return 1
            return growth[index]

        async def sell(index: int) -> int:
            sku, quantity = sales[index]
            request = hold_request(
                [(store, sku, quantity)],
                channel=common_pb2.CHANNEL_POS,
                selling_location_id=store,
                commit_now=True,
            )
            try:
                await stubs[index % 2].Hold(request)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
                return 0
            return quantity

        outcome = await asyncio.gather(*(grow(i) for i in range(GROWERS)), *(sell(i) for i in range(SELLERS)))
    finally:
        second.terminate()

    sets = outcome[:GROWERS]
    sold = {sofa: 0, cushion: 0}
    for (sku, _), quantity in zip(sales, outcome[GROWERS:], strict=True):
        sold[sku] += quantity
    asked = {part: sum(quantity for sku, quantity in sales if sku == part) for part in (sofa, cushion)}
    assert sum(growth) + asked[sofa] > 20 and 2 * sum(growth) + asked[cushion] > 30  # more than there was
    held = {sofa: sum(sets), cushion: 2 * sum(sets)}

    async def settled() -> dict[str, pb.StockLevel] | None:
        levels = await levels_of(catalogue, [sofa, cushion], store)
        wanted = {sofa: (20 - sold[sofa], held[sofa]), cushion: (30 - sold[cushion], held[cushion])}
        return levels if all((levels[p].on_hand, levels[p].held) == wanted[p] for p in wanted) else None

    levels = await eventually(settled, what=f"levels to settle at {sold} sold and {held} held")
    for part in (sofa, cushion):
        assert 0 <= levels[part].held <= levels[part].on_hand
    for hold, wanted in zip(holds, sets, strict=True):
        got = (await catalogue.admin.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id))).hold
        assert [b.open for b in got.bundles] == [wanted]
        assert {(line.sku, line.open) for line in got.lines} == {(sofa, wanted), (cushion, 2 * wanted)}
    assert await check_invariants(db) == []
