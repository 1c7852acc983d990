from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import unique_id


def in_days(days: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(days=days))
    return stamp


async def test_skus_are_found_by_text_and_attribute(catalogue) -> None:
    marker = unique_id("ZQ")
    green = await catalogue.sku(f"Velvet sofa {marker}", colour="Green", material="velvet")
    await catalogue.sku(f"Velvet sofa {marker}", colour="blue", material="velvet")
    found = await catalogue.admin.ListSkus(pb.ListSkusRequest(text=marker.lower(), attributes={"colour": "green"}))
    assert [s.sku for s in found.skus] == [green]
    both = await catalogue.admin.ListSkus(pb.ListSkusRequest(text=marker, page_size=1))
    assert len(both.skus) == 1 and both.next_page_token
    rest = await catalogue.admin.ListSkus(pb.ListSkusRequest(text=marker, page_size=1, page_token=both.next_page_token))
    assert len(rest.skus) == 1 and rest.skus[0].sku != both.skus[0].sku


async def test_a_search_of_several_words_finds_the_skus_that_have_them_all(catalogue) -> None:
    """A chat agent asks for a "green velvet sofa": the title says "Velvet sofa, 3-seater, green". Every
    word is looked for on its own (in the code, the title or an attribute value), and a % or _ is
    taken as typed, not as a wildcard."""
    marker = unique_id("ZQ")
    green = await catalogue.sku(f"Velvet sofa, 3-seater, green {marker}", colour="green", material="velvet")
    natural = await catalogue.sku(f"Oak dining chair {marker}", colour="natural", material="oak")
    await catalogue.sku(f"Velvet sofa, 3-seater, blue {marker}", colour="blue", material="velvet")

    async def found(text: str) -> list[str]:
        return [s.sku for s in (await catalogue.admin.ListSkus(pb.ListSkusRequest(text=text))).skus]

    assert await found(f"green velvet sofa {marker}") == [green]
    assert await found(f"{marker.lower()}  natural oak") == [natural]  # the colour is an attribute
    assert await found(f"{marker} velvet sofa, 3-seater,") == sorted(await found(f"{marker} sofa"))
    assert await found(f"{marker} %") == []
    assert await found(f"{marker} s_fa") == []


async def test_adjust_with_compare_and_set_and_the_ledger_lists_it(catalogue) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 5)
    counted = await catalogue.admin.AdjustStock(
        pb.AdjustStockRequest(
            request_id=unique_id(),
            location_id=store,
            sku=sku,
            reason=pb.ADJUSTMENT_REASON_COUNT,
            set_to=4,
            expected_on_hand=5,
        )
    )
    assert counted.level.on_hand == 4
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        await catalogue.admin.AdjustStock(
            pb.AdjustStockRequest(
                request_id=unique_id(),
                location_id=store,
                sku=sku,
                reason=pb.ADJUSTMENT_REASON_COUNT,
                set_to=3,
                expected_on_hand=5,
            )
        )
    assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    movements = (await catalogue.admin.ListMovements(pb.ListMovementsRequest(location_id=store, sku=sku))).movements
    assert [(m.kind, m.on_hand_delta, m.on_hand_after) for m in movements] == [
        (pb.MOVEMENT_KIND_RECEIPT, 5, 5),
        (pb.MOVEMENT_KIND_ADJUSTMENT, -1, 4),
    ]
    assert movements[1].reason == "count" and movements[1].actor


