"""What the access walk knows of every RPC: how to build a request that works for a role acting at
a location, whether store and warehouse staff are confined to their own locations on it, and at
which kind of location it acts.

An RPC missing here fails the walk (`test_scope.py`): a new RPC is covered the moment it is added,
because someone has to say how it is called and whether it is scoped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.insights.v1 import insights_pb2 as spb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock.webhooks.v1 import webhooks_pb2 as wpb
from omnistock_platform.auth import Role
from omnistock_platform.testing.stack import unique_id
from tests.integration.orders.support import Shop
from tests.integration.security.support import CALL_TIMEOUT, QuietStack

Kind = Literal["store", "warehouse"]
POINT = common_pb2.GeoPoint(latitude=53.55, longitude=9.99)
CHANNEL_OF_ROLE = {
    Role.STOREFRONT: common_pb2.CHANNEL_WEB,
    Role.APP: common_pb2.CHANNEL_APP,
    Role.CHAT_AGENT: common_pb2.CHANNEL_CHAT,
    Role.POS: common_pb2.CHANNEL_POS,
}


def channel_of(role: Role) -> common_pb2.Channel.ValueType:
    return CHANNEL_OF_ROLE.get(role, common_pb2.CHANNEL_WEB)


def in_(seconds: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(seconds=seconds))
    return stamp


class Fixtures:
    """Things to act on, made as admin on the quiet stack: every call gets fresh ones."""

    def __init__(self, quiet: QuietStack) -> None:
        self.quiet = quiet
        self.inventory = quiet.stack.stub("inventory")
        self.reservations = quiet.stack.stub("reservations")
        self.orders = quiet.stack.stub("orders")
        self.fulfilment = quiet.stack.stub("fulfilment")
        # Each kind's "own" location (the one requests act at) and another one of the same kind.
        self.home: dict[Kind, str] = {}
        self.away: dict[Kind, str] = {}

    async def setup(self) -> Fixtures:
        for kind, code in (("store", ipb.LOCATION_KIND_STORE), ("warehouse", ipb.LOCATION_KIND_WAREHOUSE)):
            self.home[kind] = await self.location(code)  # type: ignore[index]
            self.away[kind] = await self.location(code)  # type: ignore[index]
        return self

    async def location(self, kind: ipb.LocationKind.ValueType = ipb.LOCATION_KIND_STORE) -> str:
        location_id = unique_id("LOC-WALK-")
        await self.inventory.UpsertLocation(
            ipb.UpsertLocationRequest(
                request_id=unique_id(),
                location=ipb.Location(
                    location_id=location_id,
                    name=location_id,
                    kind=kind,
                    city="Hamburg",
                    point=POINT,
                    routing_rank=1,
                    ships=True,
                    pickup=kind == ipb.LOCATION_KIND_STORE,
                    till_sales=kind == ipb.LOCATION_KIND_STORE,
                    active=True,
                ),
            )
        )
        return location_id

    async def sku(self, *stocked_at: str, quantity: int = 20) -> str:
        sku = unique_id("SKU-WALK-")
        await self.inventory.UpsertSku(
            ipb.UpsertSkuRequest(
                request_id=unique_id(), sku=ipb.Sku(sku=sku, title=sku, price_minor=100, currency="EUR")
            )
        )
        for location_id in stocked_at:
            await self.inventory.ReceiveStock(
                ipb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=quantity)
            )
        return sku

    async def hold(self, location_id: str) -> ipb.Hold:
        sku = await self.sku(location_id)
        response = await self.quiet.stack.stub("inventory", role="service").Hold(
            ipb.HoldRequest(
                request_id=unique_id(),
                owner=f"walk:{unique_id()}",
                channel=common_pb2.CHANNEL_WEB,
                lines=[ipb.HoldLineRequest(location_id=location_id, sku=sku, quantity=1)],
            )
        )
        return response.hold  # type: ignore[no-any-return]

    async def reservation(self, store: str) -> rpb.Reservation:
        sku = await self.sku(store)
        response = await self.reservations.CreateReservation(
            rpb.CreateReservationRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada"),
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=sku, quantity=1)],
            )
        )
        return response.reservation  # type: ignore[no-any-return]

    async def order(self, store: str) -> opb.Order:
        """An order to pick up at the store, allocated there."""
        sku = await self.sku(store)
        response = await self.orders.CreateOrder(
            opb.CreateOrderRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_WEB,
                customer_id=unique_id("CUST-"),
                lines=[opb.OrderLineRequest(sku=sku, quantity=1)],
                method=common_pb2.FULFILMENT_METHOD_PICKUP,
                store_id=store,
            )
        )
        return response.order  # type: ignore[no-any-return]

    async def task_of(self, column: str, value: str) -> fpb.Task:
        """The fulfilment task made (from an event) for an order or a reservation."""
        for _ in range(500):
            task_id = await self.quiet.db.fetchval(
                f"SELECT task_id FROM fulfilment.tasks WHERE {column} = $1 ORDER BY created_at LIMIT 1", value
            )
            if task_id is not None:
                return (await self.fulfilment.GetTask(fpb.GetTaskRequest(task_id=task_id))).task  # type: ignore[no-any-return]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no task for {column} {value}")

    async def pick_task(self, warehouse: str, *, steps: int = 0) -> fpb.Task:
        """A pick task of a shipped order at the warehouse, moved on `steps` steps (start, confirm, pack)."""
        sku = await self.sku(warehouse)
        order = (
            await self.orders.CreateOrder(
                opb.CreateOrderRequest(
                    request_id=unique_id(),
                    channel=common_pb2.CHANNEL_WEB,
                    customer_id=unique_id("CUST-"),
                    lines=[opb.OrderLineRequest(sku=sku, quantity=1)],
                    method=common_pb2.FULFILMENT_METHOD_SHIP,
                    ship_to=opb.Address(name="Ada", point=POINT),
                )
            )
        ).order
        task = await self.task_of("order_id", order.order_id)
        if steps >= 1:
            await self.fulfilment.StartPicking(fpb.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
        if steps >= 2:
            await self.fulfilment.ConfirmPick(
                fpb.ConfirmPickRequest(
                    request_id=unique_id(), task_id=task.task_id, picked=[common_pb2.SkuQuantity(sku=sku, quantity=1)]
                )
            )
        if steps >= 3:
            await self.fulfilment.Pack(fpb.PackRequest(request_id=unique_id(), task_id=task.task_id))
        return task

    async def count(self, location_id: str, *, counted: int | None = None, reviewed: bool = False) -> ipb.Count:
        """A count session at the location over one stocked SKU (20 in the book), counted as `counted`
        units when given (with threshold 0, any other figure needs an approval), reviewed when asked."""
        sku = await self.sku(location_id)
        count = (
            await self.inventory.CreateCount(
                ipb.CreateCountRequest(
                    request_id=unique_id(),
                    location_id=location_id,
                    scope=ipb.COUNT_SCOPE_SKUS,
                    skus=[sku],
                    variance_threshold=0,
                )
            )
        ).count
        if counted is not None:
            await self.inventory.RecordCount(
                ipb.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=sku, quantity=counted)
            )
        if reviewed:
            await self.inventory.ReviewCount(ipb.ReviewCountRequest(request_id=unique_id(), count_id=count.count_id))
        return count  # type: ignore[no-any-return]

    async def transfer(self, *, origin: str = "", destination: str = "", shipped: bool = False) -> ipb.Transfer:
        """A transfer of one stocked SKU (20 at the origin) of 2 units; the end not given is a location of
        its own, which no walking caller works at. Shipped when asked."""
        origin = origin or await self.location()
        destination = destination or await self.location()
        sku = await self.sku(origin)
        transfer = (
            await self.inventory.CreateTransfer(
                ipb.CreateTransferRequest(
                    request_id=unique_id(),
                    origin_location_id=origin,
                    destination_location_id=destination,
                    lines=[ipb.TransferLineRequest(sku=sku, quantity=2)],
                )
            )
        ).transfer
        if shipped:
            await self.inventory.ShipTransfer(
                ipb.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id)
            )
        return transfer  # type: ignore[no-any-return]

    async def pickup_task(self, store: str, *, ready: bool = False) -> tuple[fpb.Task, rpb.Reservation]:
        reservation = await self.reservation(store)
        task = await self.task_of("reservation_id", reservation.reservation_id)
        if ready:
            await self.fulfilment.MarkReadyForPickup(
                fpb.MarkReadyForPickupRequest(request_id=unique_id(), task_id=task.task_id)
            )
        return task, reservation


Build = Callable[[Fixtures, Role, str], Awaitable[Message]]


@dataclass(frozen=True)
class Scenario:
    build: Build
    # Store and warehouse staff may call it only at their own locations.
    scoped: bool
    # The kind of location the request acts at.
    at: Kind = "store"
    # Seconds an allowed call may take: a rebuild reads the whole stream, which grows as the walk goes on.
    timeout: float = CALL_TIMEOUT


# -- inventory ----------------------------------------------------------------------------------------


async def upsert_location(f: Fixtures, role: Role, at: str) -> Message:
    location_id = unique_id("LOC-WALK-")
    return ipb.UpsertLocationRequest(
        request_id=unique_id(),
        location=ipb.Location(
            location_id=location_id, name=location_id, kind=ipb.LOCATION_KIND_STORE, city="Kiel", point=POINT
        ),
    )


async def upsert_sku(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.UpsertSkuRequest(request_id=unique_id(), sku=ipb.Sku(sku=unique_id("SKU-WALK-"), title="walk"))


async def hold(f: Fixtures, role: Role, at: str) -> Message:
    sku = await f.sku(at)
    line = ipb.HoldLineRequest(location_id=at, sku=sku, quantity=1)
    if role is Role.POS:  # a till sale
        return ipb.HoldRequest(
            request_id=unique_id(),
            owner=f"till:{at}",
            channel=common_pb2.CHANNEL_POS,
            lines=[line],
            selling_location_id=at,
            commit_now=True,
        )
    return ipb.HoldRequest(
        request_id=unique_id(), owner=f"walk:{unique_id()}", channel=common_pb2.CHANNEL_WEB, lines=[line]
    )


async def stock_row(f: Fixtures, at: str) -> tuple[str, str]:
    return at, await f.sku(at)


async def receive(f: Fixtures, role: Role, at: str) -> Message:
    location_id, sku = await stock_row(f, at)
    return ipb.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=1)


async def adjust(f: Fixtures, role: Role, at: str) -> Message:
    location_id, sku = await stock_row(f, at)
    return ipb.AdjustStockRequest(
        request_id=unique_id(), location_id=location_id, sku=sku, reason=ipb.ADJUSTMENT_REASON_RETURN, delta=1
    )


async def safety_stock(f: Fixtures, role: Role, at: str) -> Message:
    location_id, sku = await stock_row(f, at)
    return ipb.SetSafetyStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, safety_stock=1)


async def expect(f: Fixtures, role: Role, at: str) -> Message:
    location_id, sku = await stock_row(f, at)
    return ipb.ExpectStockRequest(
        request_id=unique_id(), location_id=location_id, sku=sku, quantity=1, expected_at=in_(86_400)
    )


async def get_stock(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.GetStockRequest(sku=await f.sku(at), location_id=at, channel=channel_of(role))


async def batch_get_stock(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.BatchGetStockRequest(skus=[await f.sku(at)], location_ids=[at], channel=channel_of(role))


async def find_availability(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.FindAvailabilityRequest(
        items=[common_pb2.SkuQuantity(sku=await f.sku(at), quantity=1)],
        channel=channel_of(role),
        near=POINT,
        radius_km=50,
    )


async def watch_stock(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.WatchStockRequest(skus=[await f.sku(at)], location_ids=[at], channel=channel_of(role))


async def release(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.ReleaseHoldRequest(request_id=unique_id(), hold_id=(await f.hold(at)).hold_id, reason="walk")


async def commit(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.CommitHoldRequest(request_id=unique_id(), hold_id=(await f.hold(at)).hold_id)


async def extend(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.ExtendHoldRequest(request_id=unique_id(), hold_id=(await f.hold(at)).hold_id, expires_at=in_(3600))


async def transfer(f: Fixtures, role: Role, at: str) -> Message:
    held = await f.hold(at)
    return ipb.TransferHoldRequest(
        request_id=unique_id(), hold_id=held.hold_id, expected_owner=held.owner, new_owner=f"walk:{unique_id()}"
    )


async def adjust_hold(f: Fixtures, role: Role, at: str) -> Message:
    held = await f.hold(at)
    line = held.lines[0]
    change = ipb.HoldLineChange(location_id=line.location_id, sku=line.sku, open=2, expected_open=line.open)
    return ipb.AdjustHoldRequest(
        request_id=unique_id(), adjustments=[ipb.HoldAdjustment(hold_id=held.hold_id, lines=[change])], reason="walk"
    )


async def create_count(f: Fixtures, role: Role, at: str) -> Message:
    return ipb.CreateCountRequest(request_id=unique_id(), location_id=at, scope=ipb.COUNT_SCOPE_ALL)


async def record_count(f: Fixtures, role: Role, at: str) -> Message:
    count = await f.count(at)
    return ipb.RecordCountRequest(request_id=unique_id(), count_id=count.count_id, sku=count.skus[0], quantity=20)


async def create_transfer(f: Fixtures, role: Role, at: str) -> Message:
    sku = await f.sku(at)
    return ipb.CreateTransferRequest(
        request_id=unique_id(),
        origin_location_id=at,
        destination_location_id=await f.location(),
        lines=[ipb.TransferLineRequest(sku=sku, quantity=1)],
    )


async def _ship_transfer(f: Fixtures, at: str) -> Message:
    return ipb.ShipTransferRequest(request_id=unique_id(), transfer_id=(await f.transfer(origin=at)).transfer_id)


async def _receive_transfer(f: Fixtures, at: str) -> Message:
    transfer = await f.transfer(destination=at, shipped=True)
    arrival = ipb.TransferArrival(sku=transfer.lines[0].sku, received=1, damaged=1)
    return ipb.ReceiveTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id, lines=[arrival])


async def _cancel_transfer(f: Fixtures, at: str) -> Message:
    return ipb.CancelTransferRequest(request_id=unique_id(), transfer_id=(await f.transfer(origin=at)).transfer_id)


async def _get_transfer(f: Fixtures, at: str) -> Message:
    return ipb.GetTransferRequest(transfer_id=(await f.transfer(origin=at)).transfer_id)


async def _count_id(f: Fixtures, at: str) -> str:
    return (await f.count(at)).count_id  # type: ignore[no-any-return]


async def _get_count(f: Fixtures, at: str) -> Message:
    return ipb.GetCountRequest(count_id=await _count_id(f, at))


async def _list_count_lines(f: Fixtures, at: str) -> Message:
    return ipb.ListCountLinesRequest(count_id=await _count_id(f, at))


async def _review_count(f: Fixtures, at: str) -> Message:
    return ipb.ReviewCountRequest(request_id=unique_id(), count_id=await _count_id(f, at))


async def _approve_count(f: Fixtures, at: str) -> Message:
    """A line 3 units short, counted by the fixtures' admin: someone else approves it."""
    count = await f.count(at, counted=17)
    return ipb.ApproveCountRequest(request_id=unique_id(), count_id=count.count_id)


