"""A small shop for orders tests: unique locations and SKUs in inventory, and typed order requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import grpc

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_platform.events.envelope import new_envelope
from omnistock_platform.testing.stack import Stack, unique_id

# Places the tests route between.
BERLIN = (52.5200, 13.4050)
POTSDAM = (52.3906, 13.0645)
SPANDAU = (52.5351, 13.1990)
LEIPZIG = (51.3397, 12.3731)
HAMBURG = (53.5511, 9.9937)
MUNICH = (48.1351, 11.5820)


def address(point: tuple[float, float], name: str = "Ada Lovelace") -> pb.Address:
    return pb.Address(
        name=name,
        street="Hauptstr. 1",
        postal_code="14467",
        city="Potsdam",
        country="DE",
        point=common_pb2.GeoPoint(latitude=point[0], longitude=point[1]),
    )


def lines(*items: tuple[str, int]) -> list[pb.OrderLineRequest]:
    return [pb.OrderLineRequest(sku=sku, quantity=quantity) for sku, quantity in items]


def ship_request(
    items: Sequence[tuple[str, int]], to: tuple[float, float] = POTSDAM, **fields: Any
) -> pb.CreateOrderRequest:
    return pb.CreateOrderRequest(
        request_id=fields.pop("request_id", unique_id()),
        channel=fields.pop("channel", common_pb2.CHANNEL_WEB),
        customer_id=fields.pop("customer_id", unique_id("CUST-")),
        lines=lines(*items),
        method=common_pb2.FULFILMENT_METHOD_SHIP,
        ship_to=address(to),
        **fields,
    )


def store_request(
    items: Sequence[tuple[str, int]], store_id: str, *, carry_out: bool = False, **fields: Any
) -> pb.CreateOrderRequest:
    method = common_pb2.FULFILMENT_METHOD_CARRY_OUT if carry_out else common_pb2.FULFILMENT_METHOD_PICKUP
    default_channel = common_pb2.CHANNEL_POS if carry_out else common_pb2.CHANNEL_WEB
    return pb.CreateOrderRequest(
        request_id=fields.pop("request_id", unique_id()),
        channel=fields.pop("channel", default_channel),
        customer_id=fields.pop("customer_id", unique_id("CUST-")),
        lines=lines(*items),
        method=method,
        store_id=store_id,
        **fields,
    )


def quote_of(request: pb.CreateOrderRequest) -> pb.QuoteRoutingRequest:
    quote = pb.QuoteRoutingRequest(
        channel=request.channel,
        lines=request.lines,
        method=request.method,
        store_id=request.store_id,
        options=request.options,
    )
    if request.HasField("ship_to"):
        quote.ship_to.CopyFrom(request.ship_to)
    return quote


def allocated(order: pb.Order) -> dict[str, dict[str, int]]:
    return {a.location_id: {line.sku: line.quantity for line in a.lines} for a in order.allocations}


def reasons(plan: pb.RoutingPlan) -> dict[str, str]:
    return {passed.location_id: pb.PassOverReason.Name(passed.reason) for passed in plan.passed_over}


STREAMING = (grpc.aio.UnaryStreamMultiCallable, grpc.aio.StreamUnaryMultiCallable, grpc.aio.StreamStreamMultiCallable)


class Remembering:
    """An inventory stub that keeps the consistency token of the last answer that carried one:
    every write answers the token of its change, and a read from memory the token of the state it
    showed. A read passing it never shows an older state than the calls made through this stub,
    once they have been answered (docs/reads.md)."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self.token = ""

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._stub, name)
        if isinstance(method, STREAMING):
            return method

        async def call(request: Any, **options: Any) -> Any:
            reply = await method(request, **options)
            self.token = getattr(reply, "consistency_token", "") or self.token
            return reply

        return call


@dataclass(frozen=True)
class InTransit:
    """A shipped transfer's ends: units on their way from `hub` to `store`."""

    store: str
    hub: str
    transfer_id: str


