"""Taking units for holds, and the one writer of a taken hold.

Every hold is taken the same way whichever path brought it (alone, with others on its row, with
others on other rows, a till sale): its units are taken by a conditional update (the availability
rule lives in that SQL, `repository.channel_available_sql`: the calling channel's pools bound what
it may take), and then `write_taken` writes it, its lines, its ledger movements, its events and its
answer in one statement. A till sale is a hold committed at once: the same writer also writes its
commit. Ship to store's holds (service_layer/transfer_holds.py) are written by it too: they answer
no request of their own, and their movements name the transfer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import bundle_repository, messages, repository
from omnistock_inventory.domain.bundles import HoldBundle
from omnistock_inventory.domain.holds import HoldLine, HoldState, LineKey
from omnistock_inventory.domain.stock import Channel
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.statement import Statement

HOLD_KIND = messages.MOVEMENT_KINDS["hold"]
COMMIT_KIND = messages.MOVEMENT_KINDS["commit"]


class ShortOnRows(Exception):
    """A line was short: the transaction rolls back, then the caller decides what to answer."""

    def __init__(self, keys: list[LineKey]) -> None:
        self.keys = keys


async def take(
    conn: asyncpg.Connection, lines: Sequence[tuple[LineKey, int, bool, str]], *, backorder: bool = True
) -> dict[LineKey, Mapping[str, Any]]:
    """Take units on rows: `lines` are (row, quantity, whether safety stock may be used, the calling
    channel, whose pools bound what it may take). One row is one conditional update; several are
    locked in one statement in lock order (so that concurrent multi-line holds never deadlock), then
    changed in one. Without `backorder` (a sale now) units on their way do not count. Returns each
    row as the take left it (with its SKU's backorder flag and the transaction's timestamp); raises
    `ShortOnRows` when any row is short, and the caller's transaction rolls back whatever was taken."""
    if len(lines) == 1:
        ((key, quantity, use_safety_stock, channel),) = lines
        row = await repository.take_units(
            conn, key, quantity, use_safety_stock=use_safety_stock, backorder=backorder, channel=channel
        )
        if row is None:
            raise ShortOnRows([key])
        return {key: row}
    await repository.lock_rows(conn, [key for key, _, _, _ in lines])
    changed = {
        LineKey(row["location_id"], row["sku"]): row
        for row in await repository.take_locked_units(conn, lines, backorder=backorder)
    }
    short = [key for key, _, _, _ in lines if key not in changed]
    if short:
        raise ShortOnRows(short)
    return changed


@dataclass
class Taken:
    """A hold whose units are taken: everything needed to write it and answer it."""

    request: pb.HoldRequest
    hold_id: str
    channel: Channel
    expires_at: datetime
    created_at: datetime
    rows: list[tuple[Mapping[str, Any], int]]  # each row as this hold left it, and the quantity taken
    actor: str
    request_id: str
    # The trace of its caller's request, for its events; None: the current one.
    traceparent: str | None = None
    # The bundle lines it was asked for; their components' units are among `rows`.
    bundles: list[HoldBundle] = field(default_factory=list)
    # Why, and under which document, its movements are booked ("held for <owner>", "transfer:<id>").
    reason: str = ""
    document: str = ""
    _response: pb.HoldResponse | None = field(default=None, repr=False)

    @property
    def sold(self) -> bool:
        """A till sale: held and committed at once."""
        return self.request.commit_now

    @property
    def response(self) -> pb.HoldResponse:
        if self._response is None:
            lines = {}
            for row, quantity in self.rows:
                key = LineKey(row["location_id"], row["sku"])
                lines[key] = HoldLine(key, quantity, committed=quantity if self.sold else 0)
            record = {
                "hold_id": self.hold_id,
                "owner": self.request.owner,
                "channel": self.channel.value,
                "state": (HoldState.COMMITTED if self.sold else HoldState.ACTIVE).value,
                "expires_at": self.expires_at,
                "created_at": self.created_at,
            }
            bundles = [replace(b, committed=b.quantity) if self.sold else b for b in self.bundles]
            self._response = pb.HoldResponse(hold=messages.hold(record, lines, bundles))  # type: ignore[arg-type]
        return self._response


async def write_taken(
    conn: asyncpg.Connection, outbox: Outbox, idempotency: IdempotencyStore | None, holds: Sequence[Taken]
) -> None:
    """The holds, their lines, one ledger movement and one stock.changed per row, one hold.created
    each, and each answer for retries of its request id; for a sale, its commit too (a movement and
    a stock.changed per row, and hold.committed): one statement. Without `idempotency` the holds
    answer no request of their own (a transfer's: the transfer action answers its request)."""
    movements: list[tuple[Any, ...]] = []
    events = []
    sold: list[tuple[str, str, int]] = []
    for hold in holds:
        # The answer gives each row as the hold left it, the level its event carries (built once).
        levels = hold.response.levels
        del levels[:]
        for row, quantity in hold.rows:
            movements.append(_movement(hold, row, "hold", 0, quantity))
            level = messages.stock_level(row, backorder=row["allow_backorder"])
            change = pb.StockChanged(level=level, cause=HOLD_KIND, hold_id=hold.hold_id)
            events.append(outbox.prepare("stock.changed", change, hold.request_id, hold.traceparent))
            if not hold.sold:
                levels.append(level)
        if hold.sold:
            for row, quantity in hold.rows:
                # The row as the sale's commit leaves it, in this same statement (the row is locked).
                after = {
                    **row,
                    "on_hand": row["on_hand"] - quantity,
                    "held": row["held"] - quantity,
                    "version": row["version"] + 1,
                }
                sold.append((row["location_id"], row["sku"], quantity))
                movements.append(_movement(hold, after, "commit", -quantity, -quantity))
                level = messages.stock_level(after)
                change = pb.StockChanged(level=level, cause=COMMIT_KIND, hold_id=hold.hold_id)
                events.append(outbox.prepare("stock.changed", change, hold.request_id, hold.traceparent))
                levels.append(level)
        message = hold.response.hold
        changed = pb.HoldChanged(hold=message, lines=message.lines)
        events.append(outbox.prepare("hold.created", changed, hold.request_id, hold.traceparent))
        if hold.sold:
            events.append(outbox.prepare("hold.committed", changed, hold.request_id, hold.traceparent))
    statement = Statement()
    repository.add_taken(
        statement,
        holds=[
            (
                h.hold_id,
                h.request.owner,
                h.channel.value,
                (HoldState.COMMITTED if h.sold else HoldState.ACTIVE).value,
                h.expires_at,
            )
            for h in holds
        ],
        lines=[
            (h.hold_id, row["location_id"], row["sku"], quantity, quantity if h.sold else 0)
            for h in holds
            for row, quantity in h.rows
        ],
        movements=movements,
        sold=sold,
    )
    bundle_repository.add_hold_bundles(
        statement,
        [(h.hold_id, replace(b, committed=b.quantity if h.sold else 0)) for h in holds for b in h.bundles],
    )
    outbox.add_many(statement, events)
    if idempotency is not None:
        idempotency.save_many(statement, [(h.request.request_id, h.response) for h in holds])
    await statement.execute(conn)


def _movement(hold: Taken, row: Mapping[str, Any], kind: str, on_hand_delta: int, held_delta: int) -> tuple[Any, ...]:
    return (
        row["location_id"],
        row["sku"],
        kind,
        hold.reason,
        on_hand_delta,
        held_delta,
        row["on_hand"],
        row["held"],
        row["safety_stock"],
        row["version"],
        hold.hold_id,
        hold.actor,
        hold.request_id,
        hold.document,
    )
