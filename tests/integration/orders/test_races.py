"""Races between changes of the same thing from two sides at once, through the real services.

Some are made deterministic by slowing one call down at the moment that makes the race (a row it
needs held by an open transaction of the test): a reservation converted into an order while a till
collects it or somebody cancels it, a collection whose sale a cancellation records first, a
fulfilment hold released as the sweep expires it. Whatever wins, the outcome is one of the serial
ones: the loser is refused and changes nothing, and the winner is told so. Others are plainly
concurrent: one request id sent several times at once (and once with another body) to the order-side
changes, every change of several reservations at once, two cancellations of one reservation, three
orders made from one reservation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_orders.entrypoints.main import OrdersService
from omnistock_orders.service_layer.holding import derived_request_id as derived_request_id_of_order
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import unique_id
from omnistock_reservations.domain.holds import derived_request_id
from tests.integration.orders.support import BERLIN, Shop, ship_request, store_request
from tests.integration.orders.test_edits import system_violations
from tests.integration.reservations.support import create_request


@asynccontextmanager
async def paused(db: Database, statement: str, *args: Any) -> AsyncIterator[Any]:
    """A transaction that has run `statement` (a row written or locked) and stays open until the
    block ends: whoever needs that row waits for it, as a call slowed down there would. Yields a
    function that returns once somebody (`count` callers) waits."""
    async with db.pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(statement, *args)
        xid = await conn.fetchval("SELECT txid_current()::text")

        async def waiting(timeout: float = 10.0, count: int = 1) -> None:
            deadline = asyncio.get_running_loop().time() + timeout
            query = (
                "SELECT count(*) FROM pg_locks"
                " WHERE locktype = 'transactionid' AND transactionid::text = $1 AND NOT granted"
            )
            while await db.fetchval(query, xid) < count:
                assert asyncio.get_running_loop().time() < deadline, f"nobody waited for {statement} {args}"
                await asyncio.sleep(0.02)

        try:
            yield waiting
        finally:
            await transaction.rollback()


PAUSE_CLAIM = "INSERT INTO inventory.idempotency (request_id, method, fingerprint) VALUES ($1, 'paused', '')"


def delayed_in_inventory(db: Database, request_id: str) -> Any:
    """Inventory's claim of `request_id` waits (on an idempotency row never committed): a call that
    is slower to reach inventory than another."""
    return paused(db, PAUSE_CLAIM, request_id)


def delayed_in_reservations(db: Database, request_id: str) -> Any:
    """Reservations' write of a begun change (`request_id`'s idempotency row, locked) waits: a change
    whose other half inventory has done, slow to record its own."""
    return paused(db, "SELECT 1 FROM reservations.idempotency WHERE request_id = $1 FOR UPDATE", request_id)


async def reserved_sofa(shop: Shop) -> tuple[str, str, rpb.Reservation]:
    sofa = await shop.sku()
    store = await shop.location(BERLIN)
    await shop.receive(store, sofa, 1)
    chat = shop.stack.stub("reservations", role="chat_agent")
    reservation = (await chat.CreateReservation(create_request(store, [(sofa, 1)]))).reservation
    assert reservation.status == rpb.RESERVATION_STATUS_ACTIVE
    return store, sofa, reservation


def order_from(reservation: rpb.Reservation) -> pb.CreateOrderRequest:
    return pb.CreateOrderRequest(
        request_id=unique_id(),
        channel=common_pb2.CHANNEL_CHAT,
        customer_id=reservation.customer.customer_id,
        method=common_pb2.FULFILMENT_METHOD_PICKUP,
        reservation_id=reservation.reservation_id,
    )


@pytest.mark.parametrize("step", ["cancel", "collect"])
async def test_a_reservation_converted_while_another_change_was_on_its_way_keeps_the_orders_hold(
    shop: Shop, db: Database, step: str
) -> None:
    store, sofa, reservation = await reserved_sofa(shop)
    staff = shop.stack.stub("reservations", role="pos", locations=[store])
    # A gRPC call starts when it is made: each is made only once inventory's claim is paused.
    if step == "cancel":
        action = "release"

        def change() -> Any:
            return staff.CancelReservation(
                rpb.CancelReservationRequest(
                    request_id=unique_id(), reservation_id=reservation.reservation_id, reason="changed her mind"
                )
            )
    else:
        action = "commit"

        def change() -> Any:
            return staff.CollectReservation(
                rpb.CollectReservationRequest(
                    request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code
                )
            )

    # The change has read the reservation and is on its way to inventory when the order takes it over.
    async with delayed_in_inventory(db, derived_request_id(reservation.reservation_id, action)) as waiting:
        late = asyncio.ensure_future(change())
        await waiting()
        order = (await shop.orders.CreateOrder(order_from(reservation))).order
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await late
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value

    # As if the change had come after the order: refused, and the order's hold is as the order took it.
    assert order.status == pb.ORDER_STATUS_ALLOCATED
    (allocation,) = order.allocations
    hold = await shop.hold(allocation.hold_id)
    assert (hold.state, hold.owner) == (inv.HOLD_STATE_ACTIVE, f"order:{order.order_id}"), hold
    assert [(line.sku, line.open) for line in hold.lines] == [(sofa, 1)]
    level = await shop.level(store, sofa)
    assert (level.on_hand, level.held) == (1, 1)
    assert (await shop.order(order.order_id)).status == pb.ORDER_STATUS_ALLOCATED
    admin = shop.stack.stub("reservations", role="admin")
    request = rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
    found = (await admin.GetReservation(request)).reservation
    assert (found.status, found.order_id) == (rpb.RESERVATION_STATUS_CONVERTED, order.order_id)
    assert await system_violations(shop, db, order.order_id, reservation.reservation_id, hold.hold_id) == []


async def test_a_collection_whose_sale_a_cancellation_recorded_first_is_answered_collected(
    shop: Shop, db: Database
) -> None:
    """The till's collection sold the hold in inventory; before it wrote the reservation collected,
    a cancellation came, found the hold sold and recorded the reservation as collected (following
    its hold). The collection is still the one that sold it: collected, not refused."""
    store, sofa, reservation = await reserved_sofa(shop)
    till = shop.stack.stub("reservations", role="pos", locations=[store])
    collect = rpb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code)
    async with delayed_in_inventory(db, derived_request_id(reservation.reservation_id, "commit")) as at_inventory:
        collecting = asyncio.ensure_future(till.CollectReservation(collect))
        await at_inventory()  # begun, its commit on its way
        slow_write = delayed_in_reservations(db, collect.request_id)
        at_write = await slow_write.__aenter__()
    try:
        await at_write()  # sold in inventory, not yet recorded
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await till.CancelReservation(
                rpb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.value
    finally:
        await slow_write.__aexit__(None, None, None)
    collected = (await collecting).reservation
    assert collected.status == rpb.RESERVATION_STATUS_COLLECTED
    assert (await till.CollectReservation(collect)).reservation == collected  # a retry: the same answer
    level = await shop.level(store, sofa)
    assert (level.on_hand, level.held) == (0, 0)
    assert await system_violations(shop, db, reservation.reservation_id, reservation.hold_id) == []


async def test_a_fulfilment_hold_released_while_the_sweep_decided_to_expire_it_keeps_the_order(
    shop: Shop, db: Database, orders_process: OrdersService
) -> None:
    """The payment is confirmed (the hold released) just as the hold runs out: the sweep read the
    order while the hold was still active and overdue, the release came before its cancellation.
    The release answered that the order goes on, so the order must not be cancelled for a hold
    that no longer exists (serially: released and kept, or expired and the release refused)."""
    store, mug = await shop.location(BERLIN), await shop.sku("Mug")
    await shop.receive(store, mug, 2)
    order = (await shop.orders.CreateOrder(store_request([(mug, 2)], store))).order
    held = (
        await shop.orders.HoldOrder(
            pb.HoldOrderRequest(
                request_id=unique_id(),
                order_id=order.order_id,
                hold=pb.FulfilmentHoldRequest(
                    reason=common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING, ttl=Duration(seconds=1)
                ),
            )
        )
    ).hold
    # The sweeps (the service's own, and this one driven here) decided to cancel and begin to.
    expiry = derived_request_id_of_order(order.order_id, "hold-expired", held.fulfilment_hold_id)
    async with paused(db, PAUSE_CLAIM.replace("inventory.", "orders."), expiry) as waiting:
        await waiting()  # the service's own sweep, once the hold ran out
        sweeping = asyncio.ensure_future(orders_process.holds.expire_due())
        await waiting(count=2)
        released = await shop.orders.ReleaseOrderHold(
            pb.ReleaseOrderHoldRequest(
                request_id=unique_id(), order_id=order.order_id, fulfilment_hold_id=held.fulfilment_hold_id, note="paid"
            )
        )
        assert [h.status for h in released.order.holds] == [pb.FULFILMENT_HOLD_STATUS_RELEASED]
    await sweeping

    kept = await shop.order(order.order_id)
    assert kept.status == pb.ORDER_STATUS_ALLOCATED, kept
    assert [h.status for h in kept.holds] == [pb.FULFILMENT_HOLD_STATUS_RELEASED]
    assert (await shop.level(store, mug)).held == 2


# The same request id sent several times at once (a client retrying while its first try is still
# running), and once more with another body. Whatever the order of arrival: every copy gets the
# one answer, or a refusal that changed nothing; the other body is refused unless it came first
# (and then the copies are); the change happens once.

COPIES = 6
AT_ONCE_REFUSALS = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED}


async def at_once(send: Any, request: Any, other: Any) -> tuple[list[Any], list[Any]]:
    """(answers, refusals) of `request` sent COPIES times and `other` once, all at once; the first
    answer of `other`, if it got one, is last in the answers."""
    outcomes = await asyncio.gather(*(send(r) for r in [request] * COPIES + [other]), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            assert isinstance(outcome, grpc.aio.AioRpcError), repr(outcome)
            assert outcome.code() in AT_ONCE_REFUSALS, f"{outcome.code()}: {outcome.details()}"
    copies, different = outcomes[:COPIES], outcomes[COPIES]
    answers = [o for o in copies if not isinstance(o, BaseException)]
    if not isinstance(different, BaseException):
        assert not answers, "the same request id acted for two different bodies"
        return [different], copies
    assert answers, f"neither body got an answer: {copies} {different}"
    assert all(answer == answers[0] for answer in answers), answers
    # A copy refused while another ran (ABORTED: in progress) gets the same answer when it retries.
    assert await send(request) == answers[0]
    return answers, [o for o in copies if isinstance(o, BaseException)] + [different]


async def test_one_request_id_at_once_edits_cancels_returns_and_collects_once(shop: Shop, db: Database) -> None:
    store, sofa = await shop.location(BERLIN), await shop.sku()
    await shop.receive(store, sofa, 10)

    # EditOrder: 3 sofas, or 1 with the other body; held as the winner says.
    order = (await shop.orders.CreateOrder(ship_request([(sofa, 2)], to=BERLIN))).order
    request_id = unique_id()
    edits = [
        pb.EditOrderRequest(
            request_id=request_id, order_id=order.order_id, lines=[pb.OrderLineEdit(sku=sofa, quantity=n)]
        )
        for n in (3, 1)
    ]
    (edited, *_), _ = await at_once(lambda r: shop.orders.EditOrder(r), *edits)
    assert (await shop.hold(order.allocations[0].hold_id)).lines[0].open == edited.order.lines[0].quantity
    assert (await shop.level(store, sofa)).held == edited.order.lines[0].quantity

    # CancelOrder: once, its units given back once.
    request_id = unique_id()
    cancels = [
        pb.CancelOrderRequest(request_id=request_id, order_id=order.order_id, reason=reason)
        for reason in ("customer called", "changed her mind")
    ]
    (cancelled, *_), _ = await at_once(lambda r: shop.orders.CancelOrder(r), *cancels)
    assert cancelled.order.status == pb.ORDER_STATUS_CANCELLED
    assert (await shop.level(store, sofa)).held == 0

    # CreateReturn at the till, received at once: one return, its units on hand once.
    sold = await shop.delivered(store, [(sofa, 3)])
    till = shop.orders_as("pos", [store])
    request_id = unique_id()
    returns = [
        pb.CreateReturnRequest(
            request_id=request_id,
            order_id=sold.order_id,
            lines=[pb.ReturnLineRequest(sku=sofa, quantity=n)],
            location_id=store,
            receive_now=[pb.InspectedLine(sku=sofa, condition=pb.RETURN_CONDITION_RESTOCK, quantity=n)],
        )
        for n in (2, 1)
    ]
    (returned, *_), _ = await at_once(lambda r: till.CreateReturn(r), *returns)
    units = returned.order_return.lines[0].quantity
    assert (await shop.level(store, sofa)).on_hand == 10 - 3 + units
    listed = await shop.orders.ListReturns(pb.ListReturnsRequest(order_id=sold.order_id))
    assert [r.return_id for r in listed.returns] == [returned.order_return.return_id]

    # CollectReservation: collected once, its unit sold once.
    reservation = (
        await shop.stack.stub("reservations", role="chat_agent").CreateReservation(create_request(store, [(sofa, 1)]))
    ).reservation
    staff = shop.stack.stub("reservations", role="pos", locations=[store])
    request_id = unique_id()
    collects = [
        rpb.CollectReservationRequest(request_id=request_id, store_id=store, pickup_code=code)
        for code in (reservation.pickup_code, reservation.pickup_code.lower())
    ]
    await at_once(lambda r: staff.CollectReservation(r), *collects)
    level = await shop.level(store, sofa)
    assert (level.on_hand, level.held) == (10 - 3 + units - 1, 0)
    found = await shop.orders.GetOrder(pb.GetOrderRequest(order_id=order.order_id))
    assert await system_violations(shop, db, order.order_id, sold.order_id, reservation.reservation_id) == [], found


async def test_reservations_cancelled_collected_extended_and_converted_at_once_end_as_one_of_them(
    shop: Shop, db: Database
) -> None:
    """Every change of a reservation at once, for several reservations: each ends as exactly one of
    them won, its hold says the same, and nothing is sold or held twice."""
    sofa, store = await shop.sku(), await shop.location(BERLIN)
    await shop.receive(store, sofa, 8)
    chat = shop.stack.stub("reservations", role="chat_agent")
    staff = shop.stack.stub("reservations", role="pos", locations=[store])
    reservations = [(await chat.CreateReservation(create_request(store, [(sofa, 1)]))).reservation for _ in range(8)]

    async def outcome(call: Any) -> Any:
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            assert error.code() in AT_ONCE_REFUSALS, f"{error.code()}: {error.details()}"
            return error.code()

    def changes(reservation: rpb.Reservation) -> list[Any]:
        extend_by = Duration(seconds=3600)
        return [
            staff.CancelReservation(
                rpb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
            ),
            staff.CollectReservation(
                rpb.CollectReservationRequest(
                    request_id=unique_id(), store_id=store, pickup_code=reservation.pickup_code
                )
            ),
            shop.orders.CreateOrder(order_from(reservation)),
            chat.ExtendReservation(
                rpb.ExtendReservationRequest(
                    request_id=unique_id(), reservation_id=reservation.reservation_id, extend_by=extend_by
                )
            ),
        ]

    results = await asyncio.gather(*(outcome(call) for r in reservations for call in changes(r)))
    admin = shop.stack.stub("reservations", role="admin")
    sold = held = 0
    for index, reservation in enumerate(reservations):
        cancelled, collected, ordered, _ = results[4 * index : 4 * index + 4]
        won = [c for c in (cancelled, collected, ordered) if not isinstance(c, grpc.StatusCode)]
        assert len(won) == 1, (cancelled, collected, ordered)
        request = rpb.GetReservationRequest(reservation_id=reservation.reservation_id)
        found = (await admin.GetReservation(request)).reservation
        hold = await shop.hold(reservation.hold_id)
        if won[0] is cancelled:
            assert found.status == rpb.RESERVATION_STATUS_CANCELLED
            assert hold.state == inv.HOLD_STATE_RELEASED
        elif won[0] is collected:
            assert found.status == rpb.RESERVATION_STATUS_COLLECTED
            assert (hold.state, hold.owner) == (inv.HOLD_STATE_COMMITTED, f"reservation:{reservation.reservation_id}")
            sold += 1
        else:
            order = ordered.order
            assert (found.status, found.order_id) == (rpb.RESERVATION_STATUS_CONVERTED, order.order_id)
            assert (hold.state, hold.owner) == (inv.HOLD_STATE_ACTIVE, f"order:{order.order_id}")
            assert (await shop.order(order.order_id)).status == pb.ORDER_STATUS_ALLOCATED
            held += 1
    level = await shop.level(store, sofa)
    assert (level.on_hand, level.held) == (8 - sold, held)
    subjects = [r.reservation_id for r in reservations]
    assert await system_violations(shop, db, *subjects) == []


async def test_two_cancellations_of_a_reservation_at_once_both_stand(shop: Shop, db: Database) -> None:
    """Cancelling twice is not an error: the customer cancels in the app while the store cancels at
    the counter, each with its own reason. Both are answered cancelled (as one after the other
    would be), and the reservation keeps one of their reasons, not one made up in between."""
    sofa, store = await shop.sku(), await shop.location(BERLIN)
    await shop.receive(store, sofa, 4)
    chat = shop.stack.stub("reservations", role="chat_agent")
    staff = shop.stack.stub("reservations", role="pos", locations=[store])
    reservations = [(await chat.CreateReservation(create_request(store, [(sofa, 1)]))).reservation for _ in range(4)]
    reasons = ("changed her mind", "found it cheaper")

    def cancel(stub: Any, reservation: rpb.Reservation, reason: str) -> Any:
        request_id = unique_id()
        return stub.CancelReservation(
            rpb.CancelReservationRequest(
                request_id=request_id, reservation_id=reservation.reservation_id, reason=reason
            )
        )

    answers = await asyncio.gather(
        *(cancel(stub, r, reason) for r in reservations for stub, reason in zip((chat, staff), reasons, strict=True))
    )
    for answer in answers:
        assert answer.reservation.status == rpb.RESERVATION_STATUS_CANCELLED
        assert answer.reservation.cancel_reason in reasons, answer.reservation
    assert (await shop.level(store, sofa)).held == 0
    assert await system_violations(shop, db, *(r.reservation_id for r in reservations)) == []


async def test_two_orders_from_one_reservation_at_once_one_takes_it_over(shop: Shop, db: Database) -> None:
    """The app and the web shop both turn the same reservation into an order at once: one order takes
    its hold over, the other is refused and leaves nothing behind (no order left pending or holding)."""
    store, sofa, reservation = await reserved_sofa(shop)
    outcomes = await asyncio.gather(
        *(shop.orders.CreateOrder(order_from(reservation)) for _ in range(3)), return_exceptions=True
    )
    won = [o.order for o in outcomes if isinstance(o, pb.CreateOrderResponse)]
    lost = [o for o in outcomes if not isinstance(o, pb.CreateOrderResponse)]
    assert len(won) == 1, outcomes
    for error in lost:
        assert isinstance(error, grpc.aio.AioRpcError), repr(error)
        assert error.code() in AT_ONCE_REFUSALS, error
    (order,) = won
    hold = await shop.hold(reservation.hold_id)
    assert (hold.state, hold.owner) == (inv.HOLD_STATE_ACTIVE, f"order:{order.order_id}")
    assert (await shop.level(store, sofa)).held == 1
    customer_orders = await db.fetch(
        "SELECT status FROM orders.orders WHERE customer_id = $1", reservation.customer.customer_id
    )
    assert sorted(row["status"] for row in customer_orders if row["status"] != "failed") == ["allocated"]
    assert await system_violations(shop, db, order.order_id, reservation.reservation_id) == []
