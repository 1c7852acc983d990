"""Orders from a terminal: a routing quote that says why every other location was passed
over, placing an order (to ship, to pick up, or from a reservation), the list, one order's
status, and cancelling."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages
from rich.console import Group, RenderableType
from rich.text import Text

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_cli import ids
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import (
    StorefrontRoleOption,
    channel_code,
    data,
    label,
    lines_text,
    method_code,
    point,
    sku_quantities,
    status_code,
    when,
)
from omnistock_cli.context import Caller, fail
from omnistock_cli.hold_view import hold_request, hold_rows
from omnistock_cli.output import WideOption, card, styled, table
from omnistock_cli.reservations import customer_key, reservation_id_of
from omnistock_platform.auth import Role

ItemsArgument = Annotated[list[str], typer.Argument(metavar="SKU:QTY", help="What is ordered, e.g. SOFA-X:1.")]
ShipToOption = Annotated[str | None, typer.Option("--ship-to", help="Ship to this point: LAT,LON.")]
RegionOption = Annotated[
    str, typer.Option("--region", help="With --ship-to: the delivery region, e.g. DE-BE (its carrier lead time).")
]
StoreOption = Annotated[str | None, typer.Option("--store", "-s", help="The store for pickup or carry-out.")]
MethodOption = Annotated[
    str | None,
    typer.Option("--method", help="ship, pickup or carry-out. Default: ship with --ship-to, pickup with --store."),
]
ChannelOption = Annotated[
    str | None,
    typer.Option("--channel", help="web, app, chat or pos. Default: the role's own; only an admin may name another."),
]
STATUSES = {
    label(value, pb.OrderStatus, "ORDER_STATUS_").replace(" ", "-"): value for value in pb.OrderStatus.values() if value
}


def _destination(ship_to: str | None, store: str | None, method: str | None) -> tuple[int, pb.Address | None, str]:
    if ship_to and store:
        fail("give --ship-to or --store, not both")
    chosen = method_code(method) if method else None
    if chosen is None:
        if ship_to:
            chosen = common_pb2.FULFILMENT_METHOD_SHIP
        elif store:
            chosen = common_pb2.FULFILMENT_METHOD_PICKUP
        else:
            fail("say where the order goes: --ship-to LAT,LON or --store STORE")
    if chosen == common_pb2.FULFILMENT_METHOD_SHIP and not ship_to:
        fail("shipping needs --ship-to LAT,LON")
    if chosen != common_pb2.FULFILMENT_METHOD_SHIP and not store:
        fail("pickup and carry-out need --store STORE")
    address = pb.Address(point=point(ship_to, "--ship-to")) if ship_to else None
    return chosen, address, store or ""


def _method_name(method: int) -> str:
    return label(method, common_pb2.FulfilmentMethod, "FULFILMENT_METHOD_")


def plan_view(plan: pb.RoutingPlan, title: str) -> RenderableType:
    parts: list[RenderableType] = []
    rows = [
        [
            allocation.location_id,
            "warehouse" if allocation.warehouse else "store",
            lines_text(allocation.lines),
            f"{allocation.distance_km:.1f}",
            allocation.routing_rank,
        ]
        for allocation in plan.allocations
    ]
    verdict = "complete" if plan.complete else styled("incomplete", "red")
    heading = Text.assemble(f"{title}: ", verdict, f", {plan.splits} split(s), {plan.total_distance_km:.1f} km in all")
    parts.append(table(heading, ["location", "kind", "fills", "km", "rank"], rows))
    if plan.unfilled:
        parts.append(Text.assemble(styled("cannot be filled:", "red"), f" {lines_text(plan.unfilled)}"))
    if plan.passed_over:
        passed = [
            [item.location_id, label(item.reason, pb.PassOverReason, "PASS_OVER_REASON_"), item.detail]
            for item in plan.passed_over
        ]
        parts.append(table("passed over", ["location", "reason", "detail"], passed))
    if plan.promise.wording:
        parts.append(Text.assemble("when: ", styled(plan.promise.wording, "bold")))
    if plan.explanation:
        parts.append(styled(plan.explanation, "dim"))
    return Group(*parts)


@acting(Role.STOREFRONT, writes=False, role=StorefrontRoleOption)
def quote(
    items: ItemsArgument,
    ship_to: ShipToOption = None,
    region: RegionOption = "",
    store: StoreOption = None,
    method: MethodOption = None,
    channel: ChannelOption = None,
    max_km: Annotated[float, typer.Option("--max-km", help="Only locations this close (0: the default).")] = 0.0,
    *,
    call: Call,
) -> None:
    """Where an order would be filled from, and why every other location was passed over. Holds nothing."""
    chosen, address, store_id = _destination(ship_to, store, method)
    call = _seller(call, chosen)
    at = [store_id] if store_id else []
    request = pb.QuoteRoutingRequest(
        channel=channel_code(channel, call.who(at=at)),  # type: ignore[arg-type]
        lines=[pb.OrderLineRequest(sku=i.sku, quantity=i.quantity) for i in sku_quantities(items)],
        method=chosen,  # type: ignore[arg-type]
        store_id=store_id,
        options=pb.RoutingOptions(max_distance_km=max_km),
    )
    if address is not None:
        address.region = region
        request.ship_to.CopyFrom(address)
    reply = call.ask(lambda client: client.orders.QuoteRouting, request, at=at)
    call.emit(data(reply.plan), render=plan_view(reply.plan, f"Quote ({_method_name(chosen)})"))
    if not reply.plan.complete:
        raise typer.Exit(1)


def order_card(order: pb.Order, title: str = "", zone: str = "") -> RenderableType:
    """The order, its moments on its store's clock (`zone`; UTC for a delivery)."""
    rows: list[tuple[str, Any]] = [
        ("order", order.order_id),
        ("status", _status_text(order.status)),
        ("method", _method_name(order.method)),
        ("channel", label(order.channel, common_pb2.Channel, "CHANNEL_")),
        ("customer", order.customer_id),
        ("total", f"{order.total_minor / 100:,.2f} {order.currency}" if order.currency else ""),
        ("created", when(order.created_at, zone)),
    ]
    if order.store_id:
        rows.append(("store", order.store_id))
    if order.reservation_id:
        rows.append(("reservation", order.reservation_id))
    if order.ship_to.HasField("point"):
        rows.append(("ship to", f"{order.ship_to.point.latitude:.4f},{order.ship_to.point.longitude:.4f}"))
    if order.promise.wording and order.status != pb.ORDER_STATUS_CANCELLED:  # a cancelled one comes at no time
        rows.append(("when", order.promise.wording))
    for found in order.sets:  # a split set: its parts are the lines naming it
        parts = ", ".join(f"{part.quantity} {part.sku}" for part in found.components)
        rows.append(("set", f"{found.quantity} x {found.sku} (per set: {parts}), {found.fulfilled} fulfilled"))
    rows.extend(hold_rows(order, zone))
    summary = card(title or None, rows)
    lines = table(
        "lines",
        ["#", "sku", "qty", "allocated", "fulfilled", "backordered", "cancelled"],
        [
            [
                line.line_no,
                f"{line.sku} (part of {line.part_of})" if line.part_of else line.sku,
                line.quantity,
                line.allocated,
                line.fulfilled,
                line.backordered,
                line.cancelled,
            ]
            for line in order.lines
        ],
    )
    allocations = table(
        "allocations",
        ["location", "items", "status", "km", "hold"],
        [
            [
                a.location_id,
                lines_text(a.lines),
                label(a.status, pb.AllocationStatus, "ALLOCATION_STATUS_"),
                f"{a.distance_km:.1f}",
                a.hold_id,
            ]
            for a in order.allocations
        ],
    )
    return Group(summary, lines, allocations)


