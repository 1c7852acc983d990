"""At the store's counter: hand a pickup over with its code, sell at the till, and look up stock
for a customer here and at the stores nearby."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC

import grpc
from omnistock_client import OmnistockClient
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_console.catalogue import Found, find_skus, titles
from omnistock_console.queue import every_status
from omnistock_console.services import Refused
from omnistock_console.staff import Staff, flash
from omnistock_console.web import Console, clock, field, request_id_of, see_other
from omnistock_platform.validation import whole_number

# What people type between the groups of a pickup code, or by habit; the code is the rest.
_CODE_SEPARATORS = str.maketrans("", "", " -_.\t")
MAX_CODE = 32
MAX_BASKET_LINES = 50
MAX_LINE_QUANTITY = 99
OPEN_PICKUPS = (rpb.RESERVATION_STATUS_ACTIVE, rpb.RESERVATION_STATUS_READY_FOR_PICKUP)


def pickup_code(typed: str) -> str:
    return typed.translate(_CODE_SEPARATORS).upper()[:MAX_CODE]


def money(minor: int, currency: str) -> str:
    return f"{minor / 100:,.2f} {currency}".strip()


@dataclass
class BasketLine:
    sku: ipb.Sku
    quantity: int

    @property
    def total_minor(self) -> int:
        return self.sku.price_minor * self.quantity

    @property
    def price(self) -> str:
        return money(self.total_minor, self.sku.currency)


class DeskPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        return [
            Route("/at/{location_id}/handover", self.handover_page),
            Route("/at/{location_id}/handover/find", self.handover_find, methods=["POST"]),
            Route("/at/{location_id}/handover", self.handover, methods=["POST"]),
            Route("/at/{location_id}/till", self.till_page),
            Route("/at/{location_id}/till/add", self.till_add, methods=["POST"]),
            Route("/at/{location_id}/till/remove", self.till_remove, methods=["POST"]),
            Route("/at/{location_id}/till/sell", self.till_sell, methods=["POST"]),
            Route("/at/{location_id}/stock", self.stock),
        ]

    def _store_staff(self, request: Request) -> Staff:
        staff = self.console.staff(request, request.path_params["location_id"])
        if not staff.at_store:
            raise Refused("The pickup desk and the till are for store staff.", 403, grpc.StatusCode.PERMISSION_DENIED)
        return staff

    # Hand-over.

    async def handover_page(
        self,
        request: Request,
        *,
        code: str = "",
        reservation: rpb.Reservation | None = None,
        problem: str = "",
        request_id: str = "",
        status: int = 200,
    ) -> Response:
        staff = self._store_staff(request)
        skus: dict[str, ipb.Sku] = {}
        zone = ""
        if reservation is not None:
            with self.console.acting_as(staff) as client:
                skus = await titles(client, [line.sku for line in reservation.lines])
            zone = await self.console.zone(staff)
        context = {
            "code": code,
            "reservation": reservation,
            "problem": problem,
            "skus": skus,
            "request_id": request_id,
            "zone": zone,
        }
        return self.console.render(request, "handover.html", context, status=status, staff=staff)

    async def handover_find(self, request: Request) -> Response:
        """The open pickup with this code at this store, to check with the customer first."""
        staff = self._store_staff(request)
        form = await self.console.form(request)
        code = pickup_code(field(form, "code"))
        if not code:
            return await self.handover_page(request, problem="Type or scan the customer's pickup code.", status=422)
        with self.console.acting_as(staff) as client:
            try:
                found = await self._open_pickup(client, staff.location_id, code)
                coming = None if found is not None else await self._coming_pickup(client, staff.location_id, code)
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        if coming is not None:
            # The code is right: telling staff to check it would send the customer away confused.
            expected = ""
            if coming.promised_at.seconds:
                # Staff read the store's clock: the arrival on it, naming its zone.
                moment = clock(coming.promised_at.ToDatetime(tzinfo=UTC), await self.console.zone(staff))
                expected = f" (expected {moment})"
            problem = (
                f"The items of pickup {code} are still on their way here on a transfer{expected}:"
                " they can be handed over once the transfer is received."
            )
            return await self.handover_page(request, code=code, problem=problem, status=409)
        if found is None:
            problem = f"No open pickup at this store has the code {code}. Check the code with the customer."
            return await self.handover_page(request, code=code, problem=problem, status=404)
        return await self.handover_page(request, code=code, reservation=found)

    async def _open_pickup(self, client: OmnistockClient, store_id: str, code: str) -> rpb.Reservation | None:
        found = await every_status(
            client,
            client.reservations.ListReservations,
            rpb.ListReservationsRequest(store_id=store_id),
            OPEN_PICKUPS,
            "reservations",
        )
        return next((r for r in found if pickup_code(r.pickup_code) == code), None)

    async def _coming_pickup(self, client: OmnistockClient, store_id: str, code: str) -> rpb.Reservation | None:
        """The pickup with this code whose items a transfer is still bringing to this store."""
        found = await every_status(
            client,
            client.reservations.ListReservations,
            rpb.ListReservationsRequest(store_id=store_id),
            (rpb.RESERVATION_STATUS_AWAITING_TRANSFER,),
            "reservations",
        )
        return next((r for r in found if pickup_code(r.pickup_code) == code), None)

    async def handover(self, request: Request) -> Response:
        staff = self._store_staff(request)
        form = await self.console.form(request)
        request_id = request_id_of(form)
        code = pickup_code(field(form, "code"))
        with self.console.acting_as(staff) as client:
            try:
                reply = await client.call(
                    client.fulfilment.HandOver,
                    fpb.HandOverRequest(request_id=request_id, location_id=staff.location_id, pickup_code=code),
                )
            except grpc.aio.AioRpcError as error:
                refused = await self.console.services.refusal_on_the_form(error)
                return await self.handover_page(
                    request,
                    code=code,
                    problem=refused.words,
                    request_id=refused.keep(request_id),
                    status=refused.status,
                )
            skus = await titles(client, [line.sku for line in reply.task.lines])
        items = ", ".join(f"{line.quantity} x {_title(skus, line.sku)}" for line in reply.task.lines)
        flash(request, f"Handed over ({code}): {items}. The sale is complete.")
        return see_other(f"/at/{staff.location_id}/handover")

    # Till.

    async def till_page(
        self,
        request: Request,
        *,
        basket: list[BasketLine] | None = None,
        found: Found | None = None,
        problem: str = "",
        request_id: str = "",
        status: int = 200,
    ) -> Response:
        staff = self._store_staff(request)
        lines = basket or []
        total = money(sum(line.total_minor for line in lines), lines[0].sku.currency if lines else "")
        context = {
            "basket": lines,
            "total": total,
            "choices": found.skus if found is not None and len(found.skus) > 1 else [],
            "problem": problem,
            "request_id": request_id,
        }
        return self.console.render(request, "till.html", context, status=status, staff=staff)

    async def _basket(self, client: OmnistockClient, form: FormData) -> list[BasketLine]:
        wanted: dict[str, int] = {}
        for value in form.getlist("line")[:MAX_BASKET_LINES]:
            sku, _, quantity = str(value).rpartition(":")
            units = whole_number(quantity, MAX_LINE_QUANTITY)
            if sku and units:
                wanted[sku] = min(MAX_LINE_QUANTITY, wanted.get(sku, 0) + units)
        known = await titles(client, list(wanted))
        return [BasketLine(known[sku], quantity) for sku, quantity in wanted.items() if sku in known]

    async def till_add(self, request: Request) -> Response:
        staff = self._store_staff(request)
        form = await self.console.form(request)
        typed_quantity = field(form, "quantity", "1") or "1"
        with self.console.acting_as(staff) as client:
            try:
                basket = await self._basket(client, form)
                found = await find_skus(client, field(form, "code"))
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        adding = whole_number(typed_quantity, MAX_LINE_QUANTITY)
        if not adding:
            problem = f"The quantity must be a whole number from 1 to {MAX_LINE_QUANTITY}."
            return await self.till_page(request, basket=basket, problem=problem, status=422)
        if found.problem:
            return await self.till_page(request, basket=basket, problem=found.problem, status=404)
        if len(found.skus) > 1:
            return await self.till_page(request, basket=basket, found=found, problem="Which one? Choose the item.")
        if len(basket) >= MAX_BASKET_LINES and all(line.sku.sku != found.skus[0].sku for line in basket):
            problem = f"A sale has at most {MAX_BASKET_LINES} lines: complete this one first."
            return await self.till_page(request, basket=basket, problem=problem, status=422)
        for line in basket:
            if line.sku.sku == found.skus[0].sku:
                line.quantity = min(MAX_LINE_QUANTITY, line.quantity + adding)
                break
        else:
            basket.append(BasketLine(found.skus[0], adding))
        return await self.till_page(request, basket=basket)

    async def till_remove(self, request: Request) -> Response:
        staff = self._store_staff(request)
        form = await self.console.form(request)
        with self.console.acting_as(staff) as client:
            try:
                basket = await self._basket(client, form)
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        remove = field(form, "remove")
        return await self.till_page(request, basket=[line for line in basket if line.sku.sku != remove])

    async def till_sell(self, request: Request) -> Response:
        """A carry-out sale: held and sold at once, from the shelf in front of the customer."""
        staff = self._store_staff(request)
        form = await self.console.form(request)
        request_id = request_id_of(form)
        with self.console.acting_as(staff) as client:
            try:
                basket = await self._basket(client, form)
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
            if not basket:
                return await self.till_page(request, problem="The basket is empty: scan the items first.", status=422)
            order = opb.CreateOrderRequest(
                request_id=request_id,
                channel=common_pb2.CHANNEL_POS,
                customer_id="walk-in",
                lines=[opb.OrderLineRequest(sku=line.sku.sku, quantity=line.quantity) for line in basket],
                method=common_pb2.FULFILMENT_METHOD_CARRY_OUT,
                store_id=staff.location_id,
            )
            try:
                sold = (await client.call(client.orders.CreateOrder, order)).order
            except grpc.aio.AioRpcError as error:
                refused = await self.console.services.refusal_on_the_form(error)
                return await self.till_page(
                    request,
                    basket=basket,
                    problem=refused.words,
                    request_id=refused.keep(request_id),
                    status=refused.status,
                )
        items = ", ".join(f"{line.quantity} x {line.sku.title}" for line in basket)
        total = money(sum(line.total_minor for line in basket), basket[0].sku.currency)
        flash(request, f"Sold: {items} ({total}). Order {sold.order_id}.")
        return see_other(f"/at/{staff.location_id}/till")

    # Stock lookup.

    async def stock(self, request: Request) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        typed = request.query_params.get("code", "").strip()
        context: dict[str, object] = {"code": typed, "found": None, "level": None, "nearby": [], "sku": None}
        context["deliverable"] = 0
        status = 200
        if typed:
            with self.console.acting_as(staff) as client:
                try:
                    found = await find_skus(client, typed)
                    context["found"] = found
                    if len(found.skus) == 1:
                        context.update(await self._levels(client, staff.location_id, found.skus[0]))
                except grpc.aio.AioRpcError as error:
                    raise await self.console.services.refusal(error) from error
            status = 404 if found.problem else 200
        context["radius_km"] = self.console.settings.console_nearby_km
        return self.console.render(request, "stock.html", context, status=status, staff=staff)

    async def _levels(self, client: OmnistockClient, location_id: str, sku: ipb.Sku) -> dict[str, object]:
        here_request = ipb.GetStockRequest(
            sku=sku.sku, location_id=location_id, channel=common_pb2.CHANNEL_POS, selling_location_id=location_id
        )
        place_request = ipb.GetLocationRequest(location_id=location_id)
        here, place = await asyncio.gather(
            client.call(client.inventory.GetStock, here_request),
            client.call(client.inventory.GetLocation, place_request),
        )
        item = [common_pb2.SkuQuantity(sku=sku.sku, quantity=1)]
        nearby, shipping = await asyncio.gather(
            client.call(
                client.inventory.FindAvailability,
                ipb.FindAvailabilityRequest(
                    items=item,
                    channel=common_pb2.CHANNEL_POS,
                    selling_location_id=location_id,
                    near=place.location.point,
                    radius_km=self.console.settings.console_nearby_km,
                    method=common_pb2.FULFILMENT_METHOD_PICKUP,
                    complete_only=True,
                ),
            ),
            # What the web shop could deliver to the customer's home instead.
            client.call(
                client.inventory.FindAvailability,
                ipb.FindAvailabilityRequest(
                    items=item, channel=common_pb2.CHANNEL_WEB, method=common_pb2.FULFILMENT_METHOD_SHIP
                ),
            ),
        )
        return {
            "sku": sku,
            "level": here.levels[0] if here.levels else None,
            "nearby": [found for found in nearby.locations if found.location.location_id != location_id],
            "deliverable": sum(level.available for found in shipping.locations for level in found.levels),
        }


def _title(skus: dict[str, ipb.Sku], sku: str) -> str:
    found = skus.get(sku)
    return found.title if found is not None and found.title else sku