async def _complete_count(f: Fixtures, at: str) -> Message:
    count = await f.count(at, counted=20, reviewed=True)
    return ipb.CompleteCountRequest(request_id=unique_id(), count_id=count.count_id)


async def _cancel_count(f: Fixtures, at: str) -> Message:
    return ipb.CancelCountRequest(request_id=unique_id(), count_id=await _count_id(f, at), reason="walk")


# -- reservations ---------------------------------------------------------------------------------------


async def create_reservation(f: Fixtures, role: Role, at: str) -> Message:
    return rpb.CreateReservationRequest(
        request_id=unique_id(),
        channel=channel_of(role),
        customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada"),
        store_id=at,
        lines=[common_pb2.SkuQuantity(sku=await f.sku(at), quantity=1)],
    )


async def list_reservations(f: Fixtures, role: Role, at: str) -> Message:
    reservation = await f.reservation(at)
    return rpb.ListReservationsRequest(store_id=at, customer_id=reservation.customer.customer_id)


async def collect(f: Fixtures, role: Role, at: str) -> Message:
    reservation = await f.reservation(at)
    return rpb.CollectReservationRequest(request_id=unique_id(), store_id=at, pickup_code=reservation.pickup_code)


async def convert(f: Fixtures, role: Role, at: str) -> Message:
    reservation = await f.reservation(at)
    return rpb.ConvertReservationRequest(
        request_id=unique_id(), reservation_id=reservation.reservation_id, order_id=unique_id("ORDER-WALK-")
    )


