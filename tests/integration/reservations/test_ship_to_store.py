"""Ship to store: a reservation at a store without the stock, served by a transfer that keeps its
units for it at the origin, on the road and at the store; what happens when fewer arrive, when it is
cancelled before or after the transfer ships, when staff cancel the transfer, when it is retried,
and when many customers race for a warehouse's last units."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.orders.support import BERLIN, Shop, store_request
from tests.integration.reservations.support import create_request


class Route:
    """A store with none of a SKU and a warehouse nearby with `stock` of it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
        self.chat = stack.stub("reservations", role="chat_agent")
        self.admin = stack.stub("reservations", role="admin")
        self.store = self.warehouse = self.sku = ""

    async def build(self, stock: int) -> Route:
        self.store = await self.shop.location(BERLIN, city="Berlin")
        self.warehouse = await self.shop.location((52.53, 13.2), warehouse=True, city="Berlin")
        self.sku = await self.shop.sku("Green velvet sofa", 129900)
        await self.shop.receive(self.warehouse, self.sku, stock)
        return self

    def request(self, quantity: int, **fields: Any) -> pb.CreateReservationRequest:
        request = create_request(self.store, [(self.sku, quantity)], **fields)
        request.allow_ship_to_store = True
        return request

    async def reserve(self, quantity: int) -> pb.Reservation:
        return (await self.chat.CreateReservation(self.request(quantity))).reservation

    async def get(self, reservation_id: str) -> pb.Reservation:
        reply = await self.admin.GetReservation(pb.GetReservationRequest(reservation_id=reservation_id))
        return reply.reservation

    async def becomes(self, reservation_id: str, status: int) -> pb.Reservation:
        async def reached() -> bool:
            return (await self.get(reservation_id)).status == status

        await wait_until(reached, what=f"reservation {reservation_id} in status {status}")
        return await self.get(reservation_id)

    async def ship(self, transfer_id: str) -> None:
        await self.shop.inventory.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer_id))

    async def receive(self, transfer_id: str, received: int, damaged: int = 0) -> inv.Transfer:
        reply = await self.shop.inventory.ReceiveTransfer(
            inv.ReceiveTransferRequest(
                request_id=unique_id(),
                transfer_id=transfer_id,
                lines=[inv.TransferArrival(sku=self.sku, received=received, damaged=damaged)],
            )
        )
        return reply.transfer

    async def transfer(self, transfer_id: str) -> inv.Transfer:
        return (await self.shop.inventory.GetTransfer(inv.GetTransferRequest(transfer_id=transfer_id))).transfer

    async def figures(self, location_id: str) -> tuple[int, int, int]:
        level = await self.shop.level(location_id, self.sku)
        return level.on_hand, level.held, level.in_transit


async def test_a_short_receipt_keeps_what_arrived_and_says_what_did_not(stack: Stack, tap: EventTap) -> None:
    route = await Route(stack).build(stock=5)
    reservation = await route.reserve(3)
    await route.ship(reservation.transfer_id)
    arrived = await route.receive(reservation.transfer_id, received=2, damaged=1)
    assert await route.figures(route.store) == (2, 2, 0)  # both good ones held for her at once

    ready = await route.becomes(reservation.reservation_id, pb.RESERVATION_STATUS_READY_FOR_PICKUP)
    assert [(line.sku, line.quantity) for line in ready.lines] == [(route.sku, 2)]
    assert ready.hold_id == arrived.arrival_hold_id
    _, shorted = await tap.wait_for(
        lambda e, p: (
            e.type == "reservations.reservation.shorted" and p.reservation.reservation_id == reservation.reservation_id
        )
    )
    assert [(line.sku, line.quantity) for line in shorted.shorted] == [(route.sku, 1)]
    hold = await route.shop.hold(ready.hold_id)
    assert [(line.location_id, line.quantity) for line in hold.lines] == [(route.store, 2)]


async def test_nothing_arriving_cancels_the_reservation_and_holds_nothing(stack: Stack, tap: EventTap) -> None:
    route = await Route(stack).build(stock=5)
    reservation = await route.reserve(2)
    await route.ship(reservation.transfer_id)
    arrived = await route.receive(reservation.transfer_id, received=0, damaged=2)
    assert arrived.arrival_hold_id == ""
    cancelled = await route.becomes(reservation.reservation_id, pb.RESERVATION_STATUS_CANCELLED)
    assert "nothing arrived" in cancelled.cancel_reason
    await tap.wait_for(
        lambda e, p: (
            e.type == "reservations.reservation.shorted" and p.reservation.reservation_id == reservation.reservation_id
        )
    )
    assert await route.figures(route.store) == (0, 0, 0)
    assert await route.figures(route.warehouse) == (3, 0, 0)


