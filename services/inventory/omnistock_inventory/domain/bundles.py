"""Bundles: a SKU made of components, available as far as its components allow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from omnistock_inventory.domain.holds import HoldLine, LineKey, merge_lines, take_from_open
from omnistock_platform.errors import FailedPrecondition, FieldViolation, InvalidArgument, PreconditionViolation
from omnistock_platform.sets import components as set_components
from omnistock_platform.sets import expand

# A bundle names at most this many components, each at most this many units per bundle.
MAX_COMPONENTS = 20
MAX_UNITS_PER_BUNDLE = 1000

Components = Mapping[str, int]  # component SKU -> units in one bundle


def bundle_available(components: Components, available: Mapping[str, int]) -> int:
    """Whole bundles that `available` (per component SKU, by the one availability rule) makes:
    the least, over the components, of what is available divided by the units one bundle needs.
    A component with nothing available (or no row) makes none."""
    if not components:
        return 0
    return min(max(0, available.get(sku, 0)) // quantity for sku, quantity in components.items())


@dataclass
class HoldBundle:
    """A bundle line of a hold: `quantity` sets of `sku` at `location_id`, whose component units
    (`components` per set, as the bundle was defined when held) sit on the hold's lines."""

    location_id: str
    sku: str
    quantity: int
    components: dict[str, int]
    committed: int = 0
    released: int = 0

    @property
    def open(self) -> int:
        return self.quantity - self.committed - self.released

    @property
    def key(self) -> LineKey:
        return LineKey(self.location_id, self.sku)


def kept_for_sets(bundles: Mapping[LineKey, HoldBundle]) -> dict[LineKey, int]:
    """Units of each component line a hold keeps for its open sets."""
    kept: dict[LineKey, int] = {}
    for bundle in bundles.values():
        for part, units in bundle.components.items():
            key = LineKey(bundle.location_id, part)
            kept[key] = kept.get(key, 0) + bundle.open * units
    return kept


def refuse_edit_of_sets(bundles: Mapping[LineKey, HoldBundle], changes: Iterable[tuple[LineKey, int]]) -> None:
    """A hold edit of plain lines (new open units per line) leaves a hold's sets whole: a component
    keeps the units its open sets take (the set changes by its own line, in sets)."""
    kept = kept_for_sets(bundles)
    for key, open_after in changes:
        if open_after < kept.get(key, 0):
            raise FailedPrecondition(
                f"{key.sku} at {key.location_id} is held for a set: change the set's line, which moves all"
                " its components together",
                [PreconditionViolation("BUNDLE_COMPONENT", f"{key.location_id}/{key.sku}", "held for a bundle")],
            )


def settling(
    lines: Mapping[LineKey, HoldLine], bundles: Mapping[LineKey, HoldBundle], wanted: list[tuple[LineKey, int]] | None
) -> tuple[list[tuple[LineKey, int]], list[tuple[LineKey, int]]]:
    """What a commit or release of `wanted` (None: everything open) applies to: (component lines,
    bundle lines). A wanted line naming one of the hold's bundles settles that many sets, so each
    of its components by its units per set. Units a component line holds for open bundles move
    only with their bundle line: settling them alone is refused."""
    if not wanted:
        everything = [(key, bundle.open) for key, bundle in sorted(bundles.items()) if bundle.open > 0]
        return take_from_open(dict(lines), None), everything
    sets: dict[LineKey, int] = {}
    plain: list[tuple[str, str, int]] = []
    violations = []
    for index, (key, quantity) in enumerate(wanted):
        bundle = bundles.get(key)
        if bundle is None:
            plain.append((key.location_id, key.sku, quantity))
        elif quantity > bundle.open:
            violations.append(
                FieldViolation(
                    f"lines[{index}].quantity", f"only {bundle.open} sets of {key.sku} are open in this hold"
                )
            )
        else:
            sets[key] = quantity
            plain.extend((key.location_id, part, quantity * units) for part, units in bundle.components.items())
    if violations:
        raise InvalidArgument(violations)
    changes = take_from_open(dict(lines), merge_lines(plain))
    settled = dict(changes)
    for key, line in lines.items():
        kept_for_bundles = sum(
            (bundle.open - sets.get(bundle.key, 0)) * bundle.components.get(key.sku, 0)
            for bundle in bundles.values()
            if bundle.location_id == key.location_id
        )
        if line.open - settled.get(key, 0) < kept_for_bundles:
            names = sorted(
                b.sku for b in bundles.values() if b.location_id == key.location_id and key.sku in b.components
            )
            raise FailedPrecondition(
                f"{key.sku} at {key.location_id} is held for bundle {', '.join(names)}: commit or release the"
                " bundle line, which moves all its components together",
                [PreconditionViolation("BUNDLE_COMPONENT", f"{key.location_id}/{key.sku}", "held for a bundle")],
            )
    return changes, sorted(sets.items())


