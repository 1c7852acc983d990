"""Reservations for in-store pickup from a terminal: reserve (as the chat agent by default),
list, show, extend, cancel, and collect at the till with the pickup code."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages, customer_id_for
from rich.console import Group
from rich.text import Text

from omnistock.common.v1 import common_pb2
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_cli import ids
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import (
    INT64_MAX,
    channel_code,
    data,
    duration,
    label,
    lines_text,
    status_code,
    until,
    when,
)
from omnistock_cli.context import Caller
from omnistock_cli.output import FittedTable, WideOption, card, styled, table
from omnistock_platform.auth import Role

STATUSES = {
    label(value, pb.ReservationStatus, "RESERVATION_STATUS_").replace(" ", "-"): value
    for value in pb.ReservationStatus.values()
    if value
}
OPEN = (
    pb.RESERVATION_STATUS_ACTIVE,
    pb.RESERVATION_STATUS_READY_FOR_PICKUP,
    pb.RESERVATION_STATUS_AWAITING_TRANSFER,
)


def status_text(status: int) -> Text:
    text = label(status, pb.ReservationStatus, "RESERVATION_STATUS_")
    colour: str = {
        int(pb.RESERVATION_STATUS_ACTIVE): "green",
        int(pb.RESERVATION_STATUS_READY_FOR_PICKUP): "bold green",
        int(pb.RESERVATION_STATUS_COLLECTED): "blue",
        int(pb.RESERVATION_STATUS_AWAITING_TRANSFER): "cyan",
    }.get(status, "yellow")
    return styled(text, colour)


def reservation_card(reservation: pb.Reservation, title: str = "", zone: str = "") -> FittedTable:
    """The reservation, its moments on the store's clock (`zone`, else UTC)."""
    customer = reservation.customer
    contact = " ".join(part for part in (customer.email, customer.phone) if part)
    rows: list[tuple[str, Any]] = [
        ("reservation", reservation.reservation_id),
        ("status", status_text(reservation.status)),
        ("pickup code", styled(reservation.pickup_code, "bold")),
        ("store", reservation.store_id),
        ("items", lines_text(reservation.lines)),
        ("customer", f"{customer.name} ({customer.customer_id}) {contact}".strip()),
        ("channel", label(reservation.channel, common_pb2.Channel, "CHANNEL_")),
        ("created", when(reservation.created_at, zone)),
    ]
    if reservation.status in OPEN:  # a closed one no longer runs out: `closed` says when it ended
        rows.insert(len(rows) - 1, ("expires", until(reservation.expires_at, zone)))
    if reservation.transfer_id:
        rows.append(("coming from", f"{reservation.transfer_origin_id} (transfer {reservation.transfer_id})"))
        rows.append(("promised", when(reservation.promised_at, zone)))
    if reservation.promise.wording and reservation.status in OPEN:  # a closed one promises nothing
        rows.append(("when", reservation.promise.wording))
    if reservation.ready_at.seconds:
        rows.append(("ready since", when(reservation.ready_at, zone)))
    if reservation.closed_at.seconds:
        rows.append(("closed", when(reservation.closed_at, zone)))
    if reservation.order_id:
        rows.append(("order", reservation.order_id))
    if reservation.cancel_reason:
        rows.append(("reason", reservation.cancel_reason))
    return card(title or None, rows)


def _show(reservation: pb.Reservation, title: str, call: Call) -> None:
    call.emit(data(reservation), render=reservation_card(reservation, title, call.zone(reservation.store_id)))