@dataclass
class Shop:
    """Writes made through `inventory` (its own, and a test's through `shop.inventory`) are never
    missing from what `level` reads, whichever inventory process answers it."""

    stack: Stack
    inventory: Any
    orders: Any

    def __post_init__(self) -> None:
        if not isinstance(self.inventory, Remembering):
            self.inventory = Remembering(self.inventory)

    async def location(
        self,
        at: tuple[float, float] = BERLIN,
        *,
        warehouse: bool = False,
        city: str = "Berlin",
        ships: bool = True,
        pickup: bool = True,
        till_sales: bool = True,
        rank: int = 10,
        active: bool = True,
        prefix: str = "",
        promise_settings: inv.PromiseSettings | None = None,
    ) -> str:
        location_id = unique_id(prefix or ("WH-" if warehouse else "ST-"))
        await self.inventory.UpsertLocation(
            inv.UpsertLocationRequest(
                request_id=unique_id(),
                location=inv.Location(
                    location_id=location_id,
                    name=f"{'Warehouse' if warehouse else 'Store'} {location_id}",
                    kind=inv.LOCATION_KIND_WAREHOUSE if warehouse else inv.LOCATION_KIND_STORE,
                    city=city,
                    point=common_pb2.GeoPoint(latitude=at[0], longitude=at[1]),
                    routing_rank=rank,
                    ships=ships,
                    pickup=pickup and not warehouse,
                    till_sales=till_sales and not warehouse,
                    active=active,
                    promise_settings=promise_settings,
                ),
            )
        )
        return location_id

    async def sku(self, title: str = "Velvet sofa", price_minor: int = 49900, currency: str = "EUR") -> str:
        sku = unique_id("SKU-")
        await self.inventory.UpsertSku(
            inv.UpsertSkuRequest(
                request_id=unique_id(),
                sku=inv.Sku(sku=sku, title=title, price_minor=price_minor, currency=currency),
            )
        )
        return sku

    async def receive(self, location_id: str, sku: str, quantity: int) -> None:
        await self.inventory.ReceiveStock(
            inv.ReceiveStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, quantity=quantity)
        )

    async def safety_stock(self, location_id: str, sku: str, quantity: int) -> None:
        await self.inventory.SetSafetyStock(
            inv.SetSafetyStockRequest(request_id=unique_id(), location_id=location_id, sku=sku, safety_stock=quantity)
        )

    async def in_transit_to_store(
        self,
        units: Mapping[str, int],
        *,
        on_shelf: Mapping[str, int] | None = None,
        at_hub: Mapping[str, int] | None = None,
        arrival: datetime | None = None,
        promise_settings: inv.PromiseSettings | None = None,
    ) -> InTransit:
        """A store in Berlin with `on_shelf` on its shelf and `units` on their way to it from a hub in
        Leipzig (a shipped transfer, expected at `arrival` if given; the hub first had `at_hub`, by
        default just those units), and the chat's pool allowing units in transit there. Pools hold
        for the whole database: a test using this wants a stack of its own."""
        store = await self.location(BERLIN, promise_settings=promise_settings)
        hub = await self.location(LEIPZIG, warehouse=True)
        for sku, quantity in (units if at_hub is None else at_hub).items():
            await self.receive(hub, sku, quantity)
        for sku, quantity in (on_shelf or {}).items():
            await self.receive(store, sku, quantity)
        stores = unique_id("stores-")
        await self.inventory.UpsertLocationGroup(
            inv.UpsertLocationGroupRequest(
                request_id=unique_id(),
                group=inv.LocationGroup(group_id=stores, display_name="Stores", location_ids=[store]),
            )
        )
        await self.inventory.SetChannelPools(
            inv.SetChannelPoolsRequest(
                request_id=unique_id(),
                channel=common_pb2.CHANNEL_CHAT,
                pools=[inv.ChannelPool(group_id=stores, allow_transfer_in_transit=True)],
            )
        )
        request = inv.CreateTransferRequest(
            request_id=unique_id(),
            origin_location_id=hub,
            destination_location_id=store,
            lines=[inv.TransferLineRequest(sku=sku, quantity=quantity) for sku, quantity in units.items()],
        )
        if arrival is not None:
            request.expected_arrival_at.FromDatetime(arrival)
        transfer = (await self.inventory.CreateTransfer(request)).transfer
        await self.inventory.ShipTransfer(
            inv.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id)
        )
        return InTransit(store, hub, transfer.transfer_id)

    async def level(self, location_id: str, sku: str) -> inv.StockLevel:
        request = inv.GetStockRequest(sku=sku, location_id=location_id, min_consistency_token=self.inventory.token)
        levels = (await self.inventory.GetStock(request)).levels
        return levels[0] if levels else inv.StockLevel(location_id=location_id, sku=sku)

    async def held(self, *rows: tuple[str, str]) -> list[int]:
        return [(await self.level(location_id, sku)).held for location_id, sku in rows]

    async def hold(self, hold_id: str) -> inv.Hold:
        return (await self.inventory.GetHold(inv.GetHoldRequest(hold_id=hold_id))).hold

    def orders_as(self, role: str, locations: list[str] | None = None) -> Any:
        return self.stack.stub("orders", role=role, locations=locations)

    async def order(self, order_id: str) -> pb.Order:
        return (await self.orders.GetOrder(pb.GetOrderRequest(order_id=order_id))).order

    async def delivered(self, location_id: str, items: Sequence[tuple[str, int]], *, shipped: bool = False) -> pb.Order:
        """An order whose units `location_id` delivered, and so may come back: a sale at its till
        (completed at once), or with `shipped` a web order shipped from there through fulfilment,
        once orders has it completed."""
        if not shipped:
            till = self.orders_as("pos", [location_id])
            order = (await till.CreateOrder(store_request(items, location_id, carry_out=True))).order
            assert order.status == pb.ORDER_STATUS_COMPLETED
            return order
        order = (await self.orders_as("storefront").CreateOrder(ship_request(items))).order
        assert [allocation.location_id for allocation in order.allocations] == [location_id]
        await ship_through_fulfilment(self.stack, order)
        return await self.wait_for_order(order.order_id, lambda found: found.status == pb.ORDER_STATUS_COMPLETED)

    async def wait_for_order(
        self, order_id: str, predicate: Callable[[pb.Order], bool], timeout: float = 10.0
    ) -> pb.Order:
        """Poll until the order satisfies the predicate (bounded: fails after `timeout` seconds)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            order = await self.order(order_id)
            if predicate(order):
                return order
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"order {order_id} never got there; last seen:\n{order}")
            await asyncio.sleep(0.05)


async def pick_task(
    fulfilment: Any, location_id: str, allocation_id: str, timeout: float = 15.0
) -> fulfilment_pb2.Task:
    """The pick task fulfilment made for the allocation (bounded polling)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        listed = await fulfilment.ListTasks(
            fulfilment_pb2.ListTasksRequest(location_id=location_id, kind=fulfilment_pb2.TASK_KIND_PICK)
        )
        for task in listed.tasks:
            if task.allocation_id == allocation_id:
                return task
        assert asyncio.get_running_loop().time() < deadline, f"no pick task for allocation {allocation_id}"
        await asyncio.sleep(0.05)