# -- orders ---------------------------------------------------------------------------------------------


async def order_request(f: Fixtures, role: Role, at: str, *, quote: bool = False) -> Message:
    lines = [opb.OrderLineRequest(sku=await f.sku(at), quantity=1)]
    # A till sells at its store; everyone else orders for pickup there.
    method = common_pb2.FULFILMENT_METHOD_CARRY_OUT if role is Role.POS else common_pb2.FULFILMENT_METHOD_PICKUP
    if quote:
        return opb.QuoteRoutingRequest(channel=channel_of(role), lines=lines, method=method, store_id=at)
    return opb.CreateOrderRequest(
        request_id=unique_id(),
        channel=channel_of(role),
        customer_id=unique_id("CUST-"),
        lines=lines,
        method=method,
        store_id=at,
    )


async def quote(f: Fixtures, role: Role, at: str) -> Message:
    return await order_request(f, role, at, quote=True)


async def create_order(f: Fixtures, role: Role, at: str) -> Message:
    return await order_request(f, role, at)


# -- fulfilment ----------------------------------------------------------------------------------------


async def start_picking(f: Fixtures, role: Role, at: str) -> Message:
    return fpb.StartPickingRequest(request_id=unique_id(), task_id=(await f.pick_task(at)).task_id)


async def confirm_pick(f: Fixtures, role: Role, at: str) -> Message:
    task = await f.pick_task(at, steps=1)
    picked = [common_pb2.SkuQuantity(sku=line.sku, quantity=line.quantity) for line in task.lines]
    return fpb.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id, picked=picked)


