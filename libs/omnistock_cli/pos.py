"""The store till: a carry-out sale (held and committed at once, safety stock may be sold
because the item is in front of the customer) and a customer's return (a return created and
received in one call, the same path as `omnistock returns`). Collecting a
reservation at the till is `omnistock collect` (reservations)."""

from __future__ import annotations

from typing import Annotated

import typer

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import INT64_MAX, data
from omnistock_cli.context import fail
from omnistock_cli.orders import order_card, order_id_of, sell_request
from omnistock_cli.returns import CONDITIONS, return_card
from omnistock_platform.auth import Role

StoreOption = Annotated[str, typer.Option("--store", "-s", help="The store the till is in.")]


@acting(Role.POS)
def sell(
    items: Annotated[list[str], typer.Argument(metavar="SKU:QTY", help="What the customer takes, e.g. LAMP-X:2.")],
    store: StoreOption,
    customer: Annotated[
        str | None, typer.Option("--customer", "-c", help="The customer, if known: an id, e-mail, phone or name.")
    ] = None,
    *,
    call: Call,
) -> None:
    """Sell at the till (role pos at the store): a carry-out order, completed at once."""
    request = sell_request(items, store, customer, call.request_id)
    sold = call.ask(lambda client: client.orders.CreateOrder, request, at=[store]).order
    call.emit(data(sold), render=order_card(sold, f"Sold at {store}: order {sold.order_id}", call.zone(store)))


@acting(Role.POS)
def return_(
    sku: Annotated[
        str, typer.Argument(metavar="SKU", help="The SKU brought back; a set's SKU: the whole set, all its parts.")
    ],
    quantity: Annotated[
        int, typer.Argument(metavar="QTY", min=1, max=INT64_MAX, help="Units (sets, for a set's SKU) brought back.")
    ],
    store: StoreOption,
    order: Annotated[
        str,
        typer.Option(
            "--order",
            help="The order the units were sold on, or the start of its id (its returnable units are checked).",
        ),
    ] = "",
    ref: Annotated[str, typer.Option("--ref", help="The receipt of the original sale, kept with the reason.")] = "",
    note: Annotated[str, typer.Option("--note", help="Why it came back.")] = "",
    condition: Annotated[
        str, typer.Option("--condition", help=f"What the units are fit for: {', '.join(CONDITIONS)}.")
    ] = "restock",
    *,
    call: Call,
) -> None:
    """Take back a customer's return at the till: a return created and received at once; restocked
    units go back on hand at the store (a RETURN movement filed under the return). A whole set comes
    back by its SKU: the condition applies to every part, each part's movement names the set."""
    code = CONDITIONS.get(condition.strip().lower())
    if code is None:
        fail(f"unknown condition {condition!r}", hint=f"one of {', '.join(CONDITIONS)}")
    reason = " ".join(part for part in (note, f"(receipt {ref})" if ref else "") if part)
    request = opb.CreateReturnRequest(
        request_id=call.request_id,
        order_id=order_id_of(order, call.who(), call.as_json) if order else "",
        lines=[opb.ReturnLineRequest(sku=sku, quantity=quantity)],
        location_id=store,
        reason=reason,
        receive_now=[opb.InspectedLine(sku=sku, condition=code, quantity=quantity)],
        channel=common_pb2.CHANNEL_UNSPECIFIED if order else common_pb2.CHANNEL_POS,
    )
    found = call.ask(lambda client: client.orders.CreateReturn, request, at=[store]).order_return
    call.emit(data(found), render=return_card(found, f"Returned {quantity} of {sku} at {store}", call.zone(store)))


EXAMPLES = ("omnistock sell LAMP-TABLE-OPAL:1 --store STORE-BER-MITTE",)


def register(app: typer.Typer) -> None:
    app.command("sell")(sell)
    app.command("return")(return_)
