"""Transfers between locations through gRPC: shipped units leave on hand at the origin and show in
transit at the destination, a receipt books damaged, short and over units, every step writes ledger
entries on both sides, and a shipment never takes units a sale has."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters.transfer_checks import TRANSFER_CHECKS
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import unique_id


@dataclass
class Route:
    """A warehouse, a store, their staff and the back office."""

    warehouse: str
    store: str
    picker: Any
    clerk: Any
    office: Any
    catalogue: Any

    async def create(self, lines: dict[str, int], *, by: Any = None, **fields: Any) -> pb.Transfer:
        request = pb.CreateTransferRequest(
            request_id=unique_id(),
            origin_location_id=fields.pop("origin", self.warehouse),
            destination_location_id=fields.pop("destination", self.store),
            lines=[pb.TransferLineRequest(sku=sku, quantity=quantity) for sku, quantity in lines.items()],
            **fields,
        )
        return (await (by or self.picker).CreateTransfer(request)).transfer

    async def ship(self, transfer_id: str, *, by: Any = None, request_id: str = "") -> pb.ShipTransferResponse:
        return await (by or self.picker).ShipTransfer(
            pb.ShipTransferRequest(request_id=request_id or unique_id(), transfer_id=transfer_id)
        )

    async def receive(self, transfer_id: str, arrivals: list[pb.TransferArrival], *, by: Any = None) -> Any:
        return await (by or self.clerk).ReceiveTransfer(
            pb.ReceiveTransferRequest(request_id=unique_id(), transfer_id=transfer_id, lines=arrivals)
        )

    async def level(self, location_id: str, sku: str) -> pb.StockLevel:
        levels = (await self.office.GetStock(pb.GetStockRequest(sku=sku, location_id=location_id))).levels
        return levels[0]

    async def movements(self, location_id: str, sku: str) -> list[pb.Movement]:
        reply = await self.office.ListMovements(pb.ListMovementsRequest(location_id=location_id, sku=sku))
        return list(reply.movements)


@pytest.fixture
async def route(catalogue, stack) -> Route:
    warehouse = await catalogue.location(kind=pb.LOCATION_KIND_WAREHOUSE)
    store = await catalogue.location()
    return Route(
        warehouse,
        store,
        stack.stub("inventory", token=stack.token("warehouse", locations=[warehouse])),
        stack.stub("inventory", token=stack.token("pos", locations=[store])),
        stack.stub("inventory", role="admin"),
        catalogue,
    )


def refusal(error: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> tuple[grpc.StatusCode, list[str]]:
    violations = [v.type for d in details_of(error.value, error_details_pb2.PreconditionFailure) for v in d.violations]
    return error.value.code(), violations


async def test_a_shipment_moves_units_into_transit_and_the_receipt_books_every_unit(route: Route, db) -> None:
    lamp, chair = await route.catalogue.sku("Lamp"), await route.catalogue.sku("Chair")
    await route.catalogue.receive(route.warehouse, lamp, 10)
    await route.catalogue.receive(route.warehouse, chair, 4)
    draft = await route.create({lamp: 6, chair: 4}, note="weekly refill")
    assert draft.status == pb.TRANSFER_STATUS_DRAFT and [line.sku for line in draft.lines] == sorted([lamp, chair])
    assert (await route.level(route.warehouse, lamp)).on_hand == 10  # a draft moves nothing

    shipped = await route.ship(draft.transfer_id)
    assert shipped.transfer.status == pb.TRANSFER_STATUS_SHIPPED and shipped.transfer.units_in_transit == 10
    assert sorted((m.location_id == route.warehouse, m.kind, m.on_hand_delta) for m in shipped.movements) == sorted(
        [
            (True, pb.MOVEMENT_KIND_TRANSFER_OUT, -6),
            (True, pb.MOVEMENT_KIND_TRANSFER_OUT, -4),
            (False, pb.MOVEMENT_KIND_TRANSFER_IN_TRANSIT, 0),
            (False, pb.MOVEMENT_KIND_TRANSFER_IN_TRANSIT, 0),
        ]
    )
    origin, arriving = await route.level(route.warehouse, lamp), await route.level(route.store, lamp)
    assert (origin.on_hand, origin.available, origin.in_transit) == (4, 4, 0)
    assert (arriving.on_hand, arriving.available, arriving.in_transit) == (0, 0, 6)
    assert await check_invariants(db) == []

    # Five good lamps and one damaged; two chairs over; nothing said of... every shipped SKU is named here.
    received = await route.receive(
        draft.transfer_id,
        [
            pb.TransferArrival(sku=lamp, received=5, damaged=1),
            pb.TransferArrival(sku=chair, received=6),
        ],
    )
    lines = {line.sku: line for line in received.transfer.lines}
    assert (lines[lamp].received, lines[lamp].damaged, lines[lamp].short, lines[lamp].over) == (5, 1, 0, 0)
    assert (lines[chair].received, lines[chair].damaged, lines[chair].short, lines[chair].over) == (6, 0, 0, 2)
    assert received.transfer.status == pb.TRANSFER_STATUS_RECEIVED and received.transfer.units_in_transit == 0
    store_lamp = await route.level(route.store, lamp)
    assert (store_lamp.on_hand, store_lamp.in_transit, (await route.level(route.store, chair)).on_hand) == (5, 0, 6)
    (entry,) = [m for m in await route.movements(route.store, lamp) if m.kind == pb.MOVEMENT_KIND_TRANSFER_IN]
    assert (entry.on_hand_delta, entry.document_ref) == (5, f"transfer:{draft.transfer_id}")
    assert "damaged 1" in entry.reason
    assert await check_invariants(db) == []


async def test_an_unnamed_line_arrives_short_and_a_sku_not_shipped_is_refused(route: Route, db) -> None:
    lamp, other = await route.catalogue.sku("Lamp"), await route.catalogue.sku("Vase")
    await route.catalogue.receive(route.warehouse, lamp, 3)
    transfer = await route.create({lamp: 3})
    await route.ship(transfer.transfer_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await route.receive(transfer.transfer_id, [pb.TransferArrival(sku=other, received=1)])
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await route.level(route.store, lamp)).in_transit == 3  # bad input changes nothing
    received = await route.receive(transfer.transfer_id, [])
    (line,) = received.transfer.lines
    assert (line.received, line.short) == (0, 3)
    assert (await route.level(route.store, lamp)).in_transit == 0
    assert await check_invariants(db) == []


async def test_shipping_is_all_or_nothing_and_only_what_is_available(route: Route, db) -> None:
    lamp, chair = await route.catalogue.sku("Lamp"), await route.catalogue.sku("Chair")
    await route.catalogue.receive(route.warehouse, lamp, 5)
    await route.catalogue.receive(route.warehouse, chair, 1)
    await route.office.Hold(
        pb.HoldRequest(
            request_id=unique_id(),
            owner="order:held",
            channel=common_pb2.CHANNEL_WEB,
            lines=[pb.HoldLineRequest(location_id=route.warehouse, sku=chair, quantity=1)],
        )
    )
    transfer = await route.create({lamp: 5, chair: 1})
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await route.ship(transfer.transfer_id)
    assert refusal(refused) == (grpc.StatusCode.FAILED_PRECONDITION, ["STOCK"])
    assert (await route.level(route.warehouse, lamp)).on_hand == 5  # the lamp line did not ship either
    got = (await route.office.GetTransfer(pb.GetTransferRequest(transfer_id=transfer.transfer_id))).transfer
    assert got.status == pb.TRANSFER_STATUS_DRAFT
    assert await check_invariants(db) == []


async def test_cancel_only_before_shipping_and_retries_answer_the_first_time(route: Route, db) -> None:
    lamp = await route.catalogue.sku("Lamp")
    await route.catalogue.receive(route.warehouse, lamp, 4)
    draft = await route.create({lamp: 2})
    cancelled = await route.picker.CancelTransfer(
        pb.CancelTransferRequest(request_id=unique_id(), transfer_id=draft.transfer_id, reason="not needed")
    )
    assert cancelled.transfer.status == pb.TRANSFER_STATUS_CANCELLED and cancelled.transfer.cancel_reason
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await route.ship(draft.transfer_id)
    assert refusal(refused) == (grpc.StatusCode.FAILED_PRECONDITION, ["TRANSFER_STATE"])

    other = await route.create({lamp: 2})
    request_id = unique_id()
    first = await route.ship(other.transfer_id, request_id=request_id)
    again = await route.ship(other.transfer_id, request_id=request_id)
    assert again == first
    assert (await route.level(route.warehouse, lamp)).on_hand == 2  # shipped once
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await route.picker.CancelTransfer(
            pb.CancelTransferRequest(request_id=unique_id(), transfer_id=other.transfer_id)
        )
    assert refusal(late) == (grpc.StatusCode.FAILED_PRECONDITION, ["TRANSFER_STATE"])
    assert await check_invariants(db) == []


async def test_staff_ship_at_their_origin_and_receive_at_their_destination(route: Route, stack) -> None:
    lamp = await route.catalogue.sku("Lamp")
    await route.catalogue.receive(route.warehouse, lamp, 4)
    transfer = await route.create({lamp: 2}, by=route.clerk)  # the store asks for it
    with pytest.raises(grpc.aio.AioRpcError) as wrong_end:
        await route.ship(transfer.transfer_id, by=route.clerk)
    assert wrong_end.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await route.ship(transfer.transfer_id)
    with pytest.raises(grpc.aio.AioRpcError) as picker_receives:
        await route.receive(transfer.transfer_id, [], by=route.picker)
    assert picker_receives.value.code() == grpc.StatusCode.PERMISSION_DENIED
    stranger = stack.stub("inventory", token=stack.token("pos", locations=[await route.catalogue.location()]))
    with pytest.raises(grpc.aio.AioRpcError) as unseen:
        await stranger.GetTransfer(pb.GetTransferRequest(transfer_id=transfer.transfer_id))
    assert unseen.value.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await route.clerk.ListTransfers(pb.ListTransfersRequest(status=pb.TRANSFER_STATUS_SHIPPED))
    assert [each.transfer_id for each in listed.transfers] == [transfer.transfer_id]


async def test_sales_and_a_shipment_fighting_for_the_last_units_never_oversell(route: Route, stack, db) -> None:
    """Eight units at a store; eight tills sell one each while a transfer tries to ship five of them to
    another store. Whatever wins, on hand never goes below zero and no unit is both sold and shipped."""
    sofa = await route.catalogue.sku("Sofa")
    await route.catalogue.receive(route.store, sofa, 8)
    other = await route.catalogue.location()
    till = stack.stub("inventory", token=stack.token("pos", locations=[route.store]))
    transfer = await route.create({sofa: 5}, origin=route.store, destination=other, by=route.office)

    async def sell() -> bool:
        try:
            await till.Hold(
                pb.HoldRequest(
                    request_id=unique_id(),
                    owner=f"till:{route.store}",
                    channel=common_pb2.CHANNEL_POS,
                    lines=[pb.HoldLineRequest(location_id=route.store, sku=sofa, quantity=1)],
                    selling_location_id=route.store,
                    commit_now=True,
                )
            )
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            return False
        return True

    async def ship() -> bool:
        try:
            await route.ship(transfer.transfer_id, by=route.office)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            return False
        return True

    outcomes = await asyncio.gather(*(sell() for _ in range(4)), ship(), *(sell() for _ in range(4)))
    sold = sum(outcomes[:4]) + sum(outcomes[5:])
    shipped = 5 if outcomes[4] else 0
    level = await route.level(route.store, sofa)
    assert level.on_hand == 8 - sold - shipped >= 0
    arriving = (await route.office.GetStock(pb.GetStockRequest(sku=sofa, location_id=other))).levels
    assert sum(each.in_transit for each in arriving) == shipped
    # Eight sellers and a shipment of five want 13 units: every unit went, each exactly once.
    assert sold + shipped == 8
    assert await check_invariants(db) == []


async def test_transfers_going_opposite_ways_at_once_never_deadlock(route: Route, db) -> None:
    """Each shipment locks the rows at both ends; in the one lock order of holds, two transfers between
    the same locations in opposite directions both ship."""
    lamp, vase = await route.catalogue.sku("Lamp"), await route.catalogue.sku("Vase")
    for location_id in (route.warehouse, route.store):
        await route.catalogue.receive(location_id, lamp, 20)
        await route.catalogue.receive(location_id, vase, 20)
    there = [await route.create({lamp: 1, vase: 1}, by=route.office) for _ in range(5)]
    back = [
        await route.create({lamp: 1, vase: 1}, origin=route.store, destination=route.warehouse, by=route.office)
        for _ in range(5)
    ]
    replies = await asyncio.gather(
        *(route.ship(t.transfer_id, by=route.office) for pair in zip(there, back, strict=True) for t in pair)
    )
    assert all(reply.transfer.status == pb.TRANSFER_STATUS_SHIPPED for reply in replies)
    for location_id in (route.warehouse, route.store):
        level = await route.level(location_id, lamp)
        assert (level.on_hand, level.in_transit) == (15, 5)
    assert await check_invariants(db) == []


async def test_a_request_id_used_again_for_another_transfer_is_refused(route: Route) -> None:
    lamp = await route.catalogue.sku("Lamp")
    await route.catalogue.receive(route.warehouse, lamp, 4)
    first, second = await route.create({lamp: 1}), await route.create({lamp: 1})
    request_id = unique_id()
    await route.ship(first.transfer_id, request_id=request_id)
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await route.ship(second.transfer_id, request_id=request_id)
    assert refusal(reused) == (grpc.StatusCode.FAILED_PRECONDITION, ["IDEMPOTENCY"])
    assert (await route.level(route.warehouse, lamp)).on_hand == 3


class _RolledBack(Exception):
    """Raised to roll back a transaction whose tampering must never outlive the test."""


async def test_verify_names_units_in_transit_counted_twice_and_a_shipment_off_the_ledger(route: Route, db) -> None:
    lamp = await route.catalogue.sku("Lamp")
    await route.catalogue.receive(route.warehouse, lamp, 5)
    transfer = await route.create({lamp: 2})
    await route.ship(transfer.transfer_id)
    found: list[tuple[str, str]] = []
    with pytest.raises(_RolledBack):
        async with db.transaction() as conn:
            # The same units shown in transit twice, and the shipment's ledger entry doubled.
            await conn.execute(
                "UPDATE inventory.stock SET in_transit = in_transit + 2 WHERE location_id = $1 AND sku = $2",
                route.store,
                lamp,
            )
            await conn.execute(
                "UPDATE inventory.movements SET on_hand_delta = -4 WHERE document_ref = $1 AND kind = 'transfer_out'",
                f"transfer:{transfer.transfer_id}",
            )
            for check, query in TRANSFER_CHECKS.items():
                found += [(check, row[0]) for row in await conn.fetch(query)]
            raise _RolledBack
    assert ("in transit differs from the open transfers to the location", f"{route.store}/{lamp}") in found
    assert ("transfer ledger entries differ from the transfer", f"{transfer.transfer_id}/{lamp}") in found
    assert await check_invariants(db) == []


async def test_a_plain_transfer_naming_a_set_moves_its_components(route: Route, db) -> None:
    sofa, cushion = await route.catalogue.sku("Velvet sofa"), await route.catalogue.sku("Velvet cushion")
    sofa_set = unique_id("SET-")
    await define_set(
        route.office,
        {sofa: 1, cushion: 2},
        sku=sofa_set,
        title="Velvet sofa with two cushions",
        price_minor=139900,
        currency="EUR",
    )
    await route.catalogue.receive(route.warehouse, sofa, 3)
    await route.catalogue.receive(route.warehouse, cushion, 8)
    # Two sets and one more cushion: the transfer carries two sofas and five cushions, and says the sets.
    draft = await route.create({sofa_set: 2, cushion: 1})
    assert {line.sku: line.quantity for line in draft.lines} == {sofa: 2, cushion: 5}
    assert [(s.sku, s.quantity, {c.sku: c.quantity for c in s.components}) for s in draft.sets] == [
        (sofa_set, 2, {sofa: 1, cushion: 2})
    ]
    # A set too big for one transfer line is refused, naming its line.
    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await route.create({sofa_set: 600_000})
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [v.field for d in details_of(too_big.value, error_details_pb2.BadRequest) for v in d.field_violations]
    assert fields == ["lines[0].quantity"]

    shipped = await route.ship(draft.transfer_id)
    assert shipped.transfer.units_in_transit == 7
    assert {(m.sku, m.kind): m.on_hand_delta for m in shipped.movements if m.location_id == route.warehouse} == {
        (sofa, pb.MOVEMENT_KIND_TRANSFER_OUT): -2,
        (cushion, pb.MOVEMENT_KIND_TRANSFER_OUT): -5,
    }
    # Every movement of a part names the sets it travels in; the set's SKU has no stock row anywhere.
    assert all(f"(part of 2 {sofa_set})" in m.reason for m in shipped.movements)
    assert (await route.office.ListMovements(pb.ListMovementsRequest(sku=sofa_set))).movements == []
    warehouse_set = (await route.office.GetStock(pb.GetStockRequest(sku=sofa_set, location_id=route.warehouse))).levels
    assert [(level.bundle, level.on_hand) for level in warehouse_set] == [(True, 1)]

    received = await route.receive(
        draft.transfer_id, [pb.TransferArrival(sku=sofa, received=2), pb.TransferArrival(sku=cushion, received=5)]
    )
    assert received.transfer.status == pb.TRANSFER_STATUS_RECEIVED
    assert (await route.level(route.store, sofa)).on_hand == 2 and (
        await route.level(route.store, cushion)
    ).on_hand == 5
    store_set = (await route.office.GetStock(pb.GetStockRequest(sku=sofa_set, location_id=route.store))).levels
    assert [level.available for level in store_set] == [2]
    assert await check_invariants(db) == []


def bad_fields(error: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> list[str]:
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return [v.field for d in details_of(error.value, error_details_pb2.BadRequest) for v in d.field_violations]


async def test_an_expected_arrival_in_the_past_is_refused_naming_it(route: Route) -> None:
    lamp = await route.catalogue.sku("Lamp")
    await route.catalogue.receive(route.warehouse, lamp, 2)
    long_ago = Timestamp()
    long_ago.FromDatetime(datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await route.create({lamp: 1}, expected_arrival_at=long_ago)
    assert bad_fields(refused) == ["expected_arrival_at"]
    listed = await route.office.ListTransfers(pb.ListTransfersRequest(location_id=route.store))
    assert list(listed.transfers) == []  # nothing was drafted
    # Clocks drift: a moment ago is taken as now.
    just_now = Timestamp()
    just_now.FromDatetime(datetime.now(UTC) - timedelta(seconds=5))
    draft = await route.create({lamp: 1}, expected_arrival_at=just_now)
    assert draft.status == pb.TRANSFER_STATUS_DRAFT


async def test_more_damaged_than_shipped_is_refused_not_booked_over(route: Route, db) -> None:
    """Three shipped; two good and five damaged cannot be true of three units: the receipt would book
    four over (good units on hand) while only two went on hand."""
    lamp = await route.catalogue.sku("Lamp")
    await route.catalogue.receive(route.warehouse, lamp, 3)
    transfer = await route.create({lamp: 3})
    await route.ship(transfer.transfer_id)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await route.receive(transfer.transfer_id, [pb.TransferArrival(sku=lamp, received=2, damaged=5)])
    assert bad_fields(refused) == ["lines[0].damaged"]
    arriving = await route.level(route.store, lamp)
    assert (arriving.on_hand, arriving.in_transit) == (0, 3)  # nothing changed
    received = await route.receive(transfer.transfer_id, [pb.TransferArrival(sku=lamp, received=2, damaged=1)])
    (line,) = received.transfer.lines
    assert (line.received, line.damaged, line.short, line.over) == (2, 1, 0, 0)
    assert await check_invariants(db) == []