async def test_cancelling_before_the_transfer_ships_cancels_it_and_frees_the_origin(stack: Stack) -> None:
    route = await Route(stack).build(stock=4)
    reservation = await route.reserve(3)
    assert await route.figures(route.warehouse) == (4, 3, 0)
    cancelled = await route.chat.CancelReservation(
        pb.CancelReservationRequest(
            request_id=unique_id(), reservation_id=reservation.reservation_id, reason="changed my mind"
        )
    )
    assert cancelled.reservation.status == pb.RESERVATION_STATUS_CANCELLED
    transfer = await route.transfer(reservation.transfer_id)
    assert transfer.status == inv.TRANSFER_STATUS_CANCELLED
    assert (await route.shop.hold(reservation.hold_id)).state == inv.HOLD_STATE_RELEASED
    assert await route.figures(route.warehouse) == (4, 0, 0)
    # The cancelled transfer cannot ship the units anyway.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await route.ship(reservation.transfer_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_staff_cancelling_the_transfer_cancels_the_reservation_waiting_for_it(stack: Stack) -> None:
    route = await Route(stack).build(stock=4)
    reservation = await route.reserve(1)
    picker = stack.stub("inventory", role="warehouse", locations=[route.warehouse])
    await picker.CancelTransfer(
        inv.CancelTransferRequest(request_id=unique_id(), transfer_id=reservation.transfer_id, reason="van broke down")
    )
    cancelled = await route.becomes(reservation.reservation_id, pb.RESERVATION_STATUS_CANCELLED)
    assert reservation.transfer_origin_id in cancelled.cancel_reason
    assert await route.figures(route.warehouse) == (4, 0, 0)


async def test_cancelled_while_on_the_road_the_units_go_on_sale_at_the_store(stack: Stack) -> None:
    route = await Route(stack).build(stock=4)
    reservation = await route.reserve(2)
    await route.ship(reservation.transfer_id)
    await route.chat.CancelReservation(
        pb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id)
    )
    arrived = await route.receive(reservation.transfer_id, received=2)

    async def released() -> bool:
        return (await route.shop.hold(arrived.arrival_hold_id)).state == inv.HOLD_STATE_RELEASED

    await wait_until(released, what="the arrival hold of a cancelled reservation given back")
    assert await route.figures(route.store) == (2, 0, 0)
    assert (await route.get(reservation.reservation_id)).status == pb.RESERVATION_STATUS_CANCELLED


async def test_a_retried_request_gets_the_same_reservation_and_one_transfer(stack: Stack) -> None:
    route = await Route(stack).build(stock=4)
    request = route.request(2)
    first, again = await asyncio.gather(route.chat.CreateReservation(request), route.chat.CreateReservation(request))
    replay = await route.chat.CreateReservation(request)
    ids = {reply.reservation.reservation_id for reply in (first, again, replay)}
    transfers = {reply.reservation.transfer_id for reply in (first, again, replay)}
    assert len(ids) == 1 and len(transfers) == 1
    assert await route.figures(route.warehouse) == (4, 2, 0)
    listed = await route.shop.inventory.ListTransfers(inv.ListTransfersRequest(location_id=route.warehouse))
    assert [t.transfer_id for t in listed.transfers] == list(transfers)