def _status_text(status: int) -> Text:
    text = label(status, pb.OrderStatus, "ORDER_STATUS_")
    colours: dict[int, str] = {pb.ORDER_STATUS_COMPLETED: "blue", pb.ORDER_STATUS_CANCELLED: "yellow"}
    colour = colours.get(status, "green")
    return styled(text, colour)


def _seller(call: Call, method: int) -> Call:
    """A carry-out is sold at the till: pos at the store by default, else the web shop."""
    return call.defaulting(Role.POS) if method == common_pb2.FULFILMENT_METHOD_CARRY_OUT else call


def _customer(customer: str | None) -> str:
    return customer_key(customer) if customer else "walk-in"


@acting(Role.STOREFRONT, role=StorefrontRoleOption)
def order(
    items: Annotated[
        list[str] | None, typer.Argument(metavar="SKU:QTY", help="What is ordered (none with --reservation).")
    ] = None,
    ship_to: ShipToOption = None,
    region: RegionOption = "",
    store: StoreOption = None,
    reservation: Annotated[
        str | None, typer.Option("--reservation", help="Buy what this reservation holds (pickup at its store).")
    ] = None,
    method: MethodOption = None,
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            "-c",
            help="The customer: an id (CUST-…), e-mail, phone or name. Default: the reservation's, else walk-in.",
        ),
    ] = None,
    channel: ChannelOption = None,
    hold: Annotated[
        str | None, typer.Option("--hold", help="Place it on a fulfilment hold: payment-pending, fraud-review, ...")
    ] = None,
    hold_ttl: Annotated[
        str | None, typer.Option("--hold-ttl", help="With --hold: how long before it is cancelled. Default: 3d.")
    ] = None,
    *,
    call: Call,
) -> None:
    """Place an order: routed to the best locations and held all at once (as the web shop by default)."""
    if reservation:
        chosen, address, store_id = int(common_pb2.FULFILMENT_METHOD_PICKUP), None, store or ""
        lines = [pb.OrderLineRequest(sku=i.sku, quantity=i.quantity) for i in sku_quantity_list(items)]
    else:
        chosen, address, store_id = _destination(ship_to, store, method)
        lines = [pb.OrderLineRequest(sku=i.sku, quantity=i.quantity) for i in sku_quantities(items or [])]
    call = _seller(call, chosen)
    at = [store_id] if store_id else []
    who = call.who(at=at)
    reservation_id = reservation_id_of(reservation, who, call.as_json) if reservation else ""
    customer_id = _customer(customer)
    if reservation_id and not customer:  # the reservation's customer buys what it holds
        held = call.ask(
            lambda client: client.reservations.GetReservation, rpb.GetReservationRequest(reservation_id=reservation_id)
        )
        customer_id = held.reservation.customer.customer_id
    request = pb.CreateOrderRequest(
        request_id=call.request_id,
        channel=channel_code(channel, who),  # type: ignore[arg-type]
        customer_id=customer_id,
        lines=lines,
        method=chosen,  # type: ignore[arg-type]
        store_id=store_id,
        reservation_id=reservation_id,
    )
    if address is not None:
        address.region = region
        request.ship_to.CopyFrom(address)
    if hold is not None:
        request.hold.CopyFrom(hold_request(hold, "", hold_ttl))
    placed = call.ask(lambda client: client.orders.CreateOrder, request, at=at).order
    call.emit(data(placed), render=order_card(placed, f"Order {placed.order_id}", call.zone(placed.store_id)))


