"""Cycle counts while the location keeps selling: blind for staff, exact at each line's ledger position,
unscanned lines zeroed after the review, large variances recounted or approved by someone else, and
the variances posted once, through the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import unique_id


@dataclass
class Store:
    """A store, its staff (pos, blind) and the back office (admin)."""

    location_id: str
    staff: Any
    office: Any
    catalogue: Any

    async def open(self, scope: int = pb.COUNT_SCOPE_ALL, **fields: Any) -> pb.Count:
        request = pb.CreateCountRequest(request_id=unique_id(), location_id=self.location_id, scope=scope, **fields)
        return (await self.staff.CreateCount(request)).count

    async def scan(self, count_id: str, sku: str, quantity: int, *, by: Any = None) -> pb.RecordCountResponse:
        return await (by or self.staff).RecordCount(
            pb.RecordCountRequest(request_id=unique_id(), count_id=count_id, sku=sku, quantity=quantity)
        )

    async def review(self, count_id: str) -> pb.ReviewCountResponse:
        return await self.staff.ReviewCount(pb.ReviewCountRequest(request_id=unique_id(), count_id=count_id))

    async def complete(self, count_id: str) -> pb.CompleteCountResponse:
        return await self.staff.CompleteCount(pb.CompleteCountRequest(request_id=unique_id(), count_id=count_id))

    async def sell(self, sku: str, quantity: int) -> None:
        """A till sale at the store: held and committed at once."""
        await self.staff.Hold(
            pb.HoldRequest(
                request_id=unique_id(),
                owner=f"till:{self.location_id}",
                channel=common_pb2.CHANNEL_POS,
                lines=[pb.HoldLineRequest(location_id=self.location_id, sku=sku, quantity=quantity)],
                selling_location_id=self.location_id,
                commit_now=True,
            )
        )

    async def on_hand(self, sku: str) -> pb.StockLevel:
        levels = (await self.office.GetStock(pb.GetStockRequest(sku=sku, location_id=self.location_id))).levels
        return levels[0]

    async def lines(self, count_id: str, *, as_office: bool = True) -> dict[str, pb.CountLine]:
        reader = self.office if as_office else self.staff
        reply = await reader.ListCountLines(pb.ListCountLinesRequest(count_id=count_id, page_size=500))
        return {line.sku: line for line in reply.lines}


def person(stack: Any, role: str, subject: str, locations: list[str] | None = None) -> Any:
    """A stub for one named person: approvals are refused to whoever counted the line."""
    return stack.stub("inventory", token=stack.token(role, locations=locations, subject=subject))


@pytest.fixture
async def store(catalogue, stack) -> Store:
    location_id = await catalogue.location()
    return Store(
        location_id,
        person(stack, "pos", unique_id("clerk-"), [location_id]),
        person(stack, "admin", unique_id("manager-")),
        catalogue,
    )


def refusal(error: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> tuple[grpc.StatusCode, list[str]]:
    violations = [v.type for d in details_of(error.value, error_details_pb2.PreconditionFailure) for v in d.violations]
    return error.value.code(), violations


async def test_variance_is_taken_at_the_scan_and_sales_around_it_are_neither_lost_nor_counted_twice(
    store: Store, db
) -> None:
    sku = await store.catalogue.sku("Lamp")
    await store.catalogue.receive(store.location_id, sku, 10)  # the book says 10; one unit was stolen: 9 on the shelf
    count = await store.open(note="aisle 3")
    assert count.status == pb.COUNT_STATUS_OPEN and count.summary.lines == 1

    await store.sell(sku, 2)  # book 8, shelf 7
    scanned = await store.scan(count.count_id, sku, 7)
    # Blind: the clerk sees what they counted, never the book or the variance.
    assert scanned.line.counted == 7 and scanned.line.version > 0
    assert not scanned.line.HasField("book_on_hand") and not scanned.line.HasField("variance")
    assert scanned.count.figures_hidden and scanned.count.summary.units_short == 0

    await store.catalogue.receive(store.location_id, sku, 5)  # book 13, shelf 12
    await store.sell(sku, 1)  # book 12, shelf 11
    line = (await store.lines(count.count_id))[sku]
    assert (line.counted, line.book_on_hand, line.variance) == (7, 8, -1)

    reviewed = await store.review(count.count_id)
    assert reviewed.count.status == pb.COUNT_STATUS_IN_REVIEW and not reviewed.zeroed
    done = await store.complete(count.count_id)
    assert done.count.status == pb.COUNT_STATUS_COMPLETED and not done.count.figures_hidden
    assert (done.count.summary.with_variance, done.count.summary.units_short) == (1, 1)
    (adjustment,) = done.adjustments
    assert (adjustment.kind, adjustment.on_hand_delta, adjustment.document_ref) == (
        pb.MOVEMENT_KIND_ADJUSTMENT,
        -1,
        f"count:{count.count_id}",
    )
    assert adjustment.reason.startswith("count")
    assert (await store.on_hand(sku)).on_hand == 11  # the shelf
    after = (await store.lines(count.count_id, as_office=False))[sku]
    assert after.variance == -1 and after.movement_id == adjustment.movement_id  # no longer blind once posted
    assert await check_invariants(db) == []


async def test_held_units_on_the_shelf_are_counted_like_any_other(store: Store, stack) -> None:
    sku = await store.catalogue.sku("Chair")
    await store.catalogue.receive(store.location_id, sku, 6)
    await stack.stub("inventory", role="service").Hold(
        pb.HoldRequest(
            request_id=unique_id(),
            owner=f"reservation:{unique_id()}",
            channel=common_pb2.CHANNEL_CHAT,
            lines=[pb.HoldLineRequest(location_id=store.location_id, sku=sku, quantity=4)],
        )
    )
    count = await store.open(pb.COUNT_SCOPE_SKUS, skus=[sku])
    await store.scan(count.count_id, sku, 6)  # the four reserved units are on the shelf too
    line = (await store.lines(count.count_id))[sku]
    assert (line.book_on_hand, line.variance, line.status) == (6, 0, pb.COUNT_LINE_STATUS_COUNTED)
    await store.review(count.count_id)
    done = await store.complete(count.count_id)
    assert list(done.adjustments) == []
    level = await store.on_hand(sku)
    assert (level.on_hand, level.held) == (6, 4)


async def test_what_nobody_scanned_counts_as_zero_after_the_review_warned_of_it(store: Store, db) -> None:
    scanned, forgotten, empty = [await store.catalogue.sku() for _ in range(3)]
    for sku, quantity in ((scanned, 3), (forgotten, 2), (empty, 1)):
        await store.catalogue.receive(store.location_id, sku, quantity)
    await store.office.AdjustStock(
        pb.AdjustStockRequest(
            request_id=unique_id(),
            location_id=store.location_id,
            sku=empty,
            reason=pb.ADJUSTMENT_REASON_DAMAGE,
            delta=-1,
        )
    )
    count = await store.open(variance_threshold=5)
    assert count.summary.lines == 2  # nothing on hand of `empty`: nothing to find
    await store.scan(count.count_id, scanned, 3)

    with pytest.raises(grpc.aio.AioRpcError) as early:
        await store.complete(count.count_id)
    assert refusal(early) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNT_STATUS"])
    assert "1 of 2 lines are not counted" in early.value.details()

    late = await store.catalogue.sku()
    await store.catalogue.receive(store.location_id, late, 1)  # arrived during the count, never scanned
    reviewed = await store.review(count.count_id)
    assert sorted(line.sku for line in reviewed.zeroed) == sorted([forgotten, late])
    assert all(line.zeroed and line.counted == 0 for line in reviewed.zeroed)
    assert reviewed.count.summary.zeroed == 2 and reviewed.count.summary.uncounted == 0

    await store.catalogue.receive(store.location_id, forgotten, 1)  # book 3 after the zero: after its position
    done = await store.complete(count.count_id)
    assert sorted((m.sku, m.on_hand_delta) for m in done.adjustments) == sorted([(forgotten, -2), (late, -1)])
    assert (await store.on_hand(forgotten)).on_hand == 1  # the unit received after the review
    assert (await store.on_hand(late)).on_hand == 0
    assert await check_invariants(db) == []


async def test_a_large_variance_needs_a_recount_that_agrees_or_someone_elses_approval(store: Store, stack) -> None:
    agreed, settled, approved = [await store.catalogue.sku() for _ in range(3)]
    for sku in (agreed, settled, approved):
        await store.catalogue.receive(store.location_id, sku, 10)
    count = await store.open(variance_threshold=2)
    for sku in (agreed, settled, approved):
        first = await store.scan(count.count_id, sku, 4)
        assert first.line.status == pb.COUNT_LINE_STATUS_NEEDS_REVIEW
    # A recount finding the same variance confirms it; one within the threshold settles it.
    await store.sell(agreed, 1)
    again = await store.scan(count.count_id, agreed, 3)  # 3 - 9 = -6, as before
    assert (again.line.status, again.line.recounts) == (pb.COUNT_LINE_STATUS_CONFIRMED, 1)
    settled_line = await store.scan(count.count_id, settled, 9)
    assert settled_line.line.status == pb.COUNT_LINE_STATUS_COUNTED

    reviewed = await store.review(count.count_id)
    assert [line.sku for line in reviewed.needs_review] == [approved]
    with pytest.raises(grpc.aio.AioRpcError) as waiting:
        await store.complete(count.count_id)
    assert refusal(waiting) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNT_LINE_STATUS"])
    assert waiting.value.details() == f"1 line needs a recount or an approval: {approved}"

    # Staff may not approve; the manager may not approve a count of their own.
    with pytest.raises(grpc.aio.AioRpcError) as clerk:
        await store.staff.ApproveCount(pb.ApproveCountRequest(request_id=unique_id(), count_id=count.count_id))
    assert clerk.value.code() == grpc.StatusCode.PERMISSION_DENIED
    counter = person(stack, "admin", unique_id("counting-manager-"))
    await store.scan(count.count_id, approved, 5, by=counter)  # -5: not the -6 of the first count
    with pytest.raises(grpc.aio.AioRpcError) as own:
        await counter.ApproveCount(pb.ApproveCountRequest(request_id=unique_id(), count_id=count.count_id))
    assert own.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as not_needed:
        await store.office.ApproveCount(
            pb.ApproveCountRequest(request_id=unique_id(), count_id=count.count_id, skus=[settled])
        )
    assert refusal(not_needed) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNT_LINE_STATUS"])

    ok = await store.office.ApproveCount(
        pb.ApproveCountRequest(request_id=unique_id(), count_id=count.count_id, note="shelf checked")
    )
    assert [(line.sku, line.status, line.variance) for line in ok.approved] == [
        (approved, pb.COUNT_LINE_STATUS_APPROVED, -5)
    ]
    done = await store.complete(count.count_id)
    assert {m.sku: m.on_hand_delta for m in done.adjustments} == {agreed: -6, settled: -1, approved: -5}
    assert [(await store.on_hand(sku)).on_hand for sku in (agreed, settled, approved)] == [3, 9, 5]


async def test_a_variance_that_would_undercut_held_units_is_refused_and_nothing_is_posted(store: Store, stack) -> None:
    short, fine = await store.catalogue.sku(), await store.catalogue.sku()
    await store.catalogue.receive(store.location_id, short, 5)
    await store.catalogue.receive(store.location_id, fine, 5)
    await stack.stub("inventory", role="service").Hold(
        pb.HoldRequest(
            request_id=unique_id(),
            owner=f"order:{unique_id()}",
            channel=common_pb2.CHANNEL_WEB,
            lines=[pb.HoldLineRequest(location_id=store.location_id, sku=short, quantity=4)],
        )
    )
    count = await store.open(variance_threshold=10)
    await store.scan(count.count_id, short, 2)
    await store.scan(count.count_id, fine, 4)
    await store.review(count.count_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await store.complete(count.count_id)
    assert refusal(refused) == (grpc.StatusCode.FAILED_PRECONDITION, ["HELD"])
    # The message names the item: the console shows the person counting only the message.
    assert refused.value.details() == (
        f"1 line counted would take on hand below what is held ({short}): release or re-route those holds,"
        " or count again"
    )
    assert [(await store.on_hand(sku)).on_hand for sku in (short, fine)] == [5, 5]  # all or nothing
    status = (await store.office.GetCount(pb.GetCountRequest(count_id=count.count_id))).count.status
    assert status == pb.COUNT_STATUS_IN_REVIEW


async def test_two_counts_of_one_shelf_never_book_the_same_missing_units_twice(store: Store, db) -> None:
    """Two clerks count the same shelf at once (a count of everything and one of an aisle): both
    find one of the two tables the book has. The first posting corrects the book; the second,
    counted before it, must not take the same table off again. It is refused until counted again,
    and then posts nothing: the book is the shelf."""
    table, lamp = await store.catalogue.sku(), await store.catalogue.sku()
    await store.catalogue.receive(store.location_id, table, 2)
    await store.catalogue.receive(store.location_id, lamp, 3)
    everything = await store.open()
    aisle = await store.open(scope=pb.COUNT_SCOPE_SKUS, skus=[table, lamp])
    for count_id in (everything.count_id, aisle.count_id):
        await store.scan(count_id, table, 1)
        await store.scan(count_id, lamp, 3)
        await store.review(count_id)

    first = await store.complete(everything.count_id)
    assert {m.sku: m.on_hand_delta for m in first.adjustments} == {table: -1}
    assert (await store.on_hand(table)).on_hand == 1

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await store.complete(aisle.count_id)
    assert refusal(refused) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNTED_BEFORE_CORRECTION"])
    assert f"({table}): count again" in (refused.value.details() or "")
    assert (await store.on_hand(table)).on_hand == 1  # nothing posted

    await store.scan(aisle.count_id, table, 1)  # counted again: the book of now is its base
    second = await store.complete(aisle.count_id)
    assert list(second.adjustments) == []
    assert [(await store.on_hand(sku)).on_hand for sku in (table, lamp)] == [1, 3]
    assert await check_invariants(db) == []


@pytest.mark.parametrize("reason", [pb.ADJUSTMENT_REASON_COUNT, pb.ADJUSTMENT_REASON_CORRECTION])
async def test_a_manual_correction_after_the_scan_is_not_booked_again_by_the_count(store: Store, db, reason) -> None:
    """A clerk counts two tables short while a count is open; the manager, told of the gap, books
    it by hand (a count or a correction). The count's posting, whose variance was taken before that,
    would take the same two tables off again: it is refused until the line is counted again, and
    then posts nothing. The book is the shelf."""
    table = await store.catalogue.sku()
    await store.catalogue.receive(store.location_id, table, 5)
    count = await store.open(scope=pb.COUNT_SCOPE_SKUS, skus=[table])
    await store.scan(count.count_id, table, 3)
    await store.office.AdjustStock(
        pb.AdjustStockRequest(
            request_id=unique_id(), location_id=store.location_id, sku=table, reason=reason, delta=-2, note="shelf"
        )
    )
    await store.review(count.count_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await store.complete(count.count_id)
    assert refusal(refused) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNTED_BEFORE_CORRECTION"])
    assert f"({table}): count again" in (refused.value.details() or "")
    assert (await store.on_hand(table)).on_hand == 3  # nothing posted

    await store.scan(count.count_id, table, 3)
    completed = await store.complete(count.count_id)
    assert list(completed.adjustments) == []
    assert (await store.on_hand(table)).on_hand == 3
    assert await check_invariants(db) == []


@pytest.mark.parametrize("reason", [pb.ADJUSTMENT_REASON_DAMAGE, pb.ADJUSTMENT_REASON_SHRINKAGE])
async def test_units_written_off_after_the_scan_leave_the_count_s_variance_standing(store: Store, db, reason) -> None:
    """A unit damaged or stolen after the scan left the shelf as it left the book: the count's
    variance still stands and is posted, as it is after a sale."""
    table = await store.catalogue.sku()
    await store.catalogue.receive(store.location_id, table, 5)
    count = await store.open(scope=pb.COUNT_SCOPE_SKUS, skus=[table])
    await store.scan(count.count_id, table, 3)
    await store.office.AdjustStock(
        pb.AdjustStockRequest(request_id=unique_id(), location_id=store.location_id, sku=table, reason=reason, delta=-1)
    )
    await store.review(count.count_id)
    completed = await store.complete(count.count_id)
    assert [(m.sku, m.on_hand_delta) for m in completed.adjustments] == [(table, -2)]
    assert (await store.on_hand(table)).on_hand == 2  # the 3 counted, less the 1 written off since
    assert await check_invariants(db) == []


async def test_scope_by_list_and_by_attributes(store: Store) -> None:
    listed, other = await store.catalogue.sku(), await store.catalogue.sku()
    colour = unique_id("green-")
    green = await store.catalogue.sku("Green sofa", colour=colour)
    blue = await store.catalogue.sku("Blue sofa", colour="blue")
    for sku in (listed, other, green, blue):
        await store.catalogue.receive(store.location_id, sku, 1)

    by_list = await store.open(pb.COUNT_SCOPE_SKUS, skus=[listed, listed])
    assert list(by_list.skus) == [listed] and by_list.summary.lines == 1
    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await store.scan(by_list.count_id, other, 1)
    assert refusal(outside) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNT_SCOPE"])

    by_colour = await store.open(pb.COUNT_SCOPE_ATTRIBUTES, attributes={"Colour": colour.upper()})
    assert set(await store.lines(by_colour.count_id)) == {green}
    with pytest.raises(grpc.aio.AioRpcError) as not_green:
        await store.scan(by_colour.count_id, blue, 1)
    assert refusal(not_green) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNT_SCOPE"])


async def test_a_scope_of_attributes_no_sku_has_is_refused_as_an_unknown_sku_is(store: Store, db) -> None:
    """colour=purple, which no product has: refused naming the scope's field, nothing opened (a listed
    SKU the catalogue lacks is NOT_FOUND too). A scope some SKU has opens, even with none here yet:
    such a SKU found on the shelf is counted from nothing."""
    purple = unique_id("purple-")
    before = await db.fetchval("SELECT count(*) FROM inventory.counts")
    with pytest.raises(grpc.aio.AioRpcError) as nothing:
        await store.open(pb.COUNT_SCOPE_ATTRIBUTES, attributes={"colour": purple})
    assert nothing.value.code() == grpc.StatusCode.NOT_FOUND
    assert f"no SKU matches colour={purple}" in (nothing.value.details() or "")
    (info,) = details_of(nothing.value, error_details_pb2.ResourceInfo)
    assert info.description == "attributes"
    assert await db.fetchval("SELECT count(*) FROM inventory.counts") == before
    # Only a set has it: a set is counted as its components, so nothing could be scanned either.
    sofa, cushion = await store.catalogue.sku(), await store.catalogue.sku()
    await define_set(store.office, {sofa: 1, cushion: 2}, attributes={"colour": purple})
    with pytest.raises(grpc.aio.AioRpcError) as only_a_set:
        await store.open(pb.COUNT_SCOPE_ATTRIBUTES, attributes={"colour": purple})
    assert only_a_set.value.code() == grpc.StatusCode.NOT_FOUND

    stray = await store.catalogue.sku("Purple lamp", colour=purple)
    count = await store.open(pb.COUNT_SCOPE_ATTRIBUTES, attributes={"Colour": purple.upper()})
    assert count.summary.lines == 0
    await store.scan(count.count_id, stray, 1)
    assert set(await store.lines(count.count_id)) == {stray}


async def test_a_sku_found_where_the_book_has_none_is_counted_from_nothing(store: Store) -> None:
    stray = await store.catalogue.sku()
    count = await store.open()
    await store.scan(count.count_id, stray, 2)
    line = (await store.lines(count.count_id))[stray]
    assert (line.book_on_hand, line.variance, line.version) == (0, 2, 0)
    await store.review(count.count_id)
    await store.complete(count.count_id)
    assert (await store.on_hand(stray)).on_hand == 2


async def test_a_set_is_never_counted_its_components_are(store: Store, db) -> None:
    """A set (bundle) has no stock of its own: neither listed in a count nor scanned into one (a scan
    made it a stock row, which a till then sold from without moving a component)."""
    sofa, cushion = await store.catalogue.sku(), await store.catalogue.sku()
    bundle = await define_set(store.office, {sofa: 1, cushion: 2})
    with pytest.raises(grpc.aio.AioRpcError) as listed:
        await store.open(pb.COUNT_SCOPE_SKUS, skus=[sofa, bundle])
    assert refusal(listed) == (grpc.StatusCode.FAILED_PRECONDITION, ["BUNDLE_STOCK"])
    count = await store.open()
    with pytest.raises(grpc.aio.AioRpcError) as scanned:
        await store.scan(count.count_id, bundle, 2)
    assert refusal(scanned) == (grpc.StatusCode.FAILED_PRECONDITION, ["BUNDLE_STOCK"])
    assert bundle not in await store.lines(count.count_id)
    assert await db.fetchval("SELECT count(*) FROM inventory.stock WHERE sku = $1", bundle) == 0


async def test_bad_requests_name_the_field_and_change_nothing(store: Store, db) -> None:
    before = await db.fetchval("SELECT count(*) FROM inventory.counts")
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await store.staff.CreateCount(
            pb.CreateCountRequest(
                request_id=unique_id(), location_id=store.location_id, scope=pb.COUNT_SCOPE_ALL, skus=["X"]
            )
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (request,) = details_of(bad.value, error_details_pb2.BadRequest)
    assert [v.field for v in request.field_violations] == ["skus"]
    with pytest.raises(grpc.aio.AioRpcError) as no_scope:
        await store.staff.CreateCount(pb.CreateCountRequest(request_id=unique_id(), location_id=store.location_id))
    assert no_scope.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await store.staff.CreateCount(
            pb.CreateCountRequest(
                request_id=unique_id(), location_id=store.location_id, scope=pb.COUNT_SCOPE_SKUS, skus=["NO-SUCH-SKU"]
            )
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert await db.fetchval("SELECT count(*) FROM inventory.counts") == before

    count = await store.open()
    with pytest.raises(grpc.aio.AioRpcError) as negative:
        await store.scan(count.count_id, await store.catalogue.sku(), -1)
    (request,) = details_of(negative.value, error_details_pb2.BadRequest)
    assert [v.field for v in request.field_violations] == ["quantity"]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await store.staff.GetCount(pb.GetCountRequest(count_id=unique_id()))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_staff_count_only_at_their_own_store(store: Store, stack, catalogue) -> None:
    elsewhere = await catalogue.location()
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await store.staff.CreateCount(
            pb.CreateCountRequest(request_id=unique_id(), location_id=elsewhere, scope=pb.COUNT_SCOPE_ALL)
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    theirs = (
        await store.office.CreateCount(
            pb.CreateCountRequest(request_id=unique_id(), location_id=elsewhere, scope=pb.COUNT_SCOPE_ALL)
        )
    ).count
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await store.staff.GetCount(pb.GetCountRequest(count_id=theirs.count_id))
    assert hidden.value.code() == grpc.StatusCode.PERMISSION_DENIED
    mine = await store.open()
    listed = await store.staff.ListCounts(pb.ListCountsRequest())
    assert mine.count_id in {c.count_id for c in listed.counts}
    assert theirs.count_id not in {c.count_id for c in listed.counts}


async def test_a_retried_scan_is_answered_once_and_a_cancelled_count_posts_nothing(store: Store) -> None:
    sku = await store.catalogue.sku()
    await store.catalogue.receive(store.location_id, sku, 4)
    count = await store.open()
    request = pb.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=sku, quantity=1)
    first = await store.staff.RecordCount(request)
    second = await store.staff.RecordCount(request)
    assert first == second and first.line.recounts == 0
    cancelled = await store.staff.CancelCount(
        pb.CancelCountRequest(request_id=unique_id(), count_id=count.count_id, reason="fire drill")
    )
    assert (cancelled.count.status, cancelled.count.cancel_reason) == (pb.COUNT_STATUS_CANCELLED, "fire drill")
    with pytest.raises(grpc.aio.AioRpcError) as closed:
        await store.scan(count.count_id, sku, 2)
    assert refusal(closed) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNT_STATUS"])
    assert (await store.on_hand(sku)).on_hand == 4


async def test_count_events_carry_the_figures(store: Store, tap) -> None:
    sku = await store.catalogue.sku()
    await store.catalogue.receive(store.location_id, sku, 3)
    count = await store.open()
    await store.scan(count.count_id, sku, 5)
    await store.review(count.count_id)
    await store.office.ApproveCount(pb.ApproveCountRequest(request_id=unique_id(), count_id=count.count_id))
    await store.complete(count.count_id)
    event = await tap.wait_for(
        lambda e, p: e.type == "inventory.count.completed" and p.count.count_id == count.count_id, 10.0
    )
    assert (event[1].count.summary.units_over, event[1].count.figures_hidden) == (2, False)


async def test_a_count_correction_booked_after_a_scan_is_not_booked_again_by_the_count(store: Store, db) -> None:
    """A spot check between the scan and the posting (AdjustStock with reason COUNT: the book set to
    the shelf) corrects the book as a count's posting does: the scan before it would take the same
    missing table off again. Refused as after another count's posting, until counted again."""
    table = await store.catalogue.sku()
    await store.catalogue.receive(store.location_id, table, 2)  # one of them is gone
    count = await store.open(scope=pb.COUNT_SCOPE_SKUS, skus=[table], variance_threshold=5)
    await store.scan(count.count_id, table, 1)
    await store.review(count.count_id)
    await store.office.AdjustStock(
        pb.AdjustStockRequest(
            request_id=unique_id(),
            location_id=store.location_id,
            sku=table,
            reason=pb.ADJUSTMENT_REASON_COUNT,
            set_to=1,
            note="spot check",
        )
    )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await store.complete(count.count_id)
    assert refusal(refused) == (grpc.StatusCode.FAILED_PRECONDITION, ["COUNTED_BEFORE_CORRECTION"])
    assert f"({table}): count again" in (refused.value.details() or "")
    assert (await store.on_hand(table)).on_hand == 1  # nothing posted

    await store.scan(count.count_id, table, 1)
    done = await store.complete(count.count_id)
    assert list(done.adjustments) == []
    assert (await store.on_hand(table)).on_hand == 1  # the one table on the shelf
    assert await check_invariants(db) == []