async def test_adjusting_below_what_is_held_is_refused(catalogue) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 2)
    await catalogue.admin.Hold(
        pb.HoldRequest(
            request_id=unique_id(),
            owner="order:x",
            channel=common_pb2.CHANNEL_WEB,
            lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=2)],
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.AdjustStock(
            pb.AdjustStockRequest(
                request_id=unique_id(), location_id=store, sku=sku, reason=pb.ADJUSTMENT_REASON_DAMAGE, delta=-1
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "held" in (refused.value.details() or "")


async def test_adjusting_below_zero_says_so_not_to_release_holds(catalogue) -> None:
    """Five off a shelf of two, nothing held, read "on hand cannot drop to -3: 0 units are held;
    release them first": there was nothing to release, and releasing would not have helped."""
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 2)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.AdjustStock(
            pb.AdjustStockRequest(
                request_id=unique_id(), location_id=store, sku=sku, reason=pb.ADJUSTMENT_REASON_DAMAGE, delta=-5
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == "on hand cannot drop below 0: it is 2, and -5 would make it -3"
    (failure,) = details_of(refused.value, error_details_pb2.PreconditionFailure)
    assert [v.type for v in failure.violations] == ["ON_HAND"]


async def test_only_services_and_admins_shorten_holds_with_an_adjustment(stack, catalogue) -> None:
    """Staff who find fewer units than are held release or re-route the holds first: an adjustment
    that gives customers' units back is refused them, and changes nothing."""
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 2)
    await catalogue.admin.Hold(
        pb.HoldRequest(
            request_id=unique_id(),
            owner=f"order:{unique_id()}",
            channel=common_pb2.CHANNEL_WEB,
            lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=2)],
        )
    )
    staff = stack.stub("inventory", role="warehouse", locations=[store])
    request = pb.AdjustStockRequest(
        request_id=unique_id(),
        location_id=store,
        sku=sku,
        reason=pb.ADJUSTMENT_REASON_SHRINKAGE,
        delta=-1,
        shorten_holds=True,
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await staff.AdjustStock(request)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
    assert (level.on_hand, level.held) == (2, 2)


async def test_backorder_holds_only_against_incoming_stock(catalogue) -> None:
    store = await catalogue.location()
    sku = unique_id("SKU-")
    await catalogue.admin.UpsertSku(
        pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sku, title="Made to order", allow_backorder=True))
    )
    await catalogue.receive(store, sku, 1)
    expected = await catalogue.admin.ExpectStock(
        pb.ExpectStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=2, expected_at=in_days(7))
    )
    assert expected.level.incoming == 2 and expected.level.available == 3
    request = pb.HoldRequest(
        request_id=unique_id(),
        owner="order:y",
        channel=common_pb2.CHANNEL_WEB,
        lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=3)],
    )
    assert (await catalogue.admin.Hold(request)).hold.state == pb.HOLD_STATE_ACTIVE
    request.request_id, request.lines[0].quantity = unique_id(), 1
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.Hold(request)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_announced_units_due_in_the_past_are_refused_naming_the_time(catalogue) -> None:
    """Units announced as due a week ago would be promised to channels and holds as arriving at a time
    already gone: refused as a transfer's expected arrival in the past is, and nothing is booked. A
    caller's clock may lag: a moment ago is taken as now."""
    store = await catalogue.location()
    sku = unique_id("SKU-")
    await catalogue.admin.UpsertSku(
        pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sku, title="Made to order", allow_backorder=True))
    )
    await catalogue.receive(store, sku, 1)
    last_week = pb.ExpectStockRequest(
        request_id=unique_id(), location_id=store, sku=sku, quantity=2, expected_at=in_days(-7)
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.ExpectStock(last_week)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(refused.value) == ["expected_at"]
    assert await counters(catalogue, store, sku) == (1, 0, 0)  # nothing announced
    just_now = Timestamp()
    just_now.FromDatetime(datetime.now(UTC) - timedelta(seconds=5))
    expected = await catalogue.admin.ExpectStock(
        pb.ExpectStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=2, expected_at=just_now)
    )
    assert expected.level.incoming == 2


async def counters(catalogue, location_id: str, sku: str) -> tuple[int, int, int]:
    """(on hand, held, incoming) of one stock row."""
    found = await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=location_id))
    (level,) = found.levels
    return level.on_hand, level.held, level.incoming