@acting(Role.CHAT_AGENT)
def reserve(
    sku: Annotated[
        list[str], typer.Argument(metavar="SKU", help="The SKU to set aside; several SKUs make several lines.")
    ],
    store: Annotated[str, typer.Option("--store", "-s", help="The store where the customer collects.")],
    customer: Annotated[str, typer.Option("--customer", "-c", help="The customer's name.")],
    email: Annotated[str, typer.Option("--email", help="The customer's e-mail (also their identity).")] = "",
    phone: Annotated[str, typer.Option("--phone", help="The customer's phone number.")] = "",
    customer_id: Annotated[
        str, typer.Option("--customer-id", help="The customer's id. Default: derived from e-mail, phone or name.")
    ] = "",
    quantity: Annotated[int, typer.Option("--qty", "-q", min=1, max=INT64_MAX, help="Units of each SKU.")] = 1,
    hold_for: Annotated[
        str | None, typer.Option("--hold-for", help="How long to keep it, e.g. 2d. Default: the channel's default.")
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option("--channel", help="web, app or chat. Default: the role's own; only an admin may name another."),
    ] = None,
    ship_to_store: Annotated[
        bool,
        typer.Option(
            "--ship-to-store",
            help="If the store is short, bring the items from the nearest location that has them (a transfer).",
        ),
    ] = False,
    *,
    call: Call,
) -> None:
    """Reserve items at a store for pickup (as the chat agent by default): prints the pickup code and expiry;
    with --ship-to-store a short store is served by a transfer, and the expected arrival is printed too."""
    request = pb.CreateReservationRequest(
        request_id=call.request_id,
        channel=channel_code(channel, call.who(at=[store])),  # type: ignore[arg-type]
        customer=pb.Customer(
            customer_id=customer_id or customer_id_for(customer, email, phone),
            name=customer,
            email=email,
            phone=phone,
        ),
        store_id=store,
        lines=[common_pb2.SkuQuantity(sku=item, quantity=quantity) for item in sku],
        allow_ship_to_store=ship_to_store,
    )
    if hold_for:
        request.hold_for.CopyFrom(duration_pb2.Duration(seconds=int(duration(hold_for, "--hold-for").total_seconds())))
    found = call.ask(lambda client: client.reservations.CreateReservation, request, at=[store]).reservation
    title = f"Reserved at {store}: pickup code {found.pickup_code}"
    if found.status == pb.RESERVATION_STATUS_AWAITING_TRANSFER:
        title += f", coming from {found.transfer_origin_id}, expected {when(found.promised_at, call.zone(store))}"
    _show(found, title, call)


def customer_key(value: str) -> str:
    """A customer as given: an id (CUST-…), or the e-mail, phone or name the reservation was made with."""
    text = value.strip()
    if text.upper().startswith("CUST-"):
        return text
    if "@" in text:
        return customer_id_for("", email=text)
    if _phone_like(text):
        return customer_id_for("", phone=text)
    return customer_id_for(text)


def _phone_like(text: str) -> bool:
    return bool(text) and all(ch.isdigit() or ch in "+ ()-" for ch in text)


def customer_matches(customer: pb.Customer, value: str) -> bool:
    """Whether a reservation's customer is the one given by an e-mail, phone or name: the identity is
    derived from the e-mail if the reservation was made with one, else the phone, else the name, so a
    customer looked for by another of them is found by the contact details the reservation keeps."""
    text = value.strip()
    if customer.customer_id == customer_key(text):
        return True
    if "@" in text:
        return customer.email.strip().lower() == text.lower()
    if _phone_like(text):
        digits = re.sub(r"[^0-9+]", "", text)
        return bool(digits) and re.sub(r"[^0-9+]", "", customer.phone) == digits
    return " ".join(customer.name.lower().split()) == " ".join(text.lower().split())


# ListReservations answers at most this many a page.
MAX_PAGE = 500
# Roles that see only the reservations of a customer they name by id (ListReservations).
CHANNEL_ROLES = frozenset({Role.STOREFRONT, Role.APP, Role.CHAT_AGENT})


ListerRoleOption = Annotated[
    Role | None,
    typer.Option(
        "--role",
        "-r",
        case_sensitive=False,
        help="Call as this role. Default: pos at --store, else chat_agent with a --customer id, else admin.",
    ),
]


