"""A hold changed in place: what each line's new open units mean for the line and the stock row."""

from __future__ import annotations

from dataclasses import dataclass

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
