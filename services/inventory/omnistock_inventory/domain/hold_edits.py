"""A hold changed in place: what each line's new open units mean for the line and the stock row,
and what a set's new number of open sets means for its components."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from omnistock_inventory.domain.bundles import Components, HoldBundle
from omnistock_inventory.domain.holds import HoldLine, LineKey
from omnistock_platform.errors import FailedPrecondition, PreconditionViolation, Reason


@dataclass(frozen=True)
class LineEdit:
    """One line of one hold: its open units before and after, and the line's new total."""

    hold_id: str
    key: LineKey
    open_before: int
    open_after: int
    settled: int  # committed + released: never changed by an edit

    @property
    def delta(self) -> int:
        """Units taken (positive) or given back (negative) on the stock row."""
        return self.open_after - self.open_before

    @property
    def quantity_after(self) -> int:
        return self.settled + self.open_after


def plan_line_edits(
    hold_id: str, lines: dict[LineKey, HoldLine], wanted: list[tuple[LineKey, int, int]]
) -> list[LineEdit]:
    """`wanted`: (key, new open, expected open). Refused as a whole when any line's open units are not
    what the caller expected (a commit, release or expiry it did not see happened in between)."""
    edits, changed = [], []
    for key, open_after, expected in wanted:
        line = lines.get(key)
        open_before = line.open if line is not None else 0
        if open_before != expected:
            changed.append(
                PreconditionViolation(
                    "HOLD_LINE_CHANGED",
                    f"{hold_id}/{key.location_id}/{key.sku}",
                    f"{open_before} open, not the {expected} expected",
                )
            )
            continue
        settled = (line.committed + line.released) if line is not None else 0
        edits.append(LineEdit(hold_id, key, open_before, open_after, settled))
    if changed:
        raise FailedPrecondition(
            f"hold {hold_id} changed since it was read: " + "; ".join(v.description for v in changed),
            changed,
            reason=Reason.PRECONDITION_FAILED,
        )
    return [edit for edit in edits if edit.delta != 0]


@dataclass(frozen=True)
class SetEdit:
    """A hold's bundle line set to a new number of open sets; `bundle` as the hold has it now (no
    sets yet for one the hold did not have at that location). Its components move by its units per
    set as held: more sets take them, fewer give them back; committed sets stay as they are."""

    hold_id: str
    bundle: HoldBundle
    open_after: int

    @property
    def key(self) -> LineKey:
        return self.bundle.key

    @property
    def delta(self) -> int:
        """Sets taken (positive) or given back (negative)."""
        return self.open_after - self.bundle.open

    def parts(self) -> list[tuple[LineKey, int]]:
        """Units of each component row taken (positive) or given back (negative)."""
        return [
            (LineKey(self.bundle.location_id, part), self.delta * units)
            for part, units in sorted(self.bundle.components.items())
        ]


def plan_set_edits(
    hold_id: str,
    bundles: Mapping[LineKey, HoldBundle],
    wanted: list[tuple[LineKey, int, int]],
    definitions: Mapping[str, Components],
) -> tuple[list[tuple[LineKey, int, int]], list[SetEdit]]:
    """`wanted` split into the changes of plain lines and those of sets. A line naming a set SKU is
    in sets: where the hold holds that set, as its bundle line records it (the set as held, not a
    redefinition since); elsewhere as a new bundle line, with the components the hold holds that set
    with at another location, or else its definition (`definitions`). A set's open sets must be what
    the caller expected (HOLD_LINE_CHANGED, as for any line), and a component of a set that changes
    is not changed alone in the same adjustment (BUNDLE_COMPONENT): which of its units would be the
    set's could not be told."""
    plain: list[tuple[LineKey, int, int]] = []
    edits: list[SetEdit] = []
    changed: list[PreconditionViolation] = []
    for key, open_after, expected in wanted:
        held = bundles.get(key)
        if held is None:
            components: Components | None = next((b.components for b in bundles.values() if b.sku == key.sku), None)
            components = components or definitions.get(key.sku)
            if not components:
                plain.append((key, open_after, expected))
                continue
            held = HoldBundle(key.location_id, key.sku, 0, dict(components))
        if held.open != expected:
            changed.append(
                PreconditionViolation(
                    "HOLD_LINE_CHANGED",
                    f"{hold_id}/{key.location_id}/{key.sku}",
                    f"{held.open} sets open, not the {expected} expected",
                )
            )
        elif open_after != held.open:
            edits.append(SetEdit(hold_id, held, open_after))
    if changed:
        raise FailedPrecondition(
            f"hold {hold_id} changed since it was read: " + "; ".join(v.description for v in changed),
            changed,
            reason=Reason.PRECONDITION_FAILED,
        )
    moving = {key: edit.key.sku for edit in edits for key, _ in edit.parts()}
    for key, open_after, expected in plain:
        if key in moving and open_after != expected:
            raise FailedPrecondition(
                f"{key.sku} at {key.location_id} is a component of the set {moving[key]} changed in the same"
                " adjustment: change the set and its component alone separately",
                [PreconditionViolation("BUNDLE_COMPONENT", f"{key.location_id}/{key.sku}", "its set changes too")],
            )
    return plain, edits
