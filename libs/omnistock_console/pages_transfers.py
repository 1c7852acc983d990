"""Transfers at a location: what is on its way here (receive it, saying how many arrived in good
order and how many damaged), and what waits to be sent from here (ship it).

A transfer that brings units for a customer's reservation (ship to store) says so: receiving it holds
what arrived for that customer at once, and the reservation becomes ready for pickup."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

import grpc
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_console.catalogue import titles
from omnistock_console.services import Refused
from omnistock_console.staff import Staff, flash
from omnistock_console.web import Console, field, request_id_of, see_other
from omnistock_platform.validation import whole_number

MAX_QUANTITY = 1_000_000
RECENT = 5
STATUS_WORDS = {
    ipb.TRANSFER_STATUS_DRAFT: "To send",
    ipb.TRANSFER_STATUS_SHIPPED: "On the way",
    ipb.TRANSFER_STATUS_RECEIVED: "Received",
    ipb.TRANSFER_STATUS_CANCELLED: "Cancelled",
}


@dataclass
class Attempt:
    """An action that was refused, with what the person had typed, to show again beside its form."""

    action: str
    words: str
    request_id: str
    values: dict[str, str] = dataclass_field(default_factory=dict)


def for_a_customer(transfer: ipb.Transfer) -> bool:
    return transfer.hold_owner.startswith("reservation:")


class TransferPages:
    def __init__(self, console: Console) -> None:
        self.console = console

    def routes(self) -> list[Route]:
        here = "/at/{location_id}/transfers"
        return [
            Route(here, self.transfers),
            Route(here + "/{transfer_id}", self.transfer),
            Route(here + "/{transfer_id}/{action:str}", self.act, methods=["POST"]),
        ]

    # The location's transfers.

    async def transfers(self, request: Request) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        here = staff.location_id
        with self.console.acting_as(staff) as client:
            try:
                found = await self._list(client, here, ipb.TRANSFER_STATUS_SHIPPED)
                found += await self._list(client, here, ipb.TRANSFER_STATUS_DRAFT)
                recent = await client.call(
                    client.inventory.ListTransfers, ipb.ListTransfersRequest(location_id=here, page_size=RECENT)
                )
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        incoming = [t for t in found if t.destination_location_id == here and t.status == ipb.TRANSFER_STATUS_SHIPPED]
        to_send = [t for t in found if t.origin_location_id == here and t.status == ipb.TRANSFER_STATUS_DRAFT]
        asked = [t for t in found if t.destination_location_id == here and t.status == ipb.TRANSFER_STATUS_DRAFT]
        done = [
            t for t in recent.transfers if t.status in (ipb.TRANSFER_STATUS_RECEIVED, ipb.TRANSFER_STATUS_CANCELLED)
        ]
        context = {
            "incoming": incoming,
            "to_send": to_send,
            "asked": asked,
            "done": done,
            "words": STATUS_WORDS,
            "for_a_customer": for_a_customer,
            "zone": await self.console.zone(staff),
        }
        return self.console.render(request, "transfers.html", context, staff=staff)

    @staticmethod
    async def _list(client: OmnistockClient, location_id: str, status: int) -> list[ipb.Transfer]:
        request = ipb.ListTransfersRequest(location_id=location_id, status=status)  # type: ignore[arg-type]
        return list(await all_pages(client, client.inventory.ListTransfers, request, "transfers"))

    # One transfer.

    async def transfer(self, request: Request, *, attempt: Attempt | None = None, status: int = 200) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        with self.console.acting_as(staff) as client:
            try:
                found = await self._get(client, staff, request.path_params["transfer_id"])
                skus = await titles(client, [line.sku for line in found.lines])
            except grpc.aio.AioRpcError as error:
                raise await self.console.services.refusal(error) from error
        context = {
            "transfer": found,
            "skus": skus,
            "attempt": attempt,
            "words": STATUS_WORDS,
            "TRANSFER": ipb,
            "for_a_customer": for_a_customer(found),
            "receiving": found.status == ipb.TRANSFER_STATUS_SHIPPED
            and found.destination_location_id == staff.location_id,
            "sending": found.status == ipb.TRANSFER_STATUS_DRAFT and found.origin_location_id == staff.location_id,
            "zone": await self.console.zone(staff),
        }
        return self.console.render(request, "transfer.html", context, status=status, staff=staff)

    @staticmethod
    async def _get(client: OmnistockClient, staff: Staff, transfer_id: str) -> ipb.Transfer:
        reply = await client.call(client.inventory.GetTransfer, ipb.GetTransferRequest(transfer_id=transfer_id))
        found: ipb.Transfer = reply.transfer
        if staff.location_id not in (found.origin_location_id, found.destination_location_id):
            raise Refused(
                f"Transfer {transfer_id} neither leaves from nor goes to {staff.location_id}.",
                404,
                grpc.StatusCode.NOT_FOUND,
            )
        return found

    async def act(self, request: Request) -> Response:
        staff = self.console.staff(request, request.path_params["location_id"])
        transfer_id, action = request.path_params["transfer_id"], request.path_params["action"]
        form = await self.console.form(request)
        request_id = request_id_of(form)
        values = {name: field(form, name) for name in form if isinstance(name, str) and name.startswith("line-")}
        with self.console.acting_as(staff) as client:
            try:
                words = await self._perform(client, staff, action, transfer_id, request_id, form)
            except Refused as invalid:
                return await self.transfer(
                    request, attempt=Attempt(action, invalid.words, request_id, values), status=invalid.status
                )
            except grpc.aio.AioRpcError as error:
                refused = await self.console.services.refusal_on_the_form(error)
                attempt = Attempt(action, refused.words, refused.keep(request_id), values)
                return await self.transfer(request, attempt=attempt, status=refused.status)
        flash(request, words)
        return see_other(f"/at/{staff.location_id}/transfers/{transfer_id}")

    async def _perform(
        self, client: OmnistockClient, staff: Staff, action: str, transfer_id: str, request_id: str, form: FormData
    ) -> str:
        inventory = client.inventory
        if action == "ship":
            await client.call(
                inventory.ShipTransfer, ipb.ShipTransferRequest(request_id=request_id, transfer_id=transfer_id)
            )
            return "Shipped: the items are on their way and show as incoming at the other end."
        if action == "receive":
            found = await self._get(client, staff, transfer_id)
            arrivals = [_arrival(form, index, line.sku) for index, line in enumerate(found.lines)]
            received = (
                await client.call(
                    inventory.ReceiveTransfer,
                    ipb.ReceiveTransferRequest(request_id=request_id, transfer_id=transfer_id, lines=arrivals),
                )
            ).transfer
            good = sum(line.received for line in received.lines)
            damaged = sum(line.damaged for line in received.lines)
            short = sum(line.short for line in received.lines)
            over = sum(line.over for line in received.lines)
            words = f"Received: {good} in good order, {damaged} damaged, {short} missing."
            if over:
                # Taken on hand all the same: said, so that a mistyped figure is seen and corrected.
                words += f" {over} more than were sent arrived and are now in stock here."
            if received.arrival_hold_id:
                words += " What arrived for a customer's reservation is set aside for them: put it at the pickup desk."
            return words
        raise Refused(f"“{action}” is not something a transfer can do.", 404, grpc.StatusCode.NOT_FOUND)


def _arrival(form: FormData, index: int, sku: str) -> ipb.TransferArrival:
    """What arrived of one line, as typed: whole numbers, none when left empty."""
    counts = []
    for part, words in (("received", "in good order"), ("damaged", "damaged")):
        text = field(form, f"line-{index}-{part}") or "0"
        number = whole_number(text, MAX_QUANTITY)
        if number is None:
            raise Refused(f"Say how many of {sku} arrived {words}: a whole number from 0 to {MAX_QUANTITY:,}.", 422)
        counts.append(number)
    return ipb.TransferArrival(sku=sku, received=counts[0], damaged=counts[1])