def sku_quantity_list(items: list[str] | None) -> list[common_pb2.SkuQuantity]:
    return sku_quantities(items) if items else []


@acting(Role.ADMIN, writes=False, works_at=False, after=["wide"])
def orders(
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            "-c",
            help="Only this customer's: an id, or what the order was placed with (its e-mail, else phone, else name).",
        ),
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help=f"One of {', '.join(STATUSES)}.")] = None,
    location: Annotated[
        str | None,
        typer.Option("--location", "-l", help="Only orders with work at this location (where staff roles work)."),
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only orders from this channel.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 200,
    wide: WideOption = False,
    *,
    call: Call,
) -> None:
    """List orders, newest first (role admin by default)."""
    code = status_code(status, STATUSES)
    request = pb.ListOrdersRequest(
        customer_id=_customer(customer) if customer else "",
        status=code,  # type: ignore[arg-type]
        location_id=location or "",
        channel=channel_code(channel) if channel else 0,  # type: ignore[arg-type]
    )

    async def work(client: OmnistockClient) -> list[pb.Order]:
        return await all_pages(client, client.orders.ListOrders, request, "orders", limit=limit)

    found = call.working_at(location).run(work)
    zones = call.zones(item.store_id for item in found)
    rows = [
        [
            item.order_id,
            _status_text(item.status),
            _method_name(item.method),
            label(item.channel, common_pb2.Channel, "CHANNEL_"),
            ", ".join(f"{line.sku} x{line.quantity}" for line in item.lines),
            ", ".join(sorted({a.location_id for a in item.allocations})),
            when(item.created_at, zones.get(item.store_id, "")),
        ]
        for item in found
    ]
    call.emit(
        {"orders": [data(item) for item in found]},
        render=table(
            None,
            ["order", "status", "method", "channel", "items", "locations", "created"],
            rows,
            optional=("created", "channel", "method"),
        )
        if rows
        else _none_of(customer),
        wide=wide,
    )