async def pack(f: Fixtures, role: Role, at: str) -> Message:
    return fpb.PackRequest(request_id=unique_id(), task_id=(await f.pick_task(at, steps=2)).task_id)


async def ship(f: Fixtures, role: Role, at: str) -> Message:
    task = await f.pick_task(at, steps=3)
    return fpb.ShipRequest(request_id=unique_id(), task_id=task.task_id, carrier="DHL", tracking_number=unique_id())


async def mark_ready(f: Fixtures, role: Role, at: str) -> Message:
    task, _ = await f.pickup_task(at)
    return fpb.MarkReadyForPickupRequest(request_id=unique_id(), task_id=task.task_id)


async def hand_over(f: Fixtures, role: Role, at: str) -> Message:
    _, reservation = await f.pickup_task(at, ready=True)
    return fpb.HandOverRequest(request_id=unique_id(), location_id=at, pickup_code=reservation.pickup_code)


async def get_task(f: Fixtures, role: Role, at: str) -> Message:
    task, _ = await f.pickup_task(at)
    return fpb.GetTaskRequest(task_id=task.task_id)


def simple(make: Callable[[Fixtures, str], Awaitable[Message]]) -> Build:
    """A request that depends on the location only."""

    async def build(f: Fixtures, role: Role, at: str) -> Message:
        return await make(f, at)

    return build


