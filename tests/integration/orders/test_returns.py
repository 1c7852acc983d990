"""Returns: authorised against what an order delivered, received with inspection at a store or a
warehouse, restocked units back on hand through a RETURN movement, damaged ones booked in and out,
written-off ones recorded only; till returns through the same path."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_orders.adapters import return_repository
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.invariants import run_checks, snapshot_of
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import Shop

RESTOCK = pb.RETURN_CONDITION_RESTOCK
DAMAGED = pb.RETURN_CONDITION_DAMAGED
WRITE_OFF = pb.RETURN_CONDITION_WRITE_OFF


def lines(**quantities: int) -> list[pb.ReturnLineRequest]:
    return [pb.ReturnLineRequest(sku=sku, quantity=quantity) for sku, quantity in quantities.items()]


def inspected(*entries: tuple[str, int, int]) -> list[pb.InspectedLine]:
    return [
        pb.InspectedLine(sku=sku, condition=condition, quantity=quantity)  # type: ignore[arg-type]
        for sku, condition, quantity in entries
    ]


async def return_movements(shop: Shop, location_id: str, sku: str, return_id: str) -> list[inv.Movement]:
    listed = await shop.inventory.ListMovements(inv.ListMovementsRequest(location_id=location_id, sku=sku))
    return [m for m in listed.movements if m.document_ref == f"return:{return_id}"]


async def test_return_at_another_store_restocks_damages_and_writes_off(shop: Shop) -> None:
    store, other = await shop.location(), await shop.location()
    sku = await shop.sku()
    await shop.receive(store, sku, 5)
    order = await shop.delivered(store, [(sku, 4)])
    customer = shop.orders_as("chat_agent")

    created = (
        await customer.CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(),
                order_id=order.order_id,
                lines=lines(**{sku: 3}),
                location_id=other,
                reason="too big",
            )
        )
    ).order_return
    assert created.status == pb.RETURN_STATUS_AUTHORISED
    assert created.channel == common_pb2.CHANNEL_POS and created.customer_id == order.customer_id
    assert (await shop.level(other, sku)).on_hand == 0

    # Another store's till may not receive it; the receiving store's may.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders_as("pos", [store]).ReceiveReturn(
            pb.ReceiveReturnRequest(
                request_id=unique_id(), return_id=created.return_id, lines=inspected((sku, RESTOCK, 3))
            )
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    till = shop.orders_as("pos", [other])
    # Conditions must cover every unit exactly.
    with pytest.raises(grpc.aio.AioRpcError) as short:
        await till.ReceiveReturn(
            pb.ReceiveReturnRequest(
                request_id=unique_id(), return_id=created.return_id, lines=inspected((sku, RESTOCK, 2))
            )
        )
    assert short.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await shop.level(other, sku)).on_hand == 0

    receipt = pb.ReceiveReturnRequest(
        request_id=unique_id(),
        return_id=created.return_id,
        lines=inspected((sku, RESTOCK, 1), (sku, DAMAGED, 1), (sku, WRITE_OFF, 1)),
    )
    first, again = await asyncio.gather(till.ReceiveReturn(receipt), till.ReceiveReturn(receipt))
    assert first == again
    received = first.order_return
    assert received.status == pb.RETURN_STATUS_RECEIVED
    assert [(line.restocked, line.damaged, line.written_off) for line in received.lines] == [(1, 1, 1)]

    level = await shop.level(other, sku)
    assert level.on_hand == 1
    movements = await return_movements(shop, other, sku, created.return_id)
    assert sorted((m.reason.split(":")[0], m.on_hand_delta) for m in movements) == [
        ("damage", -1),
        ("return", 1),
        ("return", 1),
    ]
    # A second receipt under another request id changes nothing more.
    await till.ReceiveReturn(
        pb.ReceiveReturnRequest(request_id=unique_id(), return_id=created.return_id, lines=receipt.lines)
    )
    assert (await shop.level(other, sku)).on_hand == 1
    with pytest.raises(grpc.aio.AioRpcError) as cancelled:
        await customer.CancelReturn(pb.CancelReturnRequest(request_id=unique_id(), return_id=created.return_id))
    assert cancelled.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_returned_quantity_never_exceeds_what_was_delivered(shop: Shop) -> None:
    store = await shop.location()
    sku = await shop.sku()
    await shop.receive(store, sku, 10)
    order = await shop.delivered(store, [(sku, 3)])
    customer = shop.orders_as("storefront")

    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await customer.CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(), order_id=order.order_id, lines=lines(**{sku: 4}), location_id=store
            )
        )
    assert too_many.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    violations = details_of(too_many.value, error_details_pb2.PreconditionFailure)[0].violations
    assert [(v.type, v.subject) for v in violations] == [("RETURN_QUANTITY", sku)]

    # Many returns of one unit at once: exactly three are authorised.
    async def one() -> Any:
        try:
            return await customer.CreateReturn(
                pb.CreateReturnRequest(
                    request_id=unique_id(), order_id=order.order_id, lines=lines(**{sku: 1}), location_id=store
                )
            )
        except grpc.aio.AioRpcError as error:
            return error.code()

    outcomes = await asyncio.gather(*(one() for _ in range(8)))
    authorised = [o for o in outcomes if isinstance(o, pb.CreateReturnResponse)]
    assert len(authorised) == 3
    assert all(o == grpc.StatusCode.FAILED_PRECONDITION for o in outcomes if o not in authorised)

    # A cancelled return gives its units back to what may be returned.
    await customer.CancelReturn(
        pb.CancelReturnRequest(request_id=unique_id(), return_id=authorised[0].order_return.return_id, reason="kept")
    )
    again = await customer.CreateReturn(
        pb.CreateReturnRequest(
            request_id=unique_id(), order_id=order.order_id, lines=lines(**{sku: 1}), location_id=store
        )
    )
    assert again.order_return.status == pb.RETURN_STATUS_AUTHORISED
    listed = await customer.ListReturns(pb.ListReturnsRequest(order_id=order.order_id))
    assert len(listed.returns) == 4
    assert sum(r.status == pb.RETURN_STATUS_CANCELLED for r in listed.returns) == 1


async def test_a_sku_not_on_the_order_is_refused_as_such_naming_its_line(shop: Shop) -> None:
    """Not "at most 0 may still be returned", which reads as if it had come back already: the
    order never sold it. Nothing is authorised, the lines on the order included."""
    store = await shop.location()
    sku, other = await shop.sku(), await shop.sku()
    await shop.receive(store, sku, 2)
    await shop.receive(store, other, 2)
    order = await shop.delivered(store, [(sku, 2)])
    customer = shop.orders_as("storefront")

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await customer.CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(), order_id=order.order_id, lines=lines(**{sku: 1, other: 1}), location_id=store
            )
        )

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    (bad,) = details_of(refused.value, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("lines[1].sku", f"{other} is not on order {order.order_id}")
    ]
    listed = await customer.ListReturns(pb.ListReturnsRequest(order_id=order.order_id))
    assert list(listed.returns) == []


async def test_till_return_is_created_and_received_in_one_call(shop: Shop) -> None:
    store = await shop.location()
    sku = await shop.sku()
    await shop.receive(store, sku, 2)
    order = await shop.delivered(store, [(sku, 2)])
    till = shop.orders_as("pos", [store])

    with_order = await till.CreateReturn(
        pb.CreateReturnRequest(
            request_id=unique_id(),
            order_id=order.order_id,
            lines=lines(**{sku: 1}),
            location_id=store,
            receive_now=inspected((sku, RESTOCK, 1)),
        )
    )
    assert with_order.order_return.status == pb.RETURN_STATUS_RECEIVED
    assert (await shop.level(store, sku)).on_hand == 1

    # Without an order (a receipt from before the system): only a till or the back office.
    without = pb.CreateReturnRequest(
        request_id=unique_id(),
        lines=lines(**{sku: 2}),
        location_id=store,
        channel=common_pb2.CHANNEL_POS,
        receive_now=inspected((sku, RESTOCK, 2)),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.orders_as("chat_agent").CreateReturn(without)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    received = (await till.CreateReturn(without)).order_return
    assert received.order_id == "" and received.channel == common_pb2.CHANNEL_POS
    assert (await shop.level(store, sku)).on_hand == 3
    movements = await return_movements(shop, store, sku, received.return_id)
    assert [(m.reason.split(":")[0], m.on_hand_delta) for m in movements] == [("return", 2)]

    # A till elsewhere cannot take units back at this store.
    with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
        await shop.orders_as("pos", ["ST-OTHER"]).CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(),
                lines=lines(**{sku: 1}),
                location_id=store,
                channel=common_pb2.CHANNEL_POS,
                receive_now=inspected((sku, RESTOCK, 1)),
            )
        )
    assert elsewhere.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_return_by_post_goes_to_a_warehouse(shop: Shop) -> None:
    store, warehouse = await shop.location(), await shop.location(warehouse=True)
    sku = await shop.sku()
    await shop.receive(store, sku, 1)
    order = await shop.delivered(store, [(sku, 1)])
    customer = shop.orders_as("app")
    with pytest.raises(grpc.aio.AioRpcError) as not_a_warehouse:
        await customer.CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(),
                order_id=order.order_id,
                lines=lines(**{sku: 1}),
                location_id=store,
                by_post=True,
            )
        )
    assert not_a_warehouse.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    created = (
        await customer.CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(),
                order_id=order.order_id,
                lines=lines(**{sku: 1}),
                location_id=warehouse,
                by_post=True,
            )
        )
    ).order_return
    handheld = shop.orders_as("warehouse", [warehouse])
    assert [r.return_id for r in (await handheld.ListReturns(pb.ListReturnsRequest())).returns] == [created.return_id]
    await handheld.ReceiveReturn(
        pb.ReceiveReturnRequest(request_id=unique_id(), return_id=created.return_id, lines=inspected((sku, RESTOCK, 1)))
    )
    assert (await shop.level(warehouse, sku)).on_hand == 1
    # The store's staff do not see the warehouse's return.
    with pytest.raises(grpc.aio.AioRpcError) as hidden:
        await shop.orders_as("pos", [store]).GetReturn(pb.GetReturnRequest(return_id=created.return_id))
    assert hidden.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_bad_requests_name_their_field(shop: Shop) -> None:
    customer = shop.orders_as("storefront")
    for request, field in [
        (pb.CreateReturnRequest(request_id=unique_id(), order_id="O-1", location_id="ST-1"), "lines"),
        (pb.CreateReturnRequest(request_id=unique_id(), order_id="O-1", lines=lines(A=1)), "location_id"),
        (pb.CreateReturnRequest(request_id=unique_id(), lines=lines(A=1), location_id="ST-1"), "order_id"),
        (
            pb.CreateReturnRequest(request_id=unique_id(), order_id="O-1", lines=lines(A=0), location_id="S"),
            "lines[0].quantity",
        ),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await customer.CreateReturn(request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        fields = [v.field for d in details_of(refused.value, error_details_pb2.BadRequest) for v in d.field_violations]
        assert field in fields
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await customer.GetReturn(pb.GetReturnRequest(return_id="R-NONE"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_receipt_cut_short_after_inventory_booked_is_finished_once_by_its_retry(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await shop.location()
    sku = await shop.sku()
    await shop.receive(store, sku, 2)
    order = await shop.delivered(store, [(sku, 2)])
    created = (
        await shop.orders.CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(), order_id=order.order_id, lines=lines(**{sku: 2}), location_id=store
            )
        )
    ).order_return
    real_save = return_repository.save
    cut: list[str] = []

    async def crash_once(conn: Any, found: Any) -> Any:
        if not cut:
            cut.append(found.return_id)
            raise ConnectionResetError("the database went away")  # after inventory booked the units
        return await real_save(conn, found)

    monkeypatch.setattr(return_repository, "save", crash_once)
    receipt = pb.ReceiveReturnRequest(
        request_id=unique_id(), return_id=created.return_id, lines=inspected((sku, RESTOCK, 1), (sku, DAMAGED, 1))
    )
    till = shop.orders_as("pos", [store])
    # A lost connection is retried by the service itself, or the caller retries: either way inventory
    # is asked again under the same request ids, answers from its store, and books nothing twice.
    try:
        await till.ReceiveReturn(receipt)
    except grpc.aio.AioRpcError as error:
        assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED)
    assert cut == [created.return_id]
    done = (await till.ReceiveReturn(receipt)).order_return
    assert done.status == pb.RETURN_STATUS_RECEIVED
    assert (await shop.level(store, sku)).on_hand == 1
    movements = await return_movements(shop, store, sku, created.return_id)
    assert sorted((m.reason.split(":")[0], m.on_hand_delta) for m in movements) == [
        ("damage", -1),
        ("return", 1),
        ("return", 1),
    ]


async def test_one_cushion_of_a_sold_set_comes_back_at_another_store(shop: Shop) -> None:
    store, other = await shop.location(), await shop.location()
    sofa, cushion = await shop.sku("Velvet sofa"), await shop.sku("Velvet cushion")
    sofa_set = unique_id("SET-")
    await define_set(
        shop.inventory,
        {sofa: 1, cushion: 2},
        sku=sofa_set,
        title="Velvet sofa with two cushions",
        price_minor=139900,
        currency="EUR",
    )
    await shop.receive(store, sofa, 1)
    await shop.receive(store, cushion, 2)
    order = await shop.delivered(store, [(sofa_set, 1)])
    customer = shop.orders_as("chat_agent")

    def asking(**quantities: int) -> pb.CreateReturnRequest:
        return pb.CreateReturnRequest(
            request_id=unique_id(), order_id=order.order_id, lines=lines(**quantities), location_id=other
        )

    # The set delivered two cushions and one sofa: three cushions are more than it brought.
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await customer.CreateReturn(asking(**{cushion: 3}))
    assert too_many.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "at most 2" in too_many.value.details()

    created = (await customer.CreateReturn(asking(**{cushion: 1}))).order_return
    till = shop.orders_as("pos", [other])
    received = (
        await till.ReceiveReturn(
            pb.ReceiveReturnRequest(
                request_id=unique_id(), return_id=created.return_id, lines=inspected((cushion, RESTOCK, 1))
            )
        )
    ).order_return
    assert received.status == pb.RETURN_STATUS_RECEIVED
    # The cushion is on hand at the other store; the sofa and the other cushion stay sold.
    assert (await shop.level(other, cushion)).on_hand == 1
    assert (await shop.level(store, sofa)).on_hand == 0 and (await shop.level(store, cushion)).on_hand == 0
    movements = await return_movements(shop, other, cushion, created.return_id)
    assert [(m.reason.split(":")[0], m.on_hand_delta) for m in movements] == [("return", 1)]
    # One more cushion may come back, and the sofa; a second sofa may not.
    await customer.CreateReturn(asking(**{cushion: 1, sofa: 1}))
    with pytest.raises(grpc.aio.AioRpcError) as none_left:
        await customer.CreateReturn(asking(**{sofa: 1}))
    assert none_left.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # `omnistock verify --snapshot` reads the set's parts too: nothing returned beyond what it delivered.
    found = run_checks(await snapshot_of(shop.stack.settings))
    assert [v for v in found if v.subject == order.order_id] == []


async def sofa_set(shop: Shop) -> tuple[str, str, str]:
    """A set of one sofa and two cushions: (set, sofa, cushion)."""
    sofa, cushion = await shop.sku("Velvet sofa"), await shop.sku("Velvet cushion")
    bundle = unique_id("SET-")
    await define_set(
        shop.inventory,
        {sofa: 1, cushion: 2},
        sku=bundle,
        title="Velvet sofa with two cushions",
        price_minor=139900,
        currency="EUR",
    )
    return bundle, sofa, cushion


async def test_a_whole_set_comes_back_by_its_own_sku(shop: Shop) -> None:
    store, other = await shop.location(), await shop.location()
    bundle, sofa, cushion = await sofa_set(shop)
    await shop.receive(store, sofa, 2)
    await shop.receive(store, cushion, 4)
    order = await shop.delivered(store, [(bundle, 2)])
    # The order's line says what the set is made of (insights counts its units so).
    assert [{c.sku: c.quantity for c in line.components} for line in order.lines] == [{sofa: 1, cushion: 2}]
    customer = shop.orders_as("chat_agent")

    def asking(**quantities: int) -> pb.CreateReturnRequest:
        return pb.CreateReturnRequest(
            request_id=unique_id(), order_id=order.order_id, lines=lines(**quantities), location_id=other
        )

    # Three sets are more than the order delivered: refused by the set's SKU.
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await customer.CreateReturn(asking(**{bundle: 3}))
    assert too_many.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    violations = details_of(too_many.value, error_details_pb2.PreconditionFailure)[0].violations
    assert ("RETURN_QUANTITY", bundle) in [(v.type, v.subject) for v in violations]

    # One set: the return says the set and its parts.
    created = (await customer.CreateReturn(asking(**{bundle: 1}))).order_return
    assert {line.sku: line.quantity for line in created.lines} == {sofa: 1, cushion: 2}
    assert [(s.sku, s.quantity, {c.sku: c.quantity for c in s.components}) for s in created.sets] == [
        (bundle, 1, {sofa: 1, cushion: 2})
    ]
    till = shop.orders_as("pos", [other])
    # The set's condition applies to every part of it.
    received = (
        await till.ReceiveReturn(
            pb.ReceiveReturnRequest(
                request_id=unique_id(), return_id=created.return_id, lines=inspected((bundle, DAMAGED, 1))
            )
        )
    ).order_return
    assert {line.sku: line.damaged for line in received.lines} == {sofa: 1, cushion: 2}
    assert [(s.sku, s.damaged) for s in received.sets] == [(bundle, 1)]
    # Per part: booked in and out as damaged at the receiving store, each movement naming the set.
    for part, units in ((sofa, 1), (cushion, 2)):
        assert (await shop.level(other, part)).on_hand == 0
        movements = await return_movements(shop, other, part, created.return_id)
        assert sorted((m.reason.split(":")[0], m.on_hand_delta) for m in movements) == [
            ("damage", -units),
            ("return", units),
        ]
        assert all(f"(part of 1 {bundle})" in m.reason for m in movements)
    # The set's SKU has no stock row anywhere.
    listed = await shop.inventory.ListMovements(inv.ListMovementsRequest(location_id=other, sku=bundle))
    assert list(listed.movements) == []

    # The second set: a set and one cushion together ask three of its two cushions.
    with pytest.raises(grpc.aio.AioRpcError) as mixed:
        await customer.CreateReturn(asking(**{bundle: 1, cushion: 1}))
    violations = details_of(mixed.value, error_details_pb2.PreconditionFailure)[0].violations
    assert [(v.type, v.subject) for v in violations] == [("RETURN_QUANTITY", cushion)]
    # Once one cushion came back alone, the set can no longer come back whole.
    await customer.CreateReturn(asking(**{cushion: 1}))
    with pytest.raises(grpc.aio.AioRpcError) as not_whole:
        await customer.CreateReturn(asking(**{bundle: 1}))
    violations = details_of(not_whole.value, error_details_pb2.PreconditionFailure)[0].violations
    assert ("RETURN_QUANTITY", bundle) in [(v.type, v.subject) for v in violations]
    assert "at most 0 whole sets" in not_whole.value.details()
    # Its other parts still may, one by one; then nothing is left.
    await customer.CreateReturn(asking(**{sofa: 1, cushion: 1}))
    with pytest.raises(grpc.aio.AioRpcError) as none_left:
        await customer.CreateReturn(asking(**{cushion: 1}))
    assert none_left.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    found = run_checks(await snapshot_of(shop.stack.settings))
    assert [v for v in found if v.subject == order.order_id] == []


async def test_a_till_takes_a_whole_set_back_at_once(shop: Shop) -> None:
    store = await shop.location()
    bundle, sofa, cushion = await sofa_set(shop)
    await shop.receive(store, sofa, 1)
    await shop.receive(store, cushion, 2)
    order = await shop.delivered(store, [(bundle, 1)])
    received = (
        await shop.orders_as("pos", [store]).CreateReturn(
            pb.CreateReturnRequest(
                request_id=unique_id(),
                order_id=order.order_id,
                lines=lines(**{bundle: 1}),
                location_id=store,
                receive_now=inspected((bundle, RESTOCK, 1)),
            )
        )
    ).order_return
    assert received.status == pb.RETURN_STATUS_RECEIVED
    assert [(s.sku, s.restocked) for s in received.sets] == [(bundle, 1)]
    assert (await shop.level(store, sofa)).on_hand == 1 and (await shop.level(store, cushion)).on_hand == 2
    # Sellable again at once: as a set too.
    assert (await shop.level(store, bundle)).available == 1


async def test_concurrent_returns_of_sets_and_parts_never_take_back_more_parts_than_delivered(shop: Shop) -> None:
    store = await shop.location()
    bundle, sofa, cushion = await sofa_set(shop)
    await shop.receive(store, sofa, 3)
    await shop.receive(store, cushion, 6)
    order = await shop.delivered(store, [(bundle, 3)])
    customer = shop.orders_as("storefront")

    # Eight returns at once, each asking two cushions: a whole set (six of them), or two cushions alone
    # (two). The order delivered six cushions, so exactly three are authorised, a set among them.
    async def one(quantities: dict[str, int]) -> Any:
        try:
            return await customer.CreateReturn(
                pb.CreateReturnRequest(
                    request_id=unique_id(), order_id=order.order_id, lines=lines(**quantities), location_id=store
                )
            )
        except grpc.aio.AioRpcError as error:
            return error.code()

    outcomes = await asyncio.gather(*(one({cushion: 2} if i in (2, 5) else {bundle: 1}) for i in range(8)))
    authorised = [o.order_return for o in outcomes if isinstance(o, pb.CreateReturnResponse)]
    assert len(authorised) == 3
    assert all(o == grpc.StatusCode.FAILED_PRECONDITION for o in outcomes if not isinstance(o, pb.CreateReturnResponse))
    returned: dict[str, int] = {}
    for found in authorised:
        for line in found.lines:
            returned[line.sku] = returned.get(line.sku, 0) + line.quantity
    assert returned[cushion] == 6 and 1 <= returned.get(sofa, 0) <= 3
    assert returned.get(sofa, 0) == sum(s.quantity for found in authorised for s in found.sets)
    found_violations = run_checks(await snapshot_of(shop.stack.settings))
    assert [v for v in found_violations if v.subject == order.order_id] == []


async def test_a_set_redefined_before_a_cut_short_return_is_retried_comes_back_as_it_was_sold(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await shop.location()
    bundle, sofa, cushion = await sofa_set(shop)
    await shop.receive(store, sofa, 1)
    await shop.receive(store, cushion, 2)
    order = await shop.delivered(store, [(bundle, 1)])
    real_save = return_repository.save
    cut: list[str] = []

    async def crash_once(conn: Any, found: Any) -> Any:
        if not cut:
            cut.append(found.return_id)
            # Meanwhile the set is sold with one cushion.
            await define_set(
                shop.inventory,
                {sofa: 1, cushion: 1},
                sku=bundle,
                title="Velvet sofa with a cushion",
                price_minor=129900,
                currency="EUR",
            )
            raise ConnectionResetError("the database went away")  # after inventory booked the parts
        return await real_save(conn, found)

    monkeypatch.setattr(return_repository, "save", crash_once)
    request = pb.CreateReturnRequest(
        request_id=unique_id(),
        order_id=order.order_id,
        lines=lines(**{bundle: 1}),
        location_id=store,
        receive_now=inspected((bundle, RESTOCK, 1)),
    )
    till = shop.orders_as("pos", [store])
    # A lost connection is retried by the service itself, or the caller retries.
    try:
        await till.CreateReturn(request)
    except grpc.aio.AioRpcError as error:
        assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED)
    assert len(cut) == 1

    # The retry answers as the first try would have: the set as the order delivered it, booked once.
    done = (await till.CreateReturn(request)).order_return
    assert done.return_id == cut[0] and done.status == pb.RETURN_STATUS_RECEIVED
    assert {line.sku: line.restocked for line in done.lines} == {sofa: 1, cushion: 2}
    assert [(s.sku, s.restocked, {c.sku: c.quantity for c in s.components}) for s in done.sets] == [
        (bundle, 1, {sofa: 1, cushion: 2})
    ]
    assert (await till.CreateReturn(request)).order_return == done
    assert (await shop.level(store, sofa)).on_hand == 1 and (await shop.level(store, cushion)).on_hand == 2
    for part, units in ((sofa, 1), (cushion, 2)):
        movements = await return_movements(shop, store, part, done.return_id)
        assert [m.on_hand_delta for m in movements] == [units]
    # `omnistock verify` counts the set as the order delivered it, too: its return, and its sale (the
    # hold committed the components the order sold it with, not the set's definition now).
    found = run_checks(await snapshot_of(shop.stack.settings))
    assert [v for v in found if order.order_id in (v.subject + v.detail)] == []
