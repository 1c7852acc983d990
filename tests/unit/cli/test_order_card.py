"""How the CLI shows an order with a split set: the set once, its parts as lines naming it."""

from __future__ import annotations

import io

from rich.console import Console

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock_cli.orders import order_card


def test_an_order_card_shows_the_split_set_and_its_parts() -> None:
    order = opb.Order(
        order_id="ORD-1",
        status=opb.ORDER_STATUS_ALLOCATED,
        currency="EUR",
        total_minor=139900,
        lines=[
            opb.OrderLine(line_no=1, sku="SOFA", quantity=1, part_of="SOFA-SET"),
            opb.OrderLine(line_no=2, sku="CUSHION", quantity=2, part_of="SOFA-SET"),
        ],
        sets=[
            opb.OrderSet(
                sku="SOFA-SET",
                quantity=1,
                unit_price_minor=139900,
                currency="EUR",
                components=[
                    common_pb2.SkuQuantity(sku="SOFA", quantity=1),
                    common_pb2.SkuQuantity(sku="CUSHION", quantity=2),
                ],
            )
        ],
    )
    out = io.StringIO()
    Console(file=out, width=160, color_system=None, highlight=False).print(order_card(order))
    text = out.getvalue()
    assert "1 x SOFA-SET (per set: 1 SOFA, 2 CUSHION), 0 fulfilled" in text
    assert "CUSHION (part of SOFA-SET)" in text