async def _reservation_id(f: Fixtures, at: str) -> str:
    return (await f.reservation(at)).reservation_id  # type: ignore[no-any-return]


async def _order_id(f: Fixtures, at: str) -> str:
    return (await f.order(at)).order_id  # type: ignore[no-any-return]


async def _get_reservation(f: Fixtures, at: str) -> Message:
    return rpb.GetReservationRequest(reservation_id=await _reservation_id(f, at))


async def _extend_reservation(f: Fixtures, at: str) -> Message:
    return rpb.ExtendReservationRequest(
        request_id=unique_id(), reservation_id=await _reservation_id(f, at), extend_by=duration_pb2.Duration(seconds=60)
    )


async def _cancel_reservation(f: Fixtures, at: str) -> Message:
    return rpb.CancelReservationRequest(request_id=unique_id(), reservation_id=await _reservation_id(f, at))


async def _mark_reservation_ready(f: Fixtures, at: str) -> Message:
    return rpb.MarkReservationReadyRequest(request_id=unique_id(), reservation_id=await _reservation_id(f, at))


async def _get_order(f: Fixtures, at: str) -> Message:
    return opb.GetOrderRequest(order_id=await _order_id(f, at))


async def _cancel_order(f: Fixtures, at: str) -> Message:
    return opb.CancelOrderRequest(request_id=unique_id(), order_id=await _order_id(f, at), reason="walk")


async def _edit_order(f: Fixtures, at: str) -> Message:
    order = await f.order(at)
    return opb.EditOrderRequest(
        request_id=unique_id(),
        order_id=order.order_id,
        lines=[opb.OrderLineEdit(sku=order.lines[0].sku, quantity=2)],
        reason="walk",
    )


async def _hold_order(f: Fixtures, at: str) -> Message:
    return opb.HoldOrderRequest(
        request_id=unique_id(),
        order_id=await _order_id(f, at),
        hold=opb.FulfilmentHoldRequest(reason=common_pb2.FULFILMENT_HOLD_REASON_PAYMENT_PENDING),
    )


async def _release_order_hold(f: Fixtures, at: str) -> Message:
    held = await f.orders.HoldOrder(await _hold_order(f, at))
    return opb.ReleaseOrderHoldRequest(
        request_id=unique_id(), order_id=held.order.order_id, fulfilment_hold_id=held.hold.fulfilment_hold_id
    )


async def _sold_order(f: Fixtures, at: str) -> opb.Order:
    """A till sale at the store: completed at once, its unit delivered and so returnable."""
    sku = await f.sku(at)
    return await Shop(f.quiet.stack, f.inventory, f.orders).delivered(at, [(sku, 1)])


async def _create_return(f: Fixtures, at: str) -> Message:
    order = await _sold_order(f, at)
    return opb.CreateReturnRequest(
        request_id=unique_id(),
        order_id=order.order_id,
        lines=[opb.ReturnLineRequest(sku=order.lines[0].sku, quantity=1)],
        location_id=at,
        reason="walk",
    )


