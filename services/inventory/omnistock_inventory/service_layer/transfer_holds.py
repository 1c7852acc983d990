"""Ship to store: the holds that keep a transfer's units for someone (a reservation) at both ends.

- At creation the units are held at the origin for the owner (a set as its components, all or
  nothing, recorded as the hold's bundle line, as every hold of a set is), under the rule of every hold for a
  remote channel (safety stock respected, nothing promised on incoming units), as the back office
  (the hold's channel: a transfer is no sale of a shop's), so only the back office's pools, if it
  has any, bound it: nobody else can buy them before they ship.
- Shipping takes them out of that hold: on hand and held drop together at the origin, and the hold's
  lines are settled (released into the transfer), so the units are counted once, in transit.
- Receiving holds the units that arrived (up to what was shipped) at the destination for the same
  owner, in the receipt's transaction: nobody can buy them between the receipt and the hold. A set is
  held again as a set, as far as its components arrived whole (domain/bundles.py, `whole_sets_arrived`).
- Cancelling the draft releases the origin hold.

Every function runs in the transfer action's transaction, on stock rows locked in the one lock order
(the hold row first, then stock rows by location and SKU, as holds settle).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import bundle_repository, messages, pool_repository, repository
from omnistock_inventory.domain.bundles import HoldBundle
from omnistock_inventory.domain.holds import HoldState, LineKey, settled_state, take_from_open
from omnistock_inventory.domain.stock import Channel, channel_available
from omnistock_inventory.service_layer import ledger
from omnistock_inventory.service_layer.bundles import bundle_shortfall
from omnistock_inventory.service_layer.taking import ShortOnRows, Taken, take, write_taken
from omnistock_platform.auth import current_principal
from omnistock_platform.errors import FailedPrecondition, PreconditionViolation, Reason, Shortfall, ShortLine
from omnistock_platform.events.outbox import Outbox
from omnistock_platform.logging import request_id_var

# A hold for a transfer is taken by inventory on a caller's behalf, not at a till or a web shop.
CHANNEL = Channel.BACKOFFICE


async def _changed(conn: asyncpg.Connection, hold_id: str, touched: Sequence[tuple[LineKey, int]]) -> pb.HoldChanged:
    found = await repository.get_hold(conn, hold_id)
    assert found is not None
    hold = messages.hold(*found)
    lines = [pb.HoldLine(location_id=key.location_id, sku=key.sku, quantity=quantity) for key, quantity in touched]
    return pb.HoldChanged(hold=hold, lines=lines)


async def _write_hold(
    conn: asyncpg.Connection,
    outbox: Outbox,
    owner: str,
    expires_at: datetime,
    rows: Sequence[tuple[Mapping[str, Any], int]],
    document: str,
    sets: Sequence[HoldBundle] = (),
) -> str:
    """The hold of units taken on `rows` (each as the take left it, with its SKU's backorder flag, and
    the quantity), with the sets among them, written by the one writer of a taken hold."""
    hold = Taken(
        request=pb.HoldRequest(owner=owner),
        hold_id=str(uuid.uuid4()),
        channel=CHANNEL,
        expires_at=expires_at,
        created_at=rows[0][0]["now"],
        rows=list(rows),
        actor=current_principal().subject,
        request_id=request_id_var.get(),
        reason=f"held for {owner}",
        document=document,
        bundles=list(sets),
    )
    await write_taken(conn, outbox, None, [hold])
    return hold.hold_id


async def hold_at_origin(
    conn: asyncpg.Connection,
    outbox: Outbox,
    owner: str,
    origin_id: str,
    lines: Sequence[tuple[str, int]],
    expires_at: datetime,
    document: str,
    sets: Sequence[HoldBundle] = (),
) -> str:
    """Holds every line (plain units per SKU, the components of `sets` among them) at the origin for
    the owner, all or nothing; a Shortfall names the short lines, a set's in whole sets."""
    keys = [LineKey(origin_id, sku) for sku, _ in lines]
    try:
        changed = await take(
            conn,
            [(key, quantity, False, CHANNEL.value) for key, (_, quantity) in zip(keys, lines, strict=True)],
            backorder=False,
        )
    except ShortOnRows as short:  # the transfer's transaction rolls back whatever was taken
        rows = {
            row["sku"]: row
            for row in await repository.stock_rows(conn, skus=[k.sku for k in keys], location_ids=[origin_id])
        }
        wanted = dict(lines)
        pools = await pool_repository.pools_of(conn, CHANNEL.value)
        can_have = {
            key: channel_available(
                messages.counters(rows[key.sku]),
                None if pools is None else pools.get(origin_id, []),
                use_safety_stock=False,
            )[0]
            if key.sku in rows
            else 0
            for key in keys
        }
        if sets:  # as asked: a set's line in whole sets, a plain line in its own units
            raise Shortfall(bundle_shortfall([(key, wanted[key.sku]) for key in keys], sets, can_have)) from None
        raise Shortfall([ShortLine(origin_id, key.sku, wanted[key.sku], can_have[key]) for key in short.keys]) from None
    return await _write_hold(
        conn,
        outbox,
        owner,
        expires_at,
        [(changed[key], qty) for key, (_, qty) in zip(keys, lines, strict=True)],
        document,
        sets,
    )