def _none_of(customer: str | None) -> str:
    """An empty answer that says which customer was asked for: an order keeps only the id its
    customer was given, derived from the e-mail if one was given, else the phone, else the name."""
    if not customer or customer.strip().upper().startswith("CUST-"):
        return "No orders."
    return (
        f"No orders of {customer_key(customer)} (the id {customer.strip()!r} gives). An order placed with an"
        " e-mail is found by that e-mail, else by its phone, else by the name."
    )


OrderArgument = Annotated[str, typer.Argument(metavar="ID", help="The order id, or the start of it (4+ characters).")]


def order_id_of(text: str, who: Caller, as_json: bool) -> str:
    return ids.whole_id(text, ids.orders(), who, as_json=as_json)


@acting(Role.CHAT_AGENT, writes=False, after=["wide"])
def show_order(order_id: OrderArgument, wide: WideOption = False, *, call: Call) -> None:
    """One order: status, lines, allocations per location, and the routing decision."""
    request = pb.GetOrderRequest(order_id=order_id_of(order_id, call.who(), call.as_json))
    found = call.ask(lambda client: client.orders.GetOrder, request).order
    call.emit(data(found), render=order_card(found, f"Order {found.order_id}", call.zone(found.store_id)), wide=wide)


@acting(Role.STOREFRONT, role=StorefrontRoleOption)
def cancel_order(
    order_id: OrderArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the order).")] = "",
    *,
    call: Call,
) -> None:
    """Cancel an order: its holds are released and its tasks withdrawn."""
    request = pb.CancelOrderRequest(
        request_id=call.request_id, order_id=order_id_of(order_id, call.who(), call.as_json), reason=reason
    )
    found = call.ask(lambda client: client.orders.CancelOrder, request).order
    call.emit(data(found), render=order_card(found, f"Cancelled order {found.order_id}", call.zone(found.store_id)))


def sell_request(items: list[str], store: str, customer: str | None, request_id: str) -> pb.CreateOrderRequest:
    """A carry-out sale at a store's till: held and committed at once."""
    return pb.CreateOrderRequest(
        request_id=request_id,
        channel=common_pb2.CHANNEL_POS,
        customer_id=_customer(customer),
        lines=[pb.OrderLineRequest(sku=i.sku, quantity=i.quantity) for i in sku_quantities(items)],
        method=common_pb2.FULFILMENT_METHOD_CARRY_OUT,
        store_id=store,
    )


EXAMPLES = ("omnistock quote SOFA-VELVET-BLUE:1 CHAIR-OAK-NATURAL:2 --ship-to 53.55,9.99",)


def register(app: typer.Typer) -> None:
    app.command("quote")(quote)
    app.command("order")(order)
    app.command("orders")(orders)
    app.command("show-order")(show_order)
    app.command("cancel-order")(cancel_order)
