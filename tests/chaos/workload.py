"""Traffic of a working day, squeezed: channels reserve for pickup, order to ship or to pick up,
sell at tills; staff pick, pack, ship, prepare pickups and hand them over; goods arrive.

Every call goes through `OmnistockClient.call`, which retries with the same request (and so the
same request id) as a real client does. Each intent is journaled with what its caller saw:
acknowledged (with the answer), refused (a definite no), or in doubt (retries ran out, or the
answer was an internal error) — the checks afterwards hold the system to exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import duration_pb2
from omnistock_client.client import RETRYABLE, OmnistockClient, RetryPolicy

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role, TokenAuthority
from omnistock_platform.services import ServiceName
from omnistock_platform.settings import Settings

# Outcomes a caller may see.
OK, REFUSED, IN_DOUBT = "acknowledged", "refused", "in doubt"
# Definite answers the traffic expects: a lost race, something that moved on meanwhile.
EXPECTED_REFUSALS = frozenset(
    {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS}
)
# A client keeps trying (same request id) for about this long before it gives up: a service
# restarts in a few seconds, so most calls caught by a fault still get their answer.
CLIENT_RETRY = RetryPolicy(attempts=30, first_backoff=0.1, max_backoff=1.0, deadline=5.0)
# Some callers do not wait: a customer hangs up, a handheld loses its network. They send once,
# with a short deadline (the call is cancelled in the services wherever it got to), and never
# retry: what they started is left to the system's own recovery.
IMPATIENT_DEADLINES = (0.02, 1.0)

STORE_POINTS = [(52.52, 13.405), (52.39, 13.06), (52.535, 13.2), (51.34, 12.37), (53.55, 9.99), (48.14, 11.58)]
WAREHOUSE_POINTS = [(52.3, 13.6), (51.0, 11.0)]


@dataclass
class Intent:
    kind: str
    request_id: str
    outcome: str = ""
    code: str = ""
    detail: str = ""
    attempts: int = 0
    entity: str = ""
    impatient: bool = False


@dataclass
class SeenReservation:
    reservation_id: str
    request_id: str
    store_id: str
    status: int
    lines: dict[str, int]
    pickup_code: str


@dataclass
class SeenOrder:
    order_id: str
    request_id: str
    method: int
    status: int
    allocation_ids: set[str]


@dataclass
class Journal:
    intents: list[Intent] = field(default_factory=list)
    reservations: dict[str, SeenReservation] = field(default_factory=dict)
    orders: dict[str, SeenOrder] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    # request id -> (location, sku, units) of receipts, and how their callers saw them.
    receipts: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    refused_creations: dict[str, str] = field(default_factory=dict)  # request id -> kind
    # Units the callers were told were sold (collected, handed over, shipped, carried out), and
    # units of sales whose answer never came.
    sold: int = 0
    sold_in_doubt: int = 0
    reads: int = 0

    def sale(self, intent: Intent, units: int) -> None:
        if intent.outcome == OK:
            self.sold += units
        elif intent.outcome == IN_DOUBT:
            self.sold_in_doubt += units

    def count(self, outcome: str | None = None, kind: str | None = None) -> int:
        return sum(
            1
            for intent in self.intents
            if (outcome is None or intent.outcome == outcome) and (kind is None or intent.kind == kind)
        )

    def unexpected(self) -> list[Intent]:
        """Refusals no caller of this traffic should get (a wrong argument, a wrong role...)."""
        return [i for i in self.intents if i.outcome == REFUSED and i.code not in {c.name for c in EXPECTED_REFUSALS}]

    def internal_errors(self) -> list[Intent]:
        return [i for i in self.intents if i.code in ("INTERNAL", "UNKNOWN")]

    def summary(self) -> dict[str, int]:
        return {
            "requests": len(self.intents),
            "acknowledged": self.count(OK),
            "refused": self.count(REFUSED),
            "in_doubt": self.count(IN_DOUBT),
            "retried_calls": sum(1 for i in self.intents if i.attempts > 1),
            "given_up": sum(1 for i in self.intents if i.impatient and i.outcome == IN_DOUBT),
            "attempts": sum(i.attempts for i in self.intents),
            "reservations_acknowledged": len(self.reservations),
            "orders_acknowledged": len(self.orders),
            "tasks_worked": len(self.tasks),
            "internal_errors": len(self.internal_errors()),
        }


@dataclass
class Shop:
    stores: list[str]
    warehouses: list[str]
    skus: list[str]

    @property
    def locations(self) -> list[str]:
        return [*self.stores, *self.warehouses]


class Traffic:
    """The callers: one client per role, as each channel has its own token."""

    def __init__(
        self, settings: Settings, addresses: dict[ServiceName, str], seed: int, *, impatient: float = 0.0
    ) -> None:
        self.settings = settings
        self.addresses = addresses
        self.seed = seed
        # The share of calls made by callers who give up at the first failure.
        self.impatient = impatient
        self._patience = random.Random(f"{seed}/patience")
        # Set when the storm ends: calls under way finish (with their retries), no new step begins.
        self.stopping = asyncio.Event()
        self.journal = Journal()
        self.shop = Shop([], [], [])
        self._authority = TokenAuthority(settings)
        self._clients: dict[str, OmnistockClient] = {}

    def client(self, role: Role, locations: list[str] | None = None) -> OmnistockClient:
        key = f"{role}:{','.join(locations or [])}"
        if key not in self._clients:
            token = self._authority.mint(role, f"chaos-{role}", locations=locations or [], channel="")
            self._clients[key] = OmnistockClient.connect(
                self.settings, token, addresses=self.addresses, retry=CLIENT_RETRY
            )
        return self._clients[key]

    @property
    def admin(self) -> OmnistockClient:
        return self.client(Role.ADMIN)

    @property
    def staff(self) -> OmnistockClient:
        return self.client(Role.WAREHOUSE, self.shop.locations)

    @property
    def till(self) -> OmnistockClient:
        return self.client(Role.POS, self.shop.stores)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

    # -- calls --------------------------------------------------------------------------------------

    async def intend(
        self, kind: str, client: OmnistockClient, method_name: str, service: str, request: Any
    ) -> tuple[Intent, Any]:
        """One intent: the call with the client's retries (same request id), journaled."""
        intent = Intent(kind, getattr(request, "request_id", ""))
        self.journal.intents.append(intent)
        if self.impatient and self._patience.random() < self.impatient:
            intent.impatient = True
            deadline = self._patience.uniform(*IMPATIENT_DEADLINES)
            client = OmnistockClient(client.channels, RetryPolicy(attempts=1, deadline=deadline))
        stub = getattr(client, service)
        method = getattr(stub, method_name)

        async def counted(message: Any, timeout: float | None = None) -> Any:
            intent.attempts += 1
            return await method(message, timeout=timeout)

        try:
            response = await client.call(counted, request)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            intent.code = code.name
            intent.detail = (error.details() or "")[:300]
            doubtful = code in RETRYABLE or code in (
                grpc.StatusCode.INTERNAL,
                grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.CANCELLED,
            )
            intent.outcome = IN_DOUBT if doubtful else REFUSED
            return intent, None
        intent.outcome = OK
        return intent, response

    async def read(self, client: OmnistockClient, service: str, method_name: str, request: Any) -> Any | None:
        self.journal.reads += 1
        try:
            return await client.call(getattr(getattr(client, service), method_name), request)
        except grpc.aio.AioRpcError:
            return None

    # -- the shop -----------------------------------------------------------------------------------

    async def open_shop(self, *, stores: int = 4, warehouses: int = 2, skus: int = 4, units: int = 25) -> Shop:
        """Locations, SKUs and their first stock, before any fault."""
        run = uuid.uuid4().hex[:6].upper()
        shop = Shop(
            [f"CHAOS-{run}-ST{n}" for n in range(stores)],
            [f"CHAOS-{run}-WH{n}" for n in range(warehouses)],
            [f"CHAOS-{run}-SKU{n}" for n in range(skus)],
        )
        self.shop = shop
        admin = self.admin
        for index, location_id in enumerate(shop.locations):
            warehouse = location_id in shop.warehouses
            point = (WAREHOUSE_POINTS if warehouse else STORE_POINTS)[index % (2 if warehouse else 6)]
            request = ipb.UpsertLocationRequest(
                request_id=str(uuid.uuid4()),
                location=ipb.Location(
                    location_id=location_id,
                    name=location_id,
                    kind=ipb.LOCATION_KIND_WAREHOUSE if warehouse else ipb.LOCATION_KIND_STORE,
                    city="Chaos",
                    point=common_pb2.GeoPoint(latitude=point[0], longitude=point[1]),
                    routing_rank=index,
                    ships=True,
                    pickup=not warehouse,
                    till_sales=not warehouse,
                    active=True,
                ),
            )
            await self._setting_up(admin.inventory.UpsertLocation, request)
        for sku in shop.skus:
            request = ipb.UpsertSkuRequest(
                request_id=str(uuid.uuid4()), sku=ipb.Sku(sku=sku, title=sku, price_minor=1999, currency="EUR")
            )
            await self._setting_up(admin.inventory.UpsertSku, request)
        for location_id in shop.locations:
            for sku in shop.skus:
                request_id = str(uuid.uuid4())
                for _ in range(10):  # the same receipt again until it is acknowledged: nothing runs yet
                    quantity = units * (2 if location_id in shop.warehouses else 1)
                    intent, _ = await self.receive(location_id, sku, quantity, request_id)
                    if intent.outcome == OK:
                        break
                    await asyncio.sleep(1.0)
                assert intent.outcome == OK, intent
        return shop

    async def _setting_up(self, method: Any, request: Any) -> Any:
        """A call of the set-up, before any fault: the same request again on any error, a few times."""
        for attempt in range(10):
            try:
                return await self.admin.call(method, request)
            except grpc.aio.AioRpcError:
                if attempt == 9:
                    raise
                await asyncio.sleep(1.0)
        return None

    async def receive(
        self, location_id: str, sku: str, units: int, request_id: str | None = None
    ) -> tuple[Intent, Any]:
        request_id = request_id or str(uuid.uuid4())
        self.journal.receipts[request_id] = (location_id, sku, units)
        request = ipb.ReceiveStockRequest(
            request_id=request_id, location_id=location_id, sku=sku, quantity=units, document_ref=request_id
        )
        return await self.intend("receive", self.staff, "ReceiveStock", "inventory", request)

    # -- the flows ----------------------------------------------------------------------------------

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/{name}")

    def lines(self, rng: random.Random, most: int = 2) -> dict[str, int]:
        chosen = rng.sample(self.shop.skus, rng.randint(1, 2))
        return {sku: rng.randint(1, most) for sku in chosen}

    async def reservations(self, worker: int, stop: asyncio.Event) -> None:
        """Chat, web and app reserve for pickup; then the customer collects it at the till or the
        desk hands it over, or it is cancelled, turned into an order, or left to expire."""
        rng = self.rng(f"reservations-{worker}")
        channels = [
            (Role.CHAT_AGENT, common_pb2.CHANNEL_CHAT),
            (Role.STOREFRONT, common_pb2.CHANNEL_WEB),
            (Role.APP, common_pb2.CHANNEL_APP),
        ]
        while not stop.is_set():
            role, channel = rng.choice(channels)
            client = self.client(role)
            store = rng.choice(self.shop.stores)
            customer = f"CUST-{uuid.uuid4().hex[:10]}"
            hold_for = duration_pb2.Duration(seconds=rng.choice([3, 6, 30, 120]))
            request = rpb.CreateReservationRequest(
                request_id=str(uuid.uuid4()),
                channel=channel,
                customer=rpb.Customer(customer_id=customer, name="Chaos customer"),
                store_id=store,
                lines=[common_pb2.SkuQuantity(sku=sku, quantity=units) for sku, units in self.lines(rng).items()],
                hold_for=hold_for,
            )
            intent, response = await self.intend("reserve", client, "CreateReservation", "reservations", request)
            if intent.outcome == REFUSED:
                self.journal.refused_creations[request.request_id] = "reservation"
            if response is None:
                await asyncio.sleep(rng.uniform(0.2, 1.0))  # a customer told no does not ask again at once
                continue
            reservation = response.reservation
            seen = SeenReservation(
                reservation.reservation_id,
                request.request_id,
                store,
                reservation.status,
                {line.sku: line.quantity for line in reservation.lines},
                reservation.pickup_code,
            )
            intent.entity = seen.reservation_id
            self.journal.reservations[seen.reservation_id] = seen
            await asyncio.sleep(rng.uniform(0, 0.5))
            if stop.is_set():
                return
            choice = rng.choices(
                ["till", "desk", "cancel", "convert", "expire"],
                weights=[25, 30, 15, 15, 15 if hold_for.seconds < 10 else 0],
            )[0]
            if choice == "till":
                await self.collect_at_till(seen)
            elif choice == "desk":
                await self.hand_over_at_desk(seen, rng)
            elif choice == "cancel":
                await self.cancel_reservation(seen, client)
            elif choice == "convert":
                await self.convert(seen, client, channel, customer, rng)

    async def collect_at_till(self, seen: SeenReservation) -> None:
        request = rpb.CollectReservationRequest(
            request_id=str(uuid.uuid4()), store_id=seen.store_id, pickup_code=seen.pickup_code
        )
        intent, response = await self.intend("collect", self.till, "CollectReservation", "reservations", request)
        intent.entity = seen.reservation_id
        self.journal.sale(intent, sum(seen.lines.values()))
        if response is not None:
            seen.status = response.reservation.status

    async def cancel_reservation(self, seen: SeenReservation, client: OmnistockClient) -> None:
        request = rpb.CancelReservationRequest(
            request_id=str(uuid.uuid4()), reservation_id=seen.reservation_id, reason="changed my mind"
        )
        intent, response = await self.intend("cancel reservation", client, "CancelReservation", "reservations", request)
        intent.entity = seen.reservation_id
        if response is not None:
            seen.status = response.reservation.status

    async def hand_over_at_desk(self, seen: SeenReservation, rng: random.Random) -> None:
        """The store's preparation task: marked ready, then handed over with the pickup code."""
        task = await self.find_task(
            seen.store_id, fpb.TASK_KIND_PICKUP_PREPARATION, lambda t: t.reservation_id == seen.reservation_id
        )
        if task is None:
            return
        if rng.random() < 0.7:
            request = fpb.MarkReadyForPickupRequest(request_id=str(uuid.uuid4()), task_id=task.task_id)
            intent, response = await self.intend("mark ready", self.staff, "MarkReadyForPickup", "fulfilment", request)
            intent.entity = task.task_id
            if response is not None:
                self.journal.tasks[task.task_id] = response.task.status
                seen.status = rpb.RESERVATION_STATUS_READY_FOR_PICKUP
        request = fpb.HandOverRequest(
            request_id=str(uuid.uuid4()), location_id=seen.store_id, pickup_code=seen.pickup_code
        )
        intent, response = await self.intend("hand over", self.staff, "HandOver", "fulfilment", request)
        intent.entity = task.task_id
        self.journal.sale(intent, sum(seen.lines.values()))
        if response is not None:
            self.journal.tasks[task.task_id] = response.task.status
            seen.status = rpb.RESERVATION_STATUS_COLLECTED

    async def convert(
        self,
        seen: SeenReservation,
        client: OmnistockClient,
        channel: common_pb2.Channel.ValueType,
        customer: str,
        rng: random.Random,
    ) -> None:
        """Reserve, then buy: the order takes the reservation's hold over, then is picked."""
        request = opb.CreateOrderRequest(
            request_id=str(uuid.uuid4()),
            channel=channel,
            customer_id=customer,
            method=common_pb2.FULFILMENT_METHOD_PICKUP,
            reservation_id=seen.reservation_id,
        )
        intent, response = await self.intend("convert", client, "CreateOrder", "orders", request)
        if response is None:
            return
        order = self.saw_order(request.request_id, response.order)
        intent.entity = order.order_id
        seen.status = rpb.RESERVATION_STATUS_CONVERTED
        await self.fulfil(order, response.order, rng)

    async def orders(self, worker: int, stop: asyncio.Event) -> None:
        """Web and app orders, shipped home or picked up in a store; some are cancelled."""
        rng = self.rng(f"orders-{worker}")
        while not stop.is_set():
            role, channel = rng.choice([(Role.STOREFRONT, common_pb2.CHANNEL_WEB), (Role.APP, common_pb2.CHANNEL_APP)])
            client = self.client(role)
            request = opb.CreateOrderRequest(
                request_id=str(uuid.uuid4()),
                channel=channel,
                customer_id=f"CUST-{uuid.uuid4().hex[:10]}",
                lines=[opb.OrderLineRequest(sku=sku, quantity=units) for sku, units in self.lines(rng, 3).items()],
            )
            if rng.random() < 0.6:
                point = rng.choice(STORE_POINTS)
                request.method = common_pb2.FULFILMENT_METHOD_SHIP
                request.ship_to.CopyFrom(
                    opb.Address(
                        name="Chaos",
                        street="Hauptstr. 1",
                        postal_code="10115",
                        city="Berlin",
                        country="DE",
                        point=common_pb2.GeoPoint(latitude=point[0] + 0.01, longitude=point[1] + 0.01),
                    )
                )
            else:
                request.method = common_pb2.FULFILMENT_METHOD_PICKUP
                request.store_id = rng.choice(self.shop.stores)
            intent, response = await self.intend("order", client, "CreateOrder", "orders", request)
            if intent.outcome == REFUSED:
                self.journal.refused_creations[request.request_id] = "order"
            if response is None:
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                continue
            order = self.saw_order(request.request_id, response.order)
            intent.entity = order.order_id
            if rng.random() < 0.15:
                cancel = opb.CancelOrderRequest(
                    request_id=str(uuid.uuid4()), order_id=order.order_id, reason="customer cancelled"
                )
                intent, cancelled = await self.intend("cancel order", client, "CancelOrder", "orders", cancel)
                intent.entity = order.order_id
                if cancelled is not None:
                    self.saw_order(order.request_id, cancelled.order)
                continue
            await self.fulfil(order, response.order, rng)

    def saw_order(self, request_id: str, order: opb.Order) -> SeenOrder:
        seen = self.journal.orders.get(order.order_id)
        if seen is None:
            seen = SeenOrder(order.order_id, request_id, order.method, order.status, set())
            self.journal.orders[order.order_id] = seen
        seen.status = order.status
        seen.allocation_ids |= {a.allocation_id for a in order.allocations}
        return seen

    async def fulfil(self, seen: SeenOrder, order: opb.Order, rng: random.Random) -> None:
        held = [a for a in order.allocations if a.status == opb.ALLOCATION_STATUS_HELD]
        await asyncio.gather(*(self.pick_and_ship(a, rng) for a in held))
        latest = await self.read(self.admin, "orders", "GetOrder", opb.GetOrderRequest(order_id=seen.order_id))
        if latest is not None:
            self.saw_order(seen.request_id, latest.order)

    async def pick_and_ship(self, allocation: opb.Allocation, rng: random.Random) -> None:
        """Staff at the allocation's location: start, pick (now and then short), pack, ship."""
        task = await self.find_task(
            allocation.location_id, fpb.TASK_KIND_PICK, lambda t: t.allocation_id == allocation.allocation_id
        )
        if task is None:
            return
        steps: list[tuple[str, str, Callable[[str], Any]]] = [
            (
                "start picking",
                "StartPicking",
                lambda rid: fpb.StartPickingRequest(request_id=rid, task_id=task.task_id),
            ),
        ]
        picked = [common_pb2.SkuQuantity(sku=line.sku, quantity=line.quantity) for line in task.lines]
        if rng.random() < 0.1 and picked:
            picked[0].quantity -= 1  # one unit is not on the shelf
        steps += [
            (
                "confirm pick",
                "ConfirmPick",
                lambda rid: fpb.ConfirmPickRequest(request_id=rid, task_id=task.task_id, picked=picked),
            ),
            ("pack", "Pack", lambda rid: fpb.PackRequest(request_id=rid, task_id=task.task_id)),
            (
                "ship",
                "Ship",
                lambda rid: fpb.ShipRequest(
                    request_id=rid, task_id=task.task_id, carrier="DHL", tracking_number=uuid.uuid4().hex[:12]
                ),
            ),
        ]
        for kind, method, make in steps:
            if self.stopping.is_set():
                return
            intent, response = await self.intend(kind, self.staff, method, "fulfilment", make(str(uuid.uuid4())))
            intent.entity = task.task_id
            if kind == "ship":
                self.journal.sale(intent, sum(line.quantity for line in picked))
            if response is None:
                return
            self.journal.tasks[task.task_id] = response.task.status
            if response.task.status == fpb.TASK_STATUS_WITHDRAWN:
                return  # nothing found: the order is routed elsewhere

    async def find_task(
        self, location_id: str, kind: fpb.TaskKind.ValueType, match: Callable[[fpb.Task], bool], wait: float = 15.0
    ) -> fpb.Task | None:
        """The task made for an allocation or reservation (it arrives by event), bounded."""
        deadline = asyncio.get_running_loop().time() + wait
        while asyncio.get_running_loop().time() < deadline and not self.stopping.is_set():
            token = ""
            while True:
                found = await self.read(
                    self.staff,
                    "fulfilment",
                    "ListTasks",
                    fpb.ListTasksRequest(location_id=location_id, kind=kind, page_size=500, page_token=token),
                )
                if found is None:
                    break
                for task in found.tasks:
                    if match(task):
                        return task  # type: ignore[no-any-return]
                token = found.next_page_token
                if not token:
                    break
            await asyncio.sleep(0.3)
        return None

    async def tills(self, worker: int, stop: asyncio.Event) -> None:
        """Carry-out at a till: held and sold at once."""
        rng = self.rng(f"tills-{worker}")
        while not stop.is_set():
            store = rng.choice(self.shop.stores)
            sku = rng.choice(self.shop.skus)
            request = opb.CreateOrderRequest(
                request_id=str(uuid.uuid4()),
                channel=common_pb2.CHANNEL_POS,
                customer_id=f"CUST-{uuid.uuid4().hex[:10]}",
                lines=[opb.OrderLineRequest(sku=sku, quantity=rng.randint(1, 2))],
                method=common_pb2.FULFILMENT_METHOD_CARRY_OUT,
                store_id=store,
            )
            intent, response = await self.intend("carry out", self.till, "CreateOrder", "orders", request)
            self.journal.sale(intent, request.lines[0].quantity)
            if intent.outcome == REFUSED:
                self.journal.refused_creations[request.request_id] = "order"
            if response is not None:
                intent.entity = self.saw_order(request.request_id, response.order).order_id
            await asyncio.sleep(rng.uniform(0.1, 0.6))

    async def restock(self, stop: asyncio.Event, every: float = 2.0) -> None:
        """Goods arrive now and then, so that the shop does not simply run dry."""
        rng = self.rng("restock")
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(every / 2, every * 1.5))
            if stop.is_set():
                return
            await self.receive(rng.choice(self.shop.locations), rng.choice(self.shop.skus), rng.randint(4, 12))

    async def run(self, stop: asyncio.Event, *, reservations: int = 3, orders: int = 3, tills: int = 1) -> None:
        self.stopping = stop
        workers: list[Awaitable[None]] = [self.reservations(n, stop) for n in range(reservations)]
        workers += [self.orders(n, stop) for n in range(orders)]
        workers += [self.tills(n, stop) for n in range(tills)]
        workers.append(self.restock(stop))
        await asyncio.gather(*workers)