async def lock_origin_hold(
    conn: asyncpg.Connection, hold_id: str, transfer_id: str, wanted: dict[LineKey, int]
) -> None:
    """The origin hold, locked, still keeping every line of the transfer: else nothing ships (the
    reservation it was for has ended, and the units went back to stock)."""
    found = await repository.get_hold(conn, hold_id, lock=True)
    assert found is not None, f"transfer {transfer_id} names hold {hold_id}, which does not exist"
    row, lines = found
    state = HoldState(row["state"])
    keeps = state is HoldState.ACTIVE and all(
        key in lines and lines[key].open == quantity for key, quantity in wanted.items()
    )
    if not keeps:
        raise FailedPrecondition(
            f"transfer {transfer_id} brings units held for {row['owner']}, whose hold {hold_id} is {state.value}"
            " and no longer keeps them; cancel the transfer",
            [PreconditionViolation("HOLD_STATE", hold_id, f"hold is {state.value}")],
            reason=Reason.INVALID_STATE,
        )


async def ship_held(
    conn: asyncpg.Connection,
    outbox: Outbox,
    hold_id: str,
    key: LineKey,
    quantity: int,
    reason: str,
    document: str,
    backorder: bool,
) -> asyncpg.Record:
    """One held line leaves the origin: on hand and held drop together, in one ledger movement."""
    row = await repository.change_stock(conn, key, on_hand=-quantity, held=-quantity)
    await ledger.record(
        conn,
        outbox,
        row,
        kind="transfer_out",
        on_hand_delta=-quantity,
        held_delta=-quantity,
        hold_id=hold_id,
        reason=reason,
        document_ref=document,
        backorder=backorder,
    )
    return row


async def settle_shipped(
    conn: asyncpg.Connection, outbox: Outbox, hold_id: str, shipped: list[tuple[LineKey, int]]
) -> None:
    """The origin hold's units left on the transfer: its lines close (released into the transfer)."""
    await repository.settle_hold_lines(conn, hold_id, shipped, "released")
    await _release_sets(conn, hold_id)
    await _close(conn, outbox, hold_id, shipped)


async def _release_sets(conn: asyncpg.Connection, hold_id: str) -> None:
    """The hold's open sets close with their components' units (shipped or given back)."""
    sets = await bundle_repository.hold_bundles(conn, hold_id)
    await bundle_repository.settle_hold_bundles(
        conn, hold_id, [(key, bundle.open) for key, bundle in sets.items()], "released"
    )


async def _close(conn: asyncpg.Connection, outbox: Outbox, hold_id: str, touched: list[tuple[LineKey, int]]) -> None:
    found = await repository.get_hold(conn, hold_id)
    assert found is not None
    state = settled_state(found[1].values())
    await repository.update_hold(conn, hold_id, state=state)
    await outbox.add(conn, "hold.released", await _changed(conn, hold_id, touched))


async def release_origin(conn: asyncpg.Connection, outbox: Outbox, hold_id: str, reason: str) -> None:
    """The draft is cancelled: the units its hold kept at the origin are available again."""
    found = await repository.get_hold(conn, hold_id, lock=True)
    if found is None or HoldState(found[0]["state"]) is not HoldState.ACTIVE:
        return  # expired or released already: nothing is kept
    changes = take_from_open(found[1], None)
    for key, quantity in changes:
        row = await repository.change_stock(conn, key, held=-quantity)
        await ledger.record(conn, outbox, row, kind="release", held_delta=-quantity, hold_id=hold_id, reason=reason)
    await repository.settle_hold_lines(conn, hold_id, changes, "released")
    await _release_sets(conn, hold_id)
    await _close(conn, outbox, hold_id, changes)


async def hold_arrival(
    conn: asyncpg.Connection,
    outbox: Outbox,
    owner: str,
    destination_id: str,
    arrived: Sequence[tuple[str, int]],
    expires_at: datetime,
    document: str,
    sets: Sequence[HoldBundle] = (),
) -> str:
    """Holds the units that arrived at the destination for the owner (the components of `sets`, at the
    destination, among them), on rows the receipt locked and just put them on hand on: they are there,
    so the hold always fits."""
    wanted = [(LineKey(destination_id, sku), quantity) for sku, quantity in arrived if quantity > 0]
    if not wanted:
        return ""
    rows = {LineKey(row["location_id"], row["sku"]): row for row in await repository.add_held(conn, wanted)}
    backorder = {
        row["sku"]: bool(row["allow_backorder"])
        for row in await repository.get_skus(conn, [key.sku for key, _ in wanted])
    }
    taken = [({**rows[key], "allow_backorder": backorder[key.sku]}, qty) for key, qty in wanted]
    return await _write_hold(conn, outbox, owner, expires_at, taken, document, sets)
