"""Bundles: checking a definition, and the bundle lines of a hold request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import bundle_repository, repository
from omnistock_inventory.domain.bundles import Components, HoldBundle, bundle_available
from omnistock_inventory.domain.holds import LineKey
from omnistock_platform.errors import FailedPrecondition, NotFound, PreconditionViolation, ShortLine
from omnistock_platform.sets import components as set_components
from omnistock_platform.sets import parts


def _refused(sku: str, why: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"{sku} cannot be this bundle: {why}", [PreconditionViolation("BUNDLE_DEFINITION", sku, why)]
    )


async def check_definition(conn: asyncpg.Connection, sku: str, components: Components) -> None:
    """A bundle's components are plain SKUs of the catalogue; the bundle itself is in no other
    bundle and has no stock of its own. Serialised with every other definition change, so that two
    written at once cannot nest."""
    await bundle_repository.lock_definitions(conn)
    found = {row["sku"]: row for row in await repository.get_skus(conn, list(components))}
    for index, component in enumerate(sorted(components)):
        row = found.get(component)
        if row is None:
            raise NotFound("sku", component, field=f"sku.components[{index}].sku")
        if row["components"]:
            raise _refused(sku, f"its component {component} is a bundle itself (bundles do not nest)")
    containing = await bundle_repository.bundles_containing(conn, sku)
    if containing:
        raise _refused(sku, f"it is a component of {', '.join(containing)} (bundles do not nest)")
    if await bundle_repository.has_stock_rows(conn, sku):
        raise _refused(sku, "it has stock rows of its own; a bundle's stock is its components'")


def refuse_stock_of_bundle(sku: str, components: Components) -> None:
    """A bundle has no stock rows: receipts, adjustments and the like go to its components."""
    if components:
        raise FailedPrecondition(
            f"{sku} is a bundle of {', '.join(sorted(components))}: it has no stock of its own;"
            " change its components' stock",
            [PreconditionViolation("BUNDLE_STOCK", sku, "a bundle has no stock rows")],
        )


def bundle_lines(
    lines: list[tuple[LineKey, int]], definitions: Mapping[str, Components]
) -> tuple[list[tuple[str, str, int]], list[HoldBundle]]:
    """A hold's (merged) lines as the component lines to take, and the bundle lines to record."""
    taken: list[tuple[str, str, int]] = []
    bundles = []
    for key, quantity in lines:
        components = set_components(key.sku, definitions)
        if components is not None:
            bundles.append(HoldBundle(key.location_id, key.sku, quantity, dict(components)))
        taken.extend(
            (key.location_id, part, units) for part, units in sorted(parts(key.sku, quantity, definitions).items())
        )
    return taken, bundles


def bundle_shortfall(
    lines: Sequence[tuple[LineKey, int]], bundles: Sequence[HoldBundle], can_have: Mapping[LineKey, int]
) -> list[ShortLine]:
    """The short lines of a hold that had bundle lines, as its caller asked for them: a bundle
    line in whole sets (what its components allow, after the units the hold's plain lines of the
    same components ask for and the sets of its bundle lines before it take), a plain line in units.
    Sets sharing a component at one location draw on the same units: two that each fit alone but not
    together leave the later one short, never no line short at all (which reads as a lost race)."""
    for_bundles: dict[LineKey, int] = {}
    for bundle in bundles:
        for part, units in bundle.components.items():
            key = LineKey(bundle.location_id, part)
            for_bundles[key] = for_bundles.get(key, 0) + bundle.open * units
    short = []
    left: dict[LineKey, int] = {}
    for key, quantity in lines:
        alone = quantity - for_bundles.get(key, 0)  # units of this line the caller asked for by themselves
        can = can_have.get(key, 0)
        if alone > 0 and can < alone:
            short.append(ShortLine(key.location_id, key.sku, alone, can))
        left[key] = max(0, can - max(alone, 0))
    for bundle in bundles:
        sets = bundle_available(
            bundle.components, {part: left.get(LineKey(bundle.location_id, part), 0) for part in bundle.components}
        )
        if sets < bundle.quantity:
            short.append(ShortLine(bundle.location_id, bundle.sku, bundle.quantity, sets))
        for part, units in bundle.components.items():
            key = LineKey(bundle.location_id, part)
            left[key] = left.get(key, 0) - min(sets, bundle.quantity) * units
    return sorted(short, key=lambda line: (line.location_id, line.sku))


def bundle_levels(sku: str, components: Components, parts: Sequence[pb.StockLevel]) -> list[pb.StockLevel]:
    """A bundle's level at every location that has a row of any of its components, from those
    components' levels as the asking channel sees them (`parts`), by location id."""
    by_location: dict[str, dict[str, pb.StockLevel]] = {}
    for part in parts:
        if part.sku in components:
            by_location.setdefault(part.location_id, {})[part.sku] = part
    levels = []
    for location_id, here in sorted(by_location.items()):
        shown = [here.get(part) or pb.StockLevel(location_id=location_id, sku=part) for part in sorted(components)]
        # In sets: those on hand, those free of holds, those free of holds and safety stock.
        on_hand = bundle_available(components, {part.sku: part.on_hand for part in shown})
        free = bundle_available(components, {part.sku: part.on_hand - part.held for part in shown})
        spare = bundle_available(components, {part.sku: part.on_hand - part.held - part.safety_stock for part in shown})
        level = pb.StockLevel(
            location_id=location_id,
            sku=sku,
            on_hand=on_hand,
            held=on_hand - free,
            safety_stock=free - spare,
            available=bundle_available(components, {part.sku: part.available for part in shown}),
            bundle=True,
            components=shown,
        )
        changed = [part.updated_at for part in shown if part.HasField("updated_at")]
        if changed:  # the latest change of any of its components
            level.updated_at.CopyFrom(max(changed, key=lambda at: (at.seconds, at.nanos)))
        levels.append(level)
    return levels
