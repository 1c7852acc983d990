"""The store till: a carry-out sale (held and committed at once, safety stock may be sold
because the item is in front of the customer) and a customer's return. Collecting a
reservation at the till is `omnistock collect` (reservations)."""

from __future__ import annotations

from typing import Annotated

import typer
from omnistock_client import OmnistockClient, new_request_id

from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock_cli.commands import PosRoleOption, RequestIdOption, caller, data
from omnistock_cli.context import JsonOption, TokenOption, WorksAtOption, call_services
from omnistock_cli.orders import order_card, sell_at_till, sell_request
from omnistock_cli.output import emit, table
from omnistock_cli.stock import LEVEL_COLUMNS, LEVEL_OPTIONAL, level_row
from omnistock_platform.auth import Role

StoreOption = Annotated[str, typer.Option("--store", "-s", help="The store the till is in.")]


def sell(
    items: Annotated[list[str], typer.Argument(metavar="SKU:QTY...", help="What the customer takes, e.g. LAMP-X:2.")],
    store: StoreOption,
    customer: Annotated[
        str | None, typer.Option("--customer", "-c", help="The customer, if known: an id, e-mail, phone or name.")
    ] = None,
    request_id: RequestIdOption = None,
    role: PosRoleOption = None,
    works_at: WorksAtOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sell at the till (role pos at the store): a carry-out order, completed at once."""
    request = sell_request(items, store, customer, request_id)
    sold = sell_at_till(request, caller(Role.POS, role, works_at, token, at=[store]), as_json)
    emit(data(sold), as_json=as_json, render=order_card(sold, f"Sold at {store}: order {sold.order_id}"))


def return_(
    sku: Annotated[str, typer.Argument(help="The SKU brought back.")],
    quantity: Annotated[int, typer.Argument(metavar="QTY", min=1, help="Units brought back.")],
    store: StoreOption,
    ref: Annotated[str, typer.Option("--ref", help="The receipt or order of the original sale.")] = "",
    note: Annotated[str, typer.Option("--note", help="Why it came back.")] = "",
    request_id: RequestIdOption = None,
    role: PosRoleOption = None,
    works_at: WorksAtOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take back a customer's return at the till: the units go back on hand at the store."""
    request = ipb.AdjustStockRequest(
        request_id=request_id or new_request_id(),
        location_id=store,
        sku=sku,
        reason=ipb.ADJUSTMENT_REASON_RETURN,
        delta=quantity,
        document_ref=ref,
        note=note,
    )

    async def work(client: OmnistockClient) -> ipb.AdjustStockResponse:
        return await client.call(client.inventory.AdjustStock, request)

    reply = call_services(work, caller(Role.POS, role, works_at, token, at=[store]), as_json=as_json)
    emit(
        {"level": data(reply.level)},
        as_json=as_json,
        render=table(
            f"returned {quantity} of {sku} at {store}",
            LEVEL_COLUMNS,
            [level_row(reply.level, None)],
            optional=LEVEL_OPTIONAL,
        ),
    )


EXAMPLES = ("omnistock sell LAMP-TABLE-OPAL:1 --store STORE-BER-MITTE",)


def register(app: typer.Typer) -> None:
    app.command("sell")(sell)
    app.command("return")(return_)