async def test_units_on_their_way_are_never_sold_before_they_arrive(catalogue) -> None:
    """A backorderable SKU promises incoming units to holds, but a till sale (held and committed
    at once) and a commit need them on hand: refused clearly, nothing changed."""
    store = await catalogue.location()
    sku = unique_id("SKU-")
    await catalogue.admin.UpsertSku(
        pb.UpsertSkuRequest(request_id=unique_id(), sku=pb.Sku(sku=sku, title="Made to order", allow_backorder=True))
    )
    await catalogue.admin.ExpectStock(
        pb.ExpectStockRequest(request_id=unique_id(), location_id=store, sku=sku, quantity=4, expected_at=in_days(3))
    )
    till_sale = pb.HoldRequest(
        request_id=unique_id(),
        owner="order:till",
        channel=common_pb2.CHANNEL_POS,
        selling_location_id=store,
        commit_now=True,
        lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=1)],
    )
    with pytest.raises(grpc.aio.AioRpcError) as no_shelf:
        await catalogue.admin.Hold(till_sale)
    assert no_shelf.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    (shortfall,) = details_of(no_shelf.value, common_pb2.Shortfall)
    assert [(line.sku, line.requested, line.available) for line in shortfall.lines] == [(sku, 1, 0)]

    promised = (
        await catalogue.admin.Hold(
            pb.HoldRequest(
                request_id=unique_id(),
                owner="order:web",
                channel=common_pb2.CHANNEL_WEB,
                lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=2)],
            )
        )
    ).hold
    with pytest.raises(grpc.aio.AioRpcError) as not_here:
        await catalogue.admin.CommitHold(pb.CommitHoldRequest(request_id=unique_id(), hold_id=promised.hold_id))
    assert not_here.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not on hand yet" in (not_here.value.details() or "")
    assert await counters(catalogue, store, sku) == (0, 2, 4)

    await catalogue.receive(store, sku, 2)
    committed = await catalogue.admin.CommitHold(pb.CommitHoldRequest(request_id=unique_id(), hold_id=promised.hold_id))
    assert committed.hold.state == pb.HOLD_STATE_COMMITTED
    assert await counters(catalogue, store, sku) == (0, 0, 2)  # two of the four have arrived


async def test_transfer_keeps_the_units_and_checks_the_owner(catalogue, tap) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    await catalogue.receive(store, sku, 1)
    hold = (
        await catalogue.admin.Hold(
            pb.HoldRequest(
                request_id=unique_id(),
                owner="reservation:r1",
                channel=common_pb2.CHANNEL_CHAT,
                lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=1)],
            )
        )
    ).hold
    with pytest.raises(grpc.aio.AioRpcError) as wrong_owner:
        await catalogue.admin.TransferHold(
            pb.TransferHoldRequest(
                request_id=unique_id(), hold_id=hold.hold_id, expected_owner="reservation:other", new_owner="order:o1"
            )
        )
    assert wrong_owner.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    moved = await catalogue.admin.TransferHold(
        pb.TransferHoldRequest(
            request_id=unique_id(), hold_id=hold.hold_id, expected_owner="reservation:r1", new_owner="order:o1"
        )
    )
    assert moved.hold.owner == "order:o1" and moved.hold.hold_id == hold.hold_id
    _, event = await tap.wait_for(
        lambda e, p: e.type == "inventory.hold.transferred" and p.hold.hold_id == hold.hold_id
    )
    assert event.previous_owner == "reservation:r1"
    assert not [p for p in tap.of_type("inventory.hold.released") if p.hold.hold_id == hold.hold_id]
    level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels[0]
    assert level.held == 1