async def ship_through_fulfilment(stack: Stack, order: pb.Order) -> None:
    """Each allocation's pick task picked, packed and shipped by the location's staff."""
    for allocation in order.allocations:
        staff = stack.stub("fulfilment", role="warehouse", locations=[allocation.location_id])
        task = await pick_task(staff, allocation.location_id, allocation.allocation_id)
        assert {line.sku: line.quantity for line in task.lines} == {
            line.sku: line.quantity for line in allocation.lines
        }
        await staff.StartPicking(fulfilment_pb2.StartPickingRequest(request_id=unique_id(), task_id=task.task_id))
        await staff.ConfirmPick(fulfilment_pb2.ConfirmPickRequest(request_id=unique_id(), task_id=task.task_id))
        await staff.Pack(fulfilment_pb2.PackRequest(request_id=unique_id(), task_id=task.task_id))
        await staff.Ship(
            fulfilment_pb2.ShipRequest(
                request_id=unique_id(), task_id=task.task_id, carrier="DHL", tracking_number=unique_id()
            )
        )


async def publish(bus: Any, event_type: str, payload: Any, source: str = "test") -> str:
    """Put an event on the bus as another service would (type '<service>.<entity>.<event>')."""
    envelope = new_envelope(event_type, payload, source=source)
    subject = bus.settings.subject(*event_type.split("."))
    await bus.js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id})
    return envelope.event_id


def task_event(
    order: pb.Order, allocation: pb.Allocation, *, picked: dict[str, int] | None = None
) -> fulfilment_pb2.TaskChanged:
    """The TaskChanged fulfilment publishes about an allocation's pick task."""
    return fulfilment_pb2.TaskChanged(
        task=fulfilment_pb2.Task(
            task_id=unique_id("TASK-"),
            kind=fulfilment_pb2.TASK_KIND_PICK,
            location_id=allocation.location_id,
            order_id=order.order_id,
            allocation_id=allocation.allocation_id,
            hold_id=allocation.hold_id,
            method=order.method,
            lines=[
                fulfilment_pb2.TaskLine(
                    sku=line.sku,
                    quantity=line.quantity,
                    picked=(picked or {}).get(line.sku, line.quantity),
                )
                for line in allocation.lines
            ],
        )
    )


class Crash(Exception):
    """What a test raises inside a process it crashes on purpose."""