@acting(Role.ADMIN, writes=False, role=ListerRoleOption, after=["wide"])
def reservations(
    store: Annotated[str | None, typer.Option("--store", "-s", help="Only this store's reservations.")] = None,
    customer: Annotated[
        str | None, typer.Option("--customer", "-c", help="Only this customer's: an id, e-mail, phone or name.")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help=f"Only this status: {', '.join(STATUSES)}.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 200,
    wide: WideOption = False,
    *,
    call: Call,
) -> None:
    """List reservations: a store's (as its staff), a customer's, or all (admin). A customer given by
    e-mail, phone or name is found by any of them the reservation was made with (as the back office,
    or the store's staff with --store); a channel role (--role chat_agent) finds only those whose
    identity that one gives (the e-mail if the reservation was made with one, else the phone, else
    the name)."""
    code = status_code(status, STATUSES)
    by_id = bool(customer) and (customer or "").strip().upper().startswith("CUST-")
    channel = call.role in CHANNEL_ROLES
    call = call.defaulting(Role.POS if store else Role.CHAT_AGENT if by_id else Role.ADMIN)
    request = pb.ListReservationsRequest(
        store_id=store or "",
        customer_id=customer_key(customer) if customer and (by_id or channel) else "",
        status=code,  # type: ignore[arg-type]
    )

    async def work(client: OmnistockClient) -> list[pb.Reservation]:
        if not customer or request.customer_id:
            return await all_pages(client, client.reservations.ListReservations, request, "reservations", limit=limit)
        page = pb.ListReservationsRequest()
        page.CopyFrom(request)
        page.page_size = MAX_PAGE
        matching: list[pb.Reservation] = []
        while len(matching) < limit:
            reply = await client.call(client.reservations.ListReservations, page)
            matching.extend(item for item in reply.reservations if customer_matches(item.customer, customer))
            if not reply.next_page_token:
                break
            page.page_token = reply.next_page_token
        return matching[:limit]

    found = call.run(work, at=[store] if store else [])
    zones = call.zones(item.store_id for item in found)
    rows = [
        [
            item.reservation_id,
            status_text(item.status),
            item.pickup_code,
            item.store_id,
            lines_text(item.lines),
            item.customer.name,
            until(item.expires_at, zones.get(item.store_id, ""))
            if item.status in OPEN
            else when(item.closed_at, zones.get(item.store_id, "")),
        ]
        for item in found
    ]
    call.emit(
        {"reservations": [data(item) for item in found]},
        render=table(
            None,
            ["reservation", "status", "code", "store", "items", "customer", "expires / closed"],
            rows,
            optional=("customer", "expires / closed"),
        )
        if rows
        else "No reservations.",
        wide=wide,
    )


ReservationArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The reservation id, or the start of it (at least 4 characters).")
]


def reservation_id_of(text: str, who: Caller, as_json: bool) -> str:
    return ids.whole_id(text, ids.reservations(), who, as_json=as_json)


@acting(Role.CHAT_AGENT, writes=False)
def show_reservation(reservation_id: ReservationArgument, *, call: Call) -> None:
    """Show one reservation: status, pickup code, store, items and expiry."""
    request = pb.GetReservationRequest(reservation_id=reservation_id_of(reservation_id, call.who(), call.as_json))
    _show(call.ask(lambda client: client.reservations.GetReservation, request).reservation, "", call)


@acting(Role.CHAT_AGENT)
def extend_reservation(
    reservation_id: ReservationArgument,
    by: Annotated[str, typer.Option("--by", help="How much longer to keep it, e.g. 1d or 12h.")],
    *,
    call: Call,
) -> None:
    """Keep a reservation longer."""
    extra = duration(by, "--by")
    request = pb.ExtendReservationRequest(
        request_id=call.request_id,
        reservation_id=reservation_id_of(reservation_id, call.who(), call.as_json),
        extend_by=duration_pb2.Duration(seconds=int(extra.total_seconds())),
    )
    _show(
        call.ask(lambda client: client.reservations.ExtendReservation, request).reservation, f"Extended by {by}", call
    )


@acting(Role.CHAT_AGENT)
def cancel_reservation(
    reservation_id: ReservationArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the reservation).")] = "",
    *,
    call: Call,
) -> None:
    """Cancel a reservation: its units go back to available stock at once."""
    request = pb.CancelReservationRequest(
        request_id=call.request_id,
        reservation_id=reservation_id_of(reservation_id, call.who(), call.as_json),
        reason=reason,
    )
    _show(call.ask(lambda client: client.reservations.CancelReservation, request).reservation, "Cancelled", call)


@acting(Role.POS)
def collect(
    code: Annotated[str, typer.Argument(metavar="CODE", help="The pickup code the customer shows.")],
    store: Annotated[str, typer.Option("--store", "-s", help="The store the till is in.")],
    *,
    call: Call,
) -> None:
    """At the till: the customer's pickup code completes the sale (role pos at the store)."""
    request = pb.CollectReservationRequest(request_id=call.request_id, store_id=store, pickup_code=code.strip())
    sold = call.ask(lambda client: client.reservations.CollectReservation, request, at=[store]).reservation
    title = f"Collected at {store}: {lines_text(sold.lines)} sold"
    call.emit(data(sold), render=Group(reservation_card(sold, title, call.zone(store))))


EXAMPLES = (
    "omnistock reserve SOFA-VELVET-GREEN --store STORE-BER-MITTE --customer 'Ada Lovelace' --email ada@example.com",
)


def register(app: typer.Typer) -> None:
    app.command("reserve")(reserve)
    app.command("reservations")(reservations)
    app.command("show-reservation")(show_reservation)
    app.command("extend-reservation")(extend_reservation)
    app.command("cancel-reservation")(cancel_reservation)
    app.command("collect")(collect)
