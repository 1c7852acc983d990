"""Editing an order from a terminal after it was allocated: a line's quantity (0 removes it), a
new line, the delivery address or the pickup store. The order's stock is held in place: what
no longer fits where it is held is routed elsewhere, and an edit nothing can hold changes nothing."""

from __future__ import annotations

from typing import Annotated

import typer

from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import StorefrontRoleOption, data, point
from omnistock_cli.context import fail
from omnistock_cli.orders import OrderArgument, order_card, order_id_of
from omnistock_platform.auth import Role
from omnistock_platform.validation import whole_number


def line_edit(text: str) -> pb.OrderLineEdit:
    """`SKU:QTY` with QTY 0 or more (0 removes the line). A SKU may itself contain ':'."""
    sku, sep, quantity = text.strip().rpartition(":")
    units = whole_number(quantity.strip())
    if not sep or not sku.strip() or units is None:
        fail(f"line {text!r} is not SKU:QTY", hint="for example SOFA-X:2, or SOFA-X:0 to remove the line")
    return pb.OrderLineEdit(sku=sku.strip(), quantity=units)


@acting(Role.STOREFRONT, role=StorefrontRoleOption)
def edit_order(
    order_id: OrderArgument,
    items: Annotated[
        list[str] | None,
        typer.Argument(metavar="SKU:QTY", help="New quantities: 0 removes a line, a new SKU adds one."),
    ] = None,
    ship_to: Annotated[str | None, typer.Option("--ship-to", help="Ship to this point instead: LAT,LON.")] = None,
    name: Annotated[str, typer.Option("--name", help="With --ship-to: the recipient.")] = "",
    store: Annotated[str | None, typer.Option("--store", "-s", help="Pick up at this store instead.")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the order's decision record).")] = "",
    *,
    call: Call,
) -> None:
    """Edit an order after allocation, all or nothing: its holds change in place (as the web shop by default)."""
    if not items and ship_to is None and store is None:
        fail("nothing to change", hint="give SKU:QTY lines, --ship-to LAT,LON or --store STORE")
    request = pb.EditOrderRequest(
        request_id=call.request_id,
        order_id=order_id_of(order_id, call.who(), call.as_json),
        lines=[line_edit(item) for item in items or []],
        store_id=store or "",
        reason=reason,
    )
    if ship_to is not None:
        request.ship_to.CopyFrom(pb.Address(name=name, point=point(ship_to, "--ship-to")))
    edited = call.ask(lambda client: client.orders.EditOrder, request).order
    call.emit(data(edited), render=order_card(edited, f"Edited order {edited.order_id}", call.zone(edited.store_id)))


EXAMPLES = ("omnistock edit-order ORDER-ID SOFA-VELVET-BLUE:2 LAMP-FLOOR-BRASS:0 --reason 'customer called'",)


def register(app: typer.Typer) -> None:
    app.command("edit-order")(edit_order)