async def test_many_customers_never_get_more_than_the_warehouse_has(stack: Stack) -> None:
    route = await Route(stack).build(stock=4)
    results = await asyncio.gather(
        *(route.chat.CreateReservation(route.request(1)) for _ in range(7)), return_exceptions=True
    )
    waiting = [r.reservation for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(waiting) == 4 and len(refused) == 3
    assert all(r.status == pb.RESERVATION_STATUS_AWAITING_TRANSFER for r in waiting)
    assert all(error.code() == grpc.StatusCode.FAILED_PRECONDITION for error in refused)
    assert await route.figures(route.warehouse) == (4, 4, 0)
    holds = [await route.shop.hold(r.hold_id) for r in waiting]
    assert sorted(line.quantity for hold in holds for line in hold.lines) == [1, 1, 1, 1]


async def test_only_a_service_holds_a_transfers_units_for_someone(stack: Stack) -> None:
    route = await Route(stack).build(stock=4)
    clerk = stack.stub("inventory", role="warehouse", locations=[route.warehouse])
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clerk.CreateTransfer(
            inv.CreateTransferRequest(
                request_id=unique_id(),
                origin_location_id=route.warehouse,
                destination_location_id=route.store,
                lines=[inv.TransferLineRequest(sku=route.sku, quantity=1)],
                hold_owner="reservation:someone-else",
            )
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await route.figures(route.warehouse) == (4, 0, 0)


async def test_the_web_shop_cannot_buy_what_a_transfer_holds_at_the_warehouse(stack: Stack) -> None:
    route = await Route(stack).build(stock=2)
    await route.reserve(2)
    orders = stack.stub("inventory", role="service")  # a web order's hold, as orders takes it
    with pytest.raises(grpc.aio.AioRpcError) as short:
        await orders.Hold(
            inv.HoldRequest(
                request_id=unique_id(),
                owner=f"order:{unique_id()}",
                channel=common_pb2.CHANNEL_WEB,
                lines=[inv.HoldLineRequest(location_id=route.warehouse, sku=route.sku, quantity=1)],
            )
        )
    assert short.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_origin_hold_that_runs_out_expires_the_reservation_and_inventory_cancels_the_transfer(
    stack: Stack, db: Any, tap: EventTap
) -> None:
    route = await Route(stack).build(stock=3)
    reservation = await route.reserve(2)
    await db.execute(
        "UPDATE inventory.holds SET expires_at = now() - interval '1 second' WHERE hold_id = $1", reservation.hold_id
    )
    await route.becomes(reservation.reservation_id, pb.RESERVATION_STATUS_EXPIRED)
    # The draft could never ship as promised: inventory cancels it by itself, and says so.
    _, event = await tap.wait_for(
        lambda envelope, payload: (
            envelope.type == "inventory.transfer.cancelled" and payload.transfer.transfer_id == reservation.transfer_id
        )
    )
    assert event.transfer.status == inv.TRANSFER_STATUS_CANCELLED
    assert f"origin hold {reservation.hold_id} expired" in event.transfer.cancel_reason
    assert (await route.transfer(reservation.transfer_id)).status == inv.TRANSFER_STATUS_CANCELLED
    assert await route.figures(route.warehouse) == (3, 0, 0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await route.ship(reservation.transfer_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # Staff cancelling it too changes nothing; nothing was kept, nothing is released twice.
    await route.shop.inventory.CancelTransfer(
        inv.CancelTransferRequest(request_id=unique_id(), transfer_id=reservation.transfer_id, reason="expired")
    )
    assert (await route.get(reservation.reservation_id)).status == pb.RESERVATION_STATUS_EXPIRED
    assert await route.figures(route.warehouse) == (3, 0, 0)


async def test_tills_selling_while_the_store_receives_never_get_the_customers_units(stack: Stack) -> None:
    route = await Route(stack).build(stock=2)
    reservation = await route.reserve(2)
    await route.ship(reservation.transfer_id)
    till = stack.stub("orders", role="pos", locations=[route.store])
    sales = [till.CreateOrder(store_request([(route.sku, 1)], route.store, carry_out=True)) for _ in range(8)]
    receipt, *sold = await asyncio.gather(
        route.receive(reservation.transfer_id, received=2), *sales, return_exceptions=True
    )
    assert isinstance(receipt, inv.Transfer) and receipt.arrival_hold_id
    assert all(isinstance(outcome, grpc.aio.AioRpcError) for outcome in sold), sold
    assert {outcome.code() for outcome in sold if isinstance(outcome, grpc.aio.AioRpcError)} == {
        grpc.StatusCode.FAILED_PRECONDITION
    }
    assert await route.figures(route.store) == (2, 2, 0)


class SetRoute(Route):
    """A store with none of a set (a sofa with two cushions) and a warehouse nearby with its parts."""

    async def build_set(self, sofas: int, cushions: int) -> SetRoute:
        await self.build(stock=sofas)
        self.sofa = self.sku
        self.cushion = await self.shop.sku("Green velvet cushion", 4900)
        await self.shop.receive(self.warehouse, self.cushion, cushions)
        self.set = unique_id("SET-")
        await define_set(
            self.shop.inventory,
            {self.sofa: 1, self.cushion: 2},
            sku=self.set,
            title="Green velvet sofa with two cushions",
            price_minor=139900,
            currency="EUR",
        )
        self.sku = self.set
        return self

    async def parts(self, location_id: str) -> dict[str, tuple[int, int, int]]:
        found = {}
        for sku in (self.sofa, self.cushion):
            level = await self.shop.level(location_id, sku)
            found[sku] = (level.on_hand, level.held, level.in_transit)
        return found

    async def receive_parts(self, transfer_id: str, sofas: int, cushions: int) -> inv.Transfer:
        reply = await self.shop.inventory.ReceiveTransfer(
            inv.ReceiveTransferRequest(
                request_id=unique_id(),
                transfer_id=transfer_id,
                lines=[
                    inv.TransferArrival(sku=self.sofa, received=sofas),
                    inv.TransferArrival(sku=self.cushion, received=cushions, damaged=2 - cushions),
                ],
            )
        )
        return reply.transfer

    async def ledger_sums(self, location_id: str, sku: str) -> tuple[int, int]:
        moves = await self.shop.inventory.ListMovements(
            inv.ListMovementsRequest(location_id=location_id, sku=sku, page_size=500)
        )
        return sum(m.on_hand_delta for m in moves.movements), sum(m.held_delta for m in moves.movements)


def _sets(hold: inv.Hold) -> list[tuple[str, str, int, int, dict[str, int]]]:
    return [(b.location_id, b.sku, b.quantity, b.open, {c.sku: c.quantity for c in b.components}) for b in hold.bundles]


async def test_a_set_comes_as_its_components_held_as_a_set_at_both_ends_and_is_collected(stack: Stack) -> None:
    route = await SetRoute(stack).build_set(sofas=2, cushions=3)
    reservation = await route.reserve(1)
    assert reservation.status == pb.RESERVATION_STATUS_AWAITING_TRANSFER
    assert [(line.sku, line.quantity) for line in reservation.lines] == [(route.set, 1)]
    transfer = await route.transfer(reservation.transfer_id)
    assert sorted((line.sku, line.quantity) for line in transfer.lines) == sorted([(route.sofa, 1), (route.cushion, 2)])
    parts = {route.sofa: 1, route.cushion: 2}
    origin = await route.shop.hold(reservation.hold_id)
    assert _sets(origin) == [(route.warehouse, route.set, 1, 1, parts)]
    assert await route.parts(route.warehouse) == {route.sofa: (2, 1, 0), route.cushion: (3, 2, 0)}

    await route.ship(reservation.transfer_id)
    origin = await route.shop.hold(reservation.hold_id)
    assert origin.state == inv.HOLD_STATE_RELEASED and _sets(origin) == [(route.warehouse, route.set, 1, 0, parts)]
    assert await route.parts(route.warehouse) == {route.sofa: (1, 0, 0), route.cushion: (1, 0, 0)}
    assert await route.parts(route.store) == {route.sofa: (0, 0, 1), route.cushion: (0, 0, 2)}

    arrived = await route.receive_parts(reservation.transfer_id, sofas=1, cushions=2)
    ready = await route.becomes(reservation.reservation_id, pb.RESERVATION_STATUS_READY_FOR_PICKUP)
    assert [(line.sku, line.quantity) for line in ready.lines] == [(route.set, 1)]
    assert ready.hold_id == arrived.arrival_hold_id
    assert _sets(await route.shop.hold(ready.hold_id)) == [(route.store, route.set, 1, 1, parts)]
    assert await route.parts(route.store) == {route.sofa: (1, 1, 0), route.cushion: (2, 2, 0)}

    # The pickup task shows the set and what to fetch for it.
    fulfilment = stack.stub("fulfilment", role="admin")

    async def task() -> Any:
        listed = await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=route.store))
        return next((t for t in listed.tasks if t.reservation_id == reservation.reservation_id), None)

    await wait_until(task, what="the set's pickup task")
    [line] = (await task()).lines
    assert (line.sku, line.quantity) == (route.set, 1)
    assert {c.sku: c.quantity for c in line.components} == parts

    till = stack.stub("reservations", role="pos", locations=[route.store])
    collected = await till.CollectReservation(
        pb.CollectReservationRequest(request_id=unique_id(), store_id=route.store, pickup_code=ready.pickup_code)
    )
    assert collected.reservation.status == pb.RESERVATION_STATUS_COLLECTED
    sold = await route.shop.hold(ready.hold_id)
    assert sold.state == inv.HOLD_STATE_COMMITTED and _sets(sold)[0][3] == 0 and sold.bundles[0].committed == 1
    assert await route.parts(route.store) == {route.sofa: (0, 0, 0), route.cushion: (0, 0, 0)}
    for location_id, on_hand in (
        (route.store, {route.sofa: 0, route.cushion: 0}),
        (route.warehouse, {route.sofa: 1, route.cushion: 1}),
    ):
        for sku in (route.sofa, route.cushion):
            assert await route.ledger_sums(location_id, sku) == (on_hand[sku], 0)


async def test_a_set_short_of_a_cushion_on_arrival_is_not_kept_and_its_parts_go_on_sale(
    stack: Stack, tap: EventTap
) -> None:
    route = await SetRoute(stack).build_set(sofas=1, cushions=2)
    reservation = await route.reserve(1)
    await route.ship(reservation.transfer_id)
    arrived = await route.receive_parts(reservation.transfer_id, sofas=1, cushions=1)
    assert arrived.arrival_hold_id == ""  # no whole set arrived: nothing is kept for her
    cancelled = await route.becomes(reservation.reservation_id, pb.RESERVATION_STATUS_CANCELLED)
    assert "nothing arrived" in cancelled.cancel_reason
    _, shorted = await tap.wait_for(
        lambda e, p: (
            e.type == "reservations.reservation.shorted" and p.reservation.reservation_id == reservation.reservation_id
        )
    )
    assert [(line.sku, line.quantity) for line in shorted.shorted] == [(route.set, 1)]
    assert await route.parts(route.store) == {route.sofa: (1, 0, 0), route.cushion: (1, 0, 0)}


async def test_a_set_the_warehouse_cannot_make_whole_is_not_reserved_via_a_transfer(stack: Stack) -> None:
    route = await SetRoute(stack).build_set(sofas=3, cushions=1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await route.reserve(1)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert await route.parts(route.warehouse) == {route.sofa: (3, 0, 0), route.cushion: (1, 0, 0)}


async def test_cancelling_a_set_before_it_ships_gives_every_part_back(stack: Stack) -> None:
    route = await SetRoute(stack).build_set(sofas=1, cushions=2)
    reservation = await route.reserve(1)
    await route.chat.CancelReservation(
        pb.CancelReservationRequest(request_id=unique_id(), reservation_id=reservation.reservation_id, reason="no")
    )
    origin = await route.shop.hold(reservation.hold_id)
    assert origin.state == inv.HOLD_STATE_RELEASED and origin.bundles[0].released == 1
    assert await route.parts(route.warehouse) == {route.sofa: (1, 0, 0), route.cushion: (2, 0, 0)}


async def test_a_set_and_an_extra_cushion_short_of_one_cushion_keeps_the_set_and_says_the_cushion_did_not_come(
    stack: Stack, tap: EventTap
) -> None:
    route = await SetRoute(stack).build_set(sofas=1, cushions=3)
    request = create_request(route.store, [(route.set, 1), (route.cushion, 1)])
    request.allow_ship_to_store = True
    reservation = (await route.chat.CreateReservation(request)).reservation
    transfer = await route.transfer(reservation.transfer_id)
    assert {line.sku: line.quantity for line in transfer.lines} == {route.sofa: 1, route.cushion: 3}
    origin = await route.shop.hold(reservation.hold_id)
    assert {line.sku: line.open for line in origin.lines} == {route.sofa: 1, route.cushion: 3}
    assert [(b.sku, b.open) for b in origin.bundles] == [(route.set, 1)]
    await route.ship(reservation.transfer_id)
    arrived = (
        await route.shop.inventory.ReceiveTransfer(
            inv.ReceiveTransferRequest(
                request_id=unique_id(),
                transfer_id=reservation.transfer_id,
                lines=[
                    inv.TransferArrival(sku=route.sofa, received=1),
                    inv.TransferArrival(sku=route.cushion, received=2, damaged=1),
                ],
            )
        )
    ).transfer
    ready = await route.becomes(reservation.reservation_id, pb.RESERVATION_STATUS_READY_FOR_PICKUP)
    assert [(line.sku, line.quantity) for line in ready.lines] == [(route.set, 1)]  # the set first, whole
    kept = await route.shop.hold(arrived.arrival_hold_id)
    assert {line.sku: line.open for line in kept.lines} == {route.sofa: 1, route.cushion: 2}
    assert [(b.location_id, b.sku, b.open) for b in kept.bundles] == [(route.store, route.set, 1)]
    _, shorted = await tap.wait_for(
        lambda e, p: (
            e.type == "reservations.reservation.shorted" and p.reservation.reservation_id == reservation.reservation_id
        )
    )
    assert [(line.sku, line.quantity) for line in shorted.shorted] == [(route.cushion, 1)]
    assert await route.parts(route.store) == {route.sofa: (1, 1, 0), route.cushion: (2, 2, 0)}