async def test_find_availability_sorts_by_distance_and_respects_method(catalogue) -> None:
    sku = await catalogue.sku()
    near = await catalogue.location(lat=52.52, lon=13.40)
    far = await catalogue.location(lat=53.55, lon=9.99)
    no_pickup = await catalogue.location(lat=52.521, lon=13.401, pickup=False)
    for location in (near, far, no_pickup):
        await catalogue.receive(location, sku, 1)
    found = await catalogue.admin.FindAvailability(
        pb.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
            channel=common_pb2.CHANNEL_CHAT,
            near=common_pb2.GeoPoint(latitude=52.5, longitude=13.4),
            method=common_pb2.FULFILMENT_METHOD_PICKUP,
        )
    )
    assert [entry.location.location_id for entry in found.locations] == [near, far]
    assert found.locations[0].distance_km < 5 < found.locations[1].distance_km
    within = await catalogue.admin.FindAvailability(
        pb.FindAvailabilityRequest(
            items=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
            near=common_pb2.GeoPoint(latitude=52.5, longitude=13.4),
            radius_km=50,
        )
    )
    assert {entry.location.location_id for entry in within.locations} == {near, no_pickup}


async def test_staff_change_stock_only_at_their_own_locations(stack, catalogue) -> None:
    mine, other = await catalogue.location(), await catalogue.location()
    sku = await catalogue.sku()
    warehouse = stack.stub("inventory", role="warehouse", locations=[mine])
    await warehouse.ReceiveStock(pb.ReceiveStockRequest(request_id=unique_id(), location_id=mine, sku=sku, quantity=2))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await warehouse.ReceiveStock(
            pb.ReceiveStockRequest(request_id=unique_id(), location_id=other, sku=sku, quantity=2)
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    till = stack.stub("inventory", role="pos", locations=[mine])
    returned = await till.AdjustStock(
        pb.AdjustStockRequest(
            request_id=unique_id(), location_id=mine, sku=sku, reason=pb.ADJUSTMENT_REASON_RETURN, delta=1
        )
    )
    assert returned.level.on_hand == 3
    with pytest.raises(grpc.aio.AioRpcError) as write_off:
        await till.AdjustStock(
            pb.AdjustStockRequest(
                request_id=unique_id(), location_id=mine, sku=sku, reason=pb.ADJUSTMENT_REASON_DAMAGE, delta=-1
            )
        )
    assert write_off.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Dating a write-off back moves the lines of counts staff take blind: a service's call, not theirs.
    dated = pb.AdjustStockRequest(
        request_id=unique_id(), location_id=mine, sku=sku, reason=pb.ADJUSTMENT_REASON_SHRINKAGE, delta=-1
    )
    dated.observed_at.GetCurrentTime()
    with pytest.raises(grpc.aio.AioRpcError) as backdated:
        await warehouse.AdjustStock(dated)
    assert backdated.value.code() == grpc.StatusCode.PERMISSION_DENIED
    mine_level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=mine))).levels
    assert mine_level[0].on_hand == 3
    level = (await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=other))).levels
    assert not level or level[0].on_hand == 0


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    return [v.field for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations]


async def test_stock_at_an_unknown_location_is_not_found_and_at_a_location_without_the_sku_is_empty(catalogue) -> None:
    store, sku = await catalogue.location(), await catalogue.sku()
    empty = await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=store))
    assert list(empty.levels) == []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.GetStock(pb.GetStockRequest(sku=sku, location_id=unique_id("NOWHERE-")))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    (resource,) = details_of(refused.value, error_details_pb2.ResourceInfo)
    assert (resource.resource_type, resource.description) == ("location", "location_id")


async def test_batch_get_skus_answers_found_and_not_found_once_each(catalogue) -> None:
    sofa, lamp = await catalogue.sku("Velvet sofa"), await catalogue.sku("Brass lamp")
    missing = unique_id("SKU-NONE-")
    answer = await catalogue.admin.BatchGetSkus(pb.BatchGetSkusRequest(skus=[lamp, missing, sofa, lamp, missing]))
    assert [sku.sku for sku in answer.skus] == sorted([sofa, lamp])
    assert list(answer.not_found) == [missing]
    by_code = {sku.sku: sku for sku in answer.skus}
    single = (await catalogue.admin.GetSku(pb.GetSkuRequest(sku=sofa))).sku
    assert by_code[sofa] == single and by_code[sofa].price_minor == 129900
    nothing = await catalogue.admin.BatchGetSkus(pb.BatchGetSkusRequest(skus=[missing]))
    assert not nothing.skus and list(nothing.not_found) == [missing]


