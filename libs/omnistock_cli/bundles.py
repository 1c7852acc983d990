"""Bundles from a terminal: define a set (a sofa with two cushions) as a SKU of components."""

from __future__ import annotations

from typing import Annotated

import grpc
import typer
from omnistock_client import OmnistockClient

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import INT64_MAX, data
from omnistock_cli.context import fail
from omnistock_cli.output import table
from omnistock_platform.auth import Role
from omnistock_platform.validation import whole_number


def parse_component(text: str) -> pb.BundleComponent:
    """`SKU=QTY` (or just `SKU`: one unit per set)."""
    sku, sep, quantity = text.strip().rpartition("=")
    if not sep:
        sku, quantity = text.strip(), "1"
    units = whole_number(quantity)
    if not sku or not units:
        fail(f"--component {text!r} is not SKU=QTY", hint="for example --component CUSHION-VELVET-GREEN=2")
    return pb.BundleComponent(sku=sku, quantity=units)


def describe(sku: pb.Sku) -> str:
    """A bundle's components in words: "1 x SOFA + 2 x CUSHION"; empty for a plain SKU."""
    return " + ".join(f"{component.quantity} x {component.sku}" for component in sku.components)


@acting(Role.ADMIN, works_at=False)
def bundle(
    sku: Annotated[
        str, typer.Argument(metavar="SKU", help="The bundle's SKU code (new, or a SKU without stock of its own).")
    ],
    component: Annotated[
        list[str],
        typer.Option("--component", "-c", help="A component and its units per set, SKU=QTY; repeat for each."),
    ],
    title: Annotated[str, typer.Option("--title", help="Display title. Default: the SKU's current title.")] = "",
    price_minor: Annotated[
        int | None,
        typer.Option(
            "--price-minor", min=0, max=INT64_MAX, help="Price of one set in cents. Default: unchanged (new: 0)."
        ),
    ] = None,
    allow_split: Annotated[
        bool,
        typer.Option(
            "--allow-split/--one-location",
            help="May an order take the components from different locations? Default: one location.",
        ),
    ] = False,
    *,
    call: Call,
) -> None:
    """Define a bundle (a set or kit): a SKU made of components, available as far as they allow,
    held, sold and picked as a whole. Attributes and currency of an existing SKU stay as they are."""
    components = [parse_component(text) for text in component]

    async def work(client: OmnistockClient) -> pb.UpsertSkuResponse:
        try:
            current = (await client.call(client.inventory.GetSku, pb.GetSkuRequest(sku=sku))).sku
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            current = pb.Sku(sku=sku, title=title)
        wanted = pb.Sku()
        wanted.CopyFrom(current)
        wanted.title = title or current.title
        if price_minor is not None:
            wanted.price_minor = price_minor
        del wanted.components[:]
        wanted.components.extend(components)
        wanted.allow_split = allow_split
        request = pb.UpsertSkuRequest(request_id=call.request_id, sku=wanted)
        return await client.call(client.inventory.UpsertSku, request)

    stored = call.run(work).sku
    call.emit(
        {"sku": data(stored)},
        render=table(
            f"bundle {stored.sku}",
            ["sku", "title", "components", "ships"],
            [
                [
                    stored.sku,
                    stored.title,
                    describe(stored),
                    "split allowed" if stored.allow_split else "from one location",
                ]
            ],
        ),
    )


EXAMPLES = (
    "omnistock bundle SOFA-SET-GREEN --title 'Green sofa with two cushions'"
    " -c SOFA-VELVET-GREEN=1 -c CUSHION-VELVET-GREEN=2",
)


def register(app: typer.Typer) -> None:
    app.command("bundle")(bundle)