async def _authorised_return(f: Fixtures, at: str) -> opb.Return:
    return (await f.orders.CreateReturn(await _create_return(f, at))).order_return  # type: ignore[no-any-return]


async def _get_return(f: Fixtures, at: str) -> Message:
    return opb.GetReturnRequest(return_id=(await _authorised_return(f, at)).return_id)


async def _receive_return(f: Fixtures, at: str) -> Message:
    found = await _authorised_return(f, at)
    return opb.ReceiveReturnRequest(
        request_id=unique_id(),
        return_id=found.return_id,
        lines=[opb.InspectedLine(sku=found.lines[0].sku, condition=opb.RETURN_CONDITION_RESTOCK, quantity=1)],
    )


async def _cancel_return(f: Fixtures, at: str) -> Message:
    return opb.CancelReturnRequest(request_id=unique_id(), return_id=(await _authorised_return(f, at)).return_id)


async def _get_hold(f: Fixtures, at: str) -> Message:
    return ipb.GetHoldRequest(hold_id=(await f.hold(at)).hold_id)


async def _get_sku(f: Fixtures, at: str) -> Message:
    return ipb.GetSkuRequest(sku=await f.sku())


async def _batch_get_skus(f: Fixtures, at: str) -> Message:
    return ipb.BatchGetSkusRequest(skus=[await f.sku()])


def fixed(make: Callable[[str], Message]) -> Build:
    async def build(f: Fixtures, role: Role, at: str) -> Message:
        return make(at)

    return build


# -- webhooks: the back office's, at no location ------------------------------------------------------

# Deliveries to it are never attempted in the walk: the subscription is created paused.
HOOK_URL = "http://127.0.0.1:9/omnistock-walk"


async def _subscription_id(f: Fixtures) -> str:
    created = await f.quiet.stack.stub("webhooks").CreateSubscription(
        wpb.CreateSubscriptionRequest(
            request_id=unique_id(), url=HOOK_URL, event_types=["inventory.stock.changed"], paused=True
        )
    )
    return created.subscription.subscription_id  # type: ignore[no-any-return]


async def create_subscription(f: Fixtures, role: Role, at: str) -> Message:
    return wpb.CreateSubscriptionRequest(
        request_id=unique_id(), url=HOOK_URL, event_types=["inventory.stock.changed"], paused=True
    )


async def _get_subscription(f: Fixtures, at: str) -> Message:
    return wpb.GetSubscriptionRequest(subscription_id=await _subscription_id(f))


async def _update_subscription(f: Fixtures, at: str) -> Message:
    return wpb.UpdateSubscriptionRequest(
        request_id=unique_id(),
        subscription=wpb.Subscription(subscription_id=await _subscription_id(f), description="walked"),
        update_mask=field_mask_pb2.FieldMask(paths=["description"]),
    )


async def _delete_subscription(f: Fixtures, at: str) -> Message:
    return wpb.DeleteSubscriptionRequest(request_id=unique_id(), subscription_id=await _subscription_id(f))


async def _rotate_secret(f: Fixtures, at: str) -> Message:
    return wpb.RotateSubscriptionSecretRequest(request_id=unique_id(), subscription_id=await _subscription_id(f))


async def _list_deliveries(f: Fixtures, at: str) -> Message:
    return wpb.ListDeliveriesRequest(subscription_id=await _subscription_id(f))


async def _replay_deliveries(f: Fixtures, at: str) -> Message:
    return wpb.ReplayDeliveriesRequest(request_id=unique_id(), subscription_id=await _subscription_id(f))