def shortening(
    key: LineKey, units: int, lines: Mapping[LineKey, HoldLine], bundles: Mapping[LineKey, HoldBundle]
) -> tuple[list[tuple[LineKey, int]], list[tuple[LineKey, int]]]:
    """What a hold gives back when `units` of `key` it holds will not exist (a transfer received
    short): (component lines, bundle lines). Units of it held alone go first; beyond them, whole
    sets that take it, each with every component (a set is never left without a part), so up to a
    set's units less one of `key` and the set's other parts go back too."""
    line = lines.get(key)
    if line is None:
        return [], []
    alone = min(units, max(0, line.open - kept_for_sets(bundles).get(key, 0)))
    changes: dict[LineKey, int] = {key: alone} if alone else {}
    left = units - alone
    sets: list[tuple[LineKey, int]] = []
    for bundle_key, bundle in sorted(bundles.items()):
        per_set = bundle.components.get(key.sku, 0)
        if left <= 0:
            break
        if bundle.location_id != key.location_id or per_set == 0 or bundle.open == 0:
            continue
        count = min(bundle.open, -(-left // per_set))
        sets.append((bundle_key, count))
        for part, part_units in bundle.components.items():
            part_key = LineKey(key.location_id, part)
            changes[part_key] = changes.get(part_key, 0) + count * part_units
        left -= min(left, count * per_set)
    return sorted(changes.items()), sets


def expand_sets(
    location_id: str, lines: Iterable[tuple[str, int]], definitions: Mapping[str, Components]
) -> tuple[dict[str, int], list[HoldBundle]]:
    """Lines that may name sets, as the plain units they move (per SKU, a set's components by its
    units per set, merged with plain lines of the same SKU) and the sets (bundle lines at `location_id`)."""
    lines = list(lines)
    sets = [
        HoldBundle(location_id, sku, quantity, dict(found))
        for sku, quantity in lines
        if (found := set_components(sku, definitions)) is not None
    ]
    return expand(lines, definitions), sets


def whole_sets_arrived(
    location_id: str, sets: Iterable[HoldBundle], carried: Mapping[str, int], arrived: Mapping[str, int]
) -> tuple[dict[str, int], list[HoldBundle]]:
    """What of a transfer's units (`carried` per SKU, the components of `sets` among them) is kept for
    its owner once `arrived` of them are there: the sets first, each whole (as many as every component
    allows, in the order given), then the plain units up to what was carried for themselves. Units of a
    set that came incomplete are kept for nobody. Returns (units kept per SKU, the sets kept at
    `location_id`)."""
    wanted = list(sets)
    left = {sku: min(arrived.get(sku, 0), carried[sku]) for sku in carried}
    plain = dict(carried)
    kept = dict.fromkeys(carried, 0)
    kept_sets = []
    for bundle in wanted:
        for part, per_set in bundle.components.items():
            plain[part] -= bundle.quantity * per_set
    for bundle in wanted:
        whole = min(bundle.quantity, bundle_available(bundle.components, left))
        if whole > 0:
            kept_sets.append(HoldBundle(location_id, bundle.sku, whole, dict(bundle.components)))
            for part, per_set in bundle.components.items():
                left[part] -= whole * per_set
                kept[part] += whole * per_set
    for sku in carried:
        kept[sku] += min(left[sku], plain[sku])
    return {sku: units for sku, units in kept.items() if units > 0}, kept_sets
