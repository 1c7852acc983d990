"""Catalogue set-ups the tests share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.testing.stack import unique_id


async def define_set(
    inventory: Any, components: Mapping[str, int], *, sku: str = "", title: str = "Sofa set", **fields: Any
) -> str:
    """Define a set (bundle) SKU of `components` (units of each per set) through inventory's
    UpsertSku and return its SKU: `sku`, or a new "SET-…" one. `fields` are the Sku's other fields
    (price_minor, currency, attributes, allow_split)."""
    sku = sku or unique_id("SET-")
    await inventory.UpsertSku(
        pb.UpsertSkuRequest(
            request_id=unique_id(),
            sku=pb.Sku(
                sku=sku,
                title=title,
                components=[pb.BundleComponent(sku=part, quantity=units) for part, units in components.items()],
                **fields,
            ),
        )
    )
    return sku
