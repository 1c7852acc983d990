"""The property of counting while selling: whatever till sales, reservations, their collection and
receipts happen before, between and after the scans of a count, each line's variance is exactly what
the shelf and the book differed by at the moment of its scan, and once the count is posted the book
equals the shelf.

A model follows both: the book (on hand and held, as inventory keeps them) and the shelf (what a
person would find). The shelf starts off the book by a random amount (theft, a miscount, a unit
found), every sale and collection takes units off both, every receipt adds to both, a reservation
only sets units aside (they stay on the shelf), and a scan records what the shelf has at that moment.
Every operation runs through the real services, PostgreSQL and NATS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.stack import Stack, unique_id

SKUS = 3

operation = st.one_of(
    st.tuples(st.just("sell"), st.integers(0, SKUS - 1), st.integers(1, 3)),
    st.tuples(st.just("receive"), st.integers(0, SKUS - 1), st.integers(1, 4)),
    st.tuples(st.just("reserve"), st.integers(0, SKUS - 1), st.integers(1, 2)),
    st.tuples(st.just("collect"), st.integers(0, 7), st.just(0)),
    st.tuples(st.just("count"), st.integers(0, SKUS - 1), st.just(0)),
)


@dataclass
class Model:
    book: list[int]
    shelf: list[int]
    held: list[int] = field(default_factory=lambda: [0] * SKUS)
    # (pickup code, sku index, units) of reservations not collected yet
    reserved: list[tuple[str, int, int]] = field(default_factory=list)
    # sku index -> (counted, book at that moment), the latest scan
    scans: dict[int, tuple[int, int]] = field(default_factory=dict)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.lists(st.tuples(st.integers(0, 8), st.integers(-3, 3)), min_size=SKUS, max_size=SKUS),
    operations=st.lists(operation, max_size=24),
    threshold=st.integers(0, 3),
)
async def test_a_count_taken_while_selling_is_exact_and_leaves_the_book_equal_to_the_shelf(
    stack: Stack, catalogue, db, start, operations, threshold
) -> None:
    store = await catalogue.location()
    skus = [await catalogue.sku() for _ in range(SKUS)]
    model = Model(book=[book for book, _ in start], shelf=[max(0, book + off) for book, off in start])
    for sku, (book, _) in zip(skus, start, strict=True):
        if book:
            await catalogue.receive(store, sku, book)
    clerk = stack.stub("inventory", role="pos", locations=[store])
    till = stack.stub("reservations", role="pos", locations=[store])
    chat = stack.stub("reservations", role="chat_agent")
    count = (
        await clerk.CreateCount(
            pb.CreateCountRequest(
                request_id=unique_id(), location_id=store, scope=pb.COUNT_SCOPE_ALL, variance_threshold=threshold
            )
        )
    ).count

    async def scan(index: int) -> None:
        await clerk.RecordCount(
            pb.RecordCountRequest(
                request_id=unique_id(), count_id=count.count_id, sku=skus[index], quantity=model.shelf[index]
            )
        )
        model.scans[index] = (model.shelf[index], model.book[index])

    for kind, index, quantity in operations:
        if kind == "sell":
            # The customer takes units that are on the shelf and not set aside, and the till may sell them.
            if model.shelf[index] - model.held[index] < quantity or model.book[index] - model.held[index] < quantity:
                continue
            await clerk.Hold(
                pb.HoldRequest(
                    request_id=unique_id(),
                    owner=f"till:{store}",
                    channel=common_pb2.CHANNEL_POS,
                    lines=[pb.HoldLineRequest(location_id=store, sku=skus[index], quantity=quantity)],
                    selling_location_id=store,
                    commit_now=True,
                )
            )
            model.book[index] -= quantity
            model.shelf[index] -= quantity
        elif kind == "receive":
            await catalogue.receive(store, skus[index], quantity)
            model.book[index] += quantity
            model.shelf[index] += quantity
        elif kind == "reserve":
            if model.shelf[index] - model.held[index] < quantity or model.book[index] - model.held[index] < quantity:
                continue
            made = await chat.CreateReservation(
                rpb.CreateReservationRequest(
                    request_id=unique_id(),
                    channel=common_pb2.CHANNEL_CHAT,
                    customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada"),
                    store_id=store,
                    lines=[common_pb2.SkuQuantity(sku=skus[index], quantity=quantity)],
                )
            )
            model.held[index] += quantity
            model.reserved.append((made.reservation.pickup_code, index, quantity))
        elif kind == "collect":
            if not model.reserved:
                continue
            code, reserved_index, units = model.reserved.pop(index % len(model.reserved))
            await till.CollectReservation(
                rpb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=code)
            )
            model.held[reserved_index] -= units
            model.book[reserved_index] -= units
            model.shelf[reserved_index] -= units
        else:
            await scan(index)

    # The review warns of what nobody scanned; the staff count those too before it zeroes them.
    for index in range(SKUS):
        if index not in model.scans and (model.book[index] or model.shelf[index]):
            await scan(index)
    await clerk.ReviewCount(pb.ReviewCountRequest(request_id=unique_id(), count_id=count.count_id))
    office = stack.stub("inventory", token=stack.token("admin", subject=unique_id("manager-")))
    await office.ApproveCount(pb.ApproveCountRequest(request_id=unique_id(), count_id=count.count_id))
    done = await clerk.CompleteCount(pb.CompleteCountRequest(request_id=unique_id(), count_id=count.count_id))

    lines = await office.ListCountLines(pb.ListCountLinesRequest(count_id=count.count_id, page_size=500))
    by_sku = {line.sku: line for line in lines.lines}
    for index, (counted, book) in model.scans.items():
        line = by_sku[skus[index]]
        assert (line.counted, line.book_on_hand, line.variance) == (counted, book, counted - book), skus[index]
    posted = {movement.sku: movement.on_hand_delta for movement in done.adjustments}
    assert posted == {skus[i]: c - b for i, (c, b) in model.scans.items() if c != b}
    for index, sku in enumerate(skus):
        level = (await office.GetStock(pb.GetStockRequest(sku=sku, location_id=store))).levels
        on_hand, held = (level[0].on_hand, level[0].held) if level else (0, 0)
        assert (on_hand, held) == (model.shelf[index], model.held[index]), sku
    assert await check_invariants(db) == []
