"""Fulfilment holds from a terminal: put an order (or one allocation) on hold while its payment, a
fraud review or an address check is pending, and release it. As the web shop by default; a fraud
review is released by the back office (--role admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import data
from omnistock_cli.hold_view import HoldTtlOption, ReasonOption, hold_request
from omnistock_cli.orders import order_card, order_id_of
from omnistock_platform.auth import Role

HolderRoleOption = Annotated[
    Role | None,
    typer.Option(
        "--role",
        "-r",
        case_sensitive=False,
        help="Call as this role (a token is minted). Default: storefront; the back office (admin) for a fraud review.",
    ),
]


@acting(Role.STOREFRONT, role=HolderRoleOption)
def hold_order(
    order_id: Annotated[str, typer.Argument(metavar="ID", help="The order id, or the start of it (4+ characters).")],
    reason: ReasonOption,
    allocation: Annotated[str, typer.Option("--allocation", help="Hold only this allocation.")] = "",
    ttl: HoldTtlOption = None,
    note: Annotated[str, typer.Option("--note", help="What is being waited for.")] = "",
    *,
    call: Call,
) -> None:
    """Put an order on a fulfilment hold: its stock stays held and no task of it is worked until released."""
    order_id = order_id_of(order_id, call.who(), call.as_json)
    request = pb.HoldOrderRequest(
        request_id=call.request_id,
        order_id=order_id,
        allocation_id=allocation,
        hold=hold_request(reason, note, ttl),
    )
    reply = call.ask(lambda client: client.orders.HoldOrder, request)
    call.emit(data(reply), render=order_card(reply.order, f"Order {order_id} on hold", call.zone(reply.order.store_id)))


@acting(Role.STOREFRONT, role=HolderRoleOption)
def release_order(
    order_id: Annotated[str, typer.Argument(metavar="ID", help="The order id, or the start of it (4+ characters).")],
    hold: Annotated[str, typer.Option("--hold", help="Release only this hold. Default: every active one.")] = "",
    note: Annotated[str, typer.Option("--note", help="Why, e.g. the payment reference.")] = "",
    *,
    call: Call,
) -> None:
    """Release an order's fulfilment hold: its tasks may be worked again."""
    order_id = order_id_of(order_id, call.who(), call.as_json)
    request = pb.ReleaseOrderHoldRequest(
        request_id=call.request_id, order_id=order_id, fulfilment_hold_id=hold, note=note
    )
    released = call.ask(lambda client: client.orders.ReleaseOrderHold, request).order
    call.emit(data(released), render=order_card(released, f"Order {order_id} released", call.zone(released.store_id)))


EXAMPLES = ("omnistock order SOFA-VELVET-BLUE:1 --ship-to 52.52,13.40 --hold payment-pending",)


def register(app: typer.Typer) -> None:
    app.command("hold-order")(hold_order)
    app.command("release-order")(release_order)