SCENARIOS: dict[tuple[str, str], Scenario] = {
    # The catalogue and stock levels are what every channel sees, everywhere.
    ("inventory", "UpsertLocation"): Scenario(upsert_location, scoped=False),
    ("inventory", "GetLocation"): Scenario(fixed(lambda at: ipb.GetLocationRequest(location_id=at)), scoped=False),
    ("inventory", "BatchGetLocations"): Scenario(
        fixed(lambda at: ipb.BatchGetLocationsRequest(location_ids=[at])), scoped=False
    ),
    ("inventory", "ListLocations"): Scenario(fixed(lambda at: ipb.ListLocationsRequest(city="Hamburg")), scoped=False),
    ("inventory", "UpsertSku"): Scenario(upsert_sku, scoped=False),
    ("inventory", "GetSku"): Scenario(simple(_get_sku), scoped=False),
    ("inventory", "BatchGetSkus"): Scenario(simple(_batch_get_skus), scoped=False),
    ("inventory", "ListSkus"): Scenario(fixed(lambda at: ipb.ListSkusRequest(text="walk")), scoped=False),
    ("inventory", "GetStock"): Scenario(get_stock, scoped=False),
    ("inventory", "BatchGetStock"): Scenario(batch_get_stock, scoped=False),
    ("inventory", "FindAvailability"): Scenario(find_availability, scoped=False),
    ("inventory", "WatchStock"): Scenario(watch_stock, scoped=False),
    # Acting at a location, or reading its records: staff only at their own.
    ("inventory", "ReceiveStock"): Scenario(receive, scoped=True, at="warehouse"),
    ("inventory", "AdjustStock"): Scenario(adjust, scoped=True),
    ("inventory", "SetSafetyStock"): Scenario(safety_stock, scoped=True, at="warehouse"),
    ("inventory", "ExpectStock"): Scenario(expect, scoped=True, at="warehouse"),
    ("inventory", "ListMovements"): Scenario(
        fixed(lambda at: ipb.ListMovementsRequest(location_id=at)), scoped=True, at="warehouse"
    ),
    ("inventory", "Hold"): Scenario(hold, scoped=True),
    ("inventory", "GetHold"): Scenario(simple(_get_hold), scoped=True),
    ("inventory", "ListHolds"): Scenario(fixed(lambda at: ipb.ListHoldsRequest(location_id=at)), scoped=True),
    ("inventory", "ReleaseHold"): Scenario(release, scoped=True),
    # A service's own request ids, at no location.
    ("inventory", "GetRequestRecord"): Scenario(
        fixed(lambda at: ipb.GetRequestRecordRequest(change_request_id=unique_id())), scoped=False
    ),
    ("inventory", "CommitHold"): Scenario(commit, scoped=True),
    ("inventory", "ExtendHold"): Scenario(extend, scoped=True),
    ("inventory", "TransferHold"): Scenario(transfer, scoped=True),
    ("inventory", "AdjustHold"): Scenario(adjust_hold, scoped=True),
    # Counting a location's shelf, and reading its counts: staff only at their own.
    ("inventory", "CreateCount"): Scenario(create_count, scoped=True),
    ("inventory", "GetCount"): Scenario(simple(_get_count), scoped=True),
    ("inventory", "ListCounts"): Scenario(fixed(lambda at: ipb.ListCountsRequest(location_id=at)), scoped=True),
    ("inventory", "ListCountLines"): Scenario(simple(_list_count_lines), scoped=True),
    ("inventory", "RecordCount"): Scenario(record_count, scoped=True),
    ("inventory", "ReviewCount"): Scenario(simple(_review_count), scoped=True),
    ("inventory", "ApproveCount"): Scenario(simple(_approve_count), scoped=True),
    ("inventory", "CompleteCount"): Scenario(simple(_complete_count), scoped=True),
    ("inventory", "CancelCount"): Scenario(simple(_cancel_count), scoped=True),
    # Transfers: staff create and ship at their origin, receive at their destination, read their own.
    ("inventory", "CreateTransfer"): Scenario(create_transfer, scoped=True, at="warehouse"),
    ("inventory", "ShipTransfer"): Scenario(simple(_ship_transfer), scoped=True, at="warehouse"),
    ("inventory", "ReceiveTransfer"): Scenario(simple(_receive_transfer), scoped=True),
    ("inventory", "CancelTransfer"): Scenario(simple(_cancel_transfer), scoped=True, at="warehouse"),
    ("inventory", "GetTransfer"): Scenario(simple(_get_transfer), scoped=True, at="warehouse"),
    ("inventory", "ListTransfers"): Scenario(
        fixed(lambda at: ipb.ListTransfersRequest(location_id=at)), scoped=True, at="warehouse"
    ),
    # Location groups and channel pools: the back office sets them; every channel may read them.
    # The walk's pools are none (the back office's channel sells everywhere, as without them).
    ("inventory", "UpsertLocationGroup"): Scenario(
        fixed(
            lambda at: ipb.UpsertLocationGroupRequest(
                request_id=unique_id(),
                group=ipb.LocationGroup(group_id=unique_id("GROUP-WALK-"), display_name="Walk", location_ids=[at]),
            )
        ),
        scoped=False,
    ),
    ("inventory", "ListLocationGroups"): Scenario(fixed(lambda at: ipb.ListLocationGroupsRequest()), scoped=False),
    ("inventory", "SetChannelPools"): Scenario(
        fixed(lambda at: ipb.SetChannelPoolsRequest(request_id=unique_id(), channel=common_pb2.CHANNEL_BACKOFFICE)),
        scoped=False,
    ),
    ("inventory", "ListChannelPools"): Scenario(fixed(lambda at: ipb.ListChannelPoolsRequest()), scoped=False),
    ("reservations", "CreateReservation"): Scenario(create_reservation, scoped=True),
    ("reservations", "GetReservation"): Scenario(simple(_get_reservation), scoped=True),
    ("reservations", "ListReservations"): Scenario(list_reservations, scoped=True),
    ("reservations", "ExtendReservation"): Scenario(simple(_extend_reservation), scoped=True),
    ("reservations", "CancelReservation"): Scenario(simple(_cancel_reservation), scoped=True),
    ("reservations", "CollectReservation"): Scenario(collect, scoped=True),
    ("reservations", "MarkReservationReady"): Scenario(simple(_mark_reservation_ready), scoped=True),
    ("reservations", "ConvertReservation"): Scenario(convert, scoped=True),
    # A quote reads stock, which every channel sees everywhere; a till's sale is at its own store.
    ("orders", "QuoteRouting"): Scenario(quote, scoped=False),
    ("orders", "CreateOrder"): Scenario(create_order, scoped=True),
    ("orders", "GetOrder"): Scenario(simple(_get_order), scoped=True),
    ("orders", "ListOrders"): Scenario(fixed(lambda at: opb.ListOrdersRequest(location_id=at)), scoped=True),
    ("orders", "CancelOrder"): Scenario(simple(_cancel_order), scoped=True),
    ("orders", "EditOrder"): Scenario(simple(_edit_order), scoped=True),
    ("orders", "HoldOrder"): Scenario(simple(_hold_order), scoped=True),
    ("orders", "ReleaseOrderHold"): Scenario(simple(_release_order_hold), scoped=True),
    # Returns come back to a location: its staff authorise, receive, read and cancel them there.
    ("orders", "CreateReturn"): Scenario(simple(_create_return), scoped=True),
    ("orders", "GetReturn"): Scenario(simple(_get_return), scoped=True),
    ("orders", "ListReturns"): Scenario(fixed(lambda at: opb.ListReturnsRequest(location_id=at)), scoped=True),
    ("orders", "ReceiveReturn"): Scenario(simple(_receive_return), scoped=True),
    ("orders", "CancelReturn"): Scenario(simple(_cancel_return), scoped=True),
    ("fulfilment", "ListTasks"): Scenario(fixed(lambda at: fpb.ListTasksRequest(location_id=at)), scoped=True),
    ("fulfilment", "GetTask"): Scenario(get_task, scoped=True),
    ("fulfilment", "WatchTasks"): Scenario(fixed(lambda at: fpb.WatchTasksRequest(location_id=at)), scoped=True),
    ("fulfilment", "StartPicking"): Scenario(start_picking, scoped=True, at="warehouse"),
    ("fulfilment", "ConfirmPick"): Scenario(confirm_pick, scoped=True, at="warehouse"),
    ("fulfilment", "Pack"): Scenario(pack, scoped=True, at="warehouse"),
    ("fulfilment", "Ship"): Scenario(ship, scoped=True, at="warehouse"),
    ("fulfilment", "MarkReadyForPickup"): Scenario(mark_ready, scoped=True),
    ("fulfilment", "HandOver"): Scenario(hand_over, scoped=True),
    ("insights", "GetChannelInsights"): Scenario(
        fixed(lambda at: spb.GetChannelInsightsRequest(location_id=at)), scoped=True
    ),
    ("insights", "RebuildInsights"): Scenario(
        fixed(lambda at: spb.RebuildInsightsRequest(request_id=unique_id())), scoped=False, timeout=60.0
    ),
    ("webhooks", "CreateSubscription"): Scenario(create_subscription, scoped=False),
    ("webhooks", "GetSubscription"): Scenario(simple(_get_subscription), scoped=False),
    ("webhooks", "ListSubscriptions"): Scenario(fixed(lambda at: wpb.ListSubscriptionsRequest()), scoped=False),
    ("webhooks", "UpdateSubscription"): Scenario(simple(_update_subscription), scoped=False),
    ("webhooks", "DeleteSubscription"): Scenario(simple(_delete_subscription), scoped=False),
    ("webhooks", "RotateSubscriptionSecret"): Scenario(simple(_rotate_secret), scoped=False),
    ("webhooks", "ListDeliveries"): Scenario(simple(_list_deliveries), scoped=False),
    ("webhooks", "ReplayDeliveries"): Scenario(simple(_replay_deliveries), scoped=False),
    ("webhooks", "ListEventTypes"): Scenario(fixed(lambda at: wpb.ListEventTypesRequest()), scoped=False),
}