@pytest.mark.parametrize(
    ("skus", "fields"),
    [
        ([], ["skus"]),
        (["SKU-1", "", "SKU-3", "-bad"], ["skus[1]", "skus[3]"]),
        (["SKU\x00"], ["skus[0]"]),
        ([f"SKU-{n}" for n in range(101)], ["skus"]),
    ],
    ids=["empty", "bad-codes", "nul", "over-100"],
)
async def test_batch_get_skus_names_each_bad_code(catalogue, skus, fields) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.BatchGetSkus(pb.BatchGetSkusRequest(skus=skus))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(refused.value) == fields


async def test_batch_get_locations_answers_found_and_not_found(catalogue) -> None:
    store, warehouse = await catalogue.location(), await catalogue.location(kind=pb.LOCATION_KIND_WAREHOUSE)
    missing = unique_id("LOC-NONE-")
    answer = await catalogue.admin.BatchGetLocations(
        pb.BatchGetLocationsRequest(location_ids=[warehouse, missing, store, store])
    )
    assert [location.location_id for location in answer.locations] == sorted([store, warehouse])
    assert list(answer.not_found) == [missing]
    single = (await catalogue.admin.GetLocation(pb.GetLocationRequest(location_id=store))).location
    assert {location.location_id: location for location in answer.locations}[store] == single
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await catalogue.admin.BatchGetLocations(pb.BatchGetLocationsRequest(location_ids=[store, "no spaces"]))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(refused.value) == ["location_ids[1]"]


async def test_lists_filtered_by_an_unknown_location_or_sku_are_not_found_and_an_idle_one_is_empty(
    catalogue, stack
) -> None:
    """`omnistock movements --sku NOPE` answered "No movements.", as if nothing had happened to a SKU
    that exists. Every list of a location's records names the filter that finds nothing to look at."""
    store, sku = await catalogue.location(), await catalogue.sku()
    nowhere, nope = unique_id("NOWHERE-"), unique_id("NOPE-")
    admin = catalogue.admin
    lists = [
        ("location", "location_id", admin.ListMovements(pb.ListMovementsRequest(location_id=nowhere))),
        ("sku", "sku", admin.ListMovements(pb.ListMovementsRequest(sku=nope))),
        ("sku", "sku", admin.ListMovements(pb.ListMovementsRequest(location_id=store, sku=nope))),
        ("location", "location_id", admin.ListHolds(pb.ListHoldsRequest(location_id=nowhere))),
        ("location", "location_id", admin.ListTransfers(pb.ListTransfersRequest(location_id=nowhere))),
        ("location", "location_id", admin.ListCounts(pb.ListCountsRequest(location_id=nowhere))),
    ]
    for kind, field, call in lists:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        (resource,) = details_of(refused.value, error_details_pb2.ResourceInfo)
        assert (resource.resource_type, resource.description) == (kind, field)
    # Ids that exist and have nothing yet: empty lists.
    assert list((await admin.ListMovements(pb.ListMovementsRequest(location_id=store, sku=sku))).movements) == []
    assert list((await admin.ListHolds(pb.ListHoldsRequest(location_id=store))).holds) == []
    assert list((await admin.ListTransfers(pb.ListTransfersRequest(location_id=store))).transfers) == []
    assert list((await admin.ListCounts(pb.ListCountsRequest(location_id=store))).counts) == []
    # Staff asking of a location not theirs are refused as before, whether it exists or not.
    clerk = stack.stub("inventory", token=stack.token("pos", locations=[store]))
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await clerk.ListMovements(pb.ListMovementsRequest(location_id=nowhere))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
