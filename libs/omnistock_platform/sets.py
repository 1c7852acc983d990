"""Sets (bundle SKUs) as the plain units they move.

A set has no stock of its own: a line naming it stands for its components, each `quantity` times its
units per set. Holds, transfers, returns and `omnistock verify` all turn lines that may name sets
into the units of plain SKUs with `expand`; a SKU without a definition is a plain SKU and passes
through as it is. Pure: no service, database or grpc import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Per set SKU: units of each component in one set.
Definitions = Mapping[str, Mapping[str, int]]


class InvalidSet(ValueError):
    """A set definition that cannot be expanded: it names no component, a component with fewer than
    one unit per set, or itself (a set is made of plain SKUs)."""

    def __init__(self, sku: str, problem: str) -> None:
        super().__init__(f"set {sku} {problem}")
        self.sku = sku
        self.problem = problem


def components(sku: str, definitions: Definitions) -> Mapping[str, int] | None:
    """The definition of `sku` when it is a set (units of each component per set), None for a plain
    SKU; InvalidSet when its definition cannot be expanded."""
    found = definitions.get(sku)
    if not found:
        return None
    for part, per_set in found.items():
        if per_set < 1:
            raise InvalidSet(sku, f"has {per_set} units of {part} per set")
        if part == sku:
            raise InvalidSet(sku, "names itself as a component")
    return found


def parts(sku: str, quantity: int, definitions: Definitions) -> dict[str, int]:
    """The plain units `quantity` of `sku` stands for: a set's components by their units per set, or
    the SKU itself."""
    found = components(sku, definitions)
    if found is None:
        return {sku: quantity}
    return {part: quantity * per_set for part, per_set in found.items()}


def expand(lines: Mapping[str, int] | Iterable[tuple[str, int]], definitions: Definitions) -> dict[str, int]:
    """Lines (per SKU, or (SKU, quantity) pairs) that may name sets, as the units of plain SKUs they
    move: a set as its components, merged with plain lines (and other sets) of the same SKU, in the
    order the SKUs first appear."""
    units: dict[str, int] = {}
    for sku, quantity in lines.items() if isinstance(lines, Mapping) else lines:
        for part, count in parts(sku, quantity, definitions).items():
            units[part] = units.get(part, 0) + count
    return units
