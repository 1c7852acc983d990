"""Units in transit promised to channels, and what a short receipt does to those promises.

A pool with `allow_transfer_in_transit` lets its channel hold units shipped on transfers to the
pool's locations before they arrive (the one availability rule, `domain.stock.channel_available`),
so at such a row `held` may exceed `on_hand` by up to the promisable units in transit. Every stock
row keeps

    held <= on_hand + incoming (backorderable SKU) + in_transit - in_transit_reserved

(a check constraint holds the database to the weaker bound with every SKU's incoming; `omnistock
verify` checks this one). A transfer received short or damaged brings fewer units than were in
transit: when the units left no longer cover what is held, the receipt gives the difference back
from the holds at that row — first those of channels whose pool there promises units in transit,
newest first — in its own transaction, before the units are booked, and publishes
`inventory.hold.shorted` for each hold it shortened. The holds stay active with what is left; their
owners learn what is missing from the event. A hold's set (bundle line) that takes the missing units
goes back in whole sets, with its other components, and the event names the set's SKU in sets: a
set is never left held without one of its parts.
"""

from __future__ import annotations

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import bundle_repository, messages, repository, transfer_repository
from omnistock_inventory.domain.bundles import shortening
from omnistock_inventory.domain.holds import HoldState, LineKey, settled_state
from omnistock_inventory.service_layer import ledger
from omnistock_platform.errors import Aborted
from omnistock_platform.events.outbox import Outbox


def excess_after_receipt(
    row: asyncpg.Record, *, received: int, shipped: int, reserved: bool, arrival_held: int, backorder: bool
) -> int:
    """Units held at a destination row beyond what will exist once a transfer's line is received:
    on hand plus `received`, in transit less `shipped` (less the reserved units if the transfer
    brought them for its own owner), and `arrival_held` units held for that owner at once."""
    on_hand = row["on_hand"] + received
    promisable = (row["in_transit"] - shipped) - (row["in_transit_reserved"] - (shipped if reserved else 0))
    incoming = row["incoming"] if backorder else 0
    return max(0, row["held"] + arrival_held - (on_hand + incoming + promisable))


async def shorten(
    conn: asyncpg.Connection, outbox: Outbox, key: LineKey, excess: int, *, transfer_id: str, reason: str
) -> dict[LineKey, asyncpg.Record]:
    """Give `excess` units back from the holds at a locked row (see the module), with a `RELEASE`
    movement per hold and row and `inventory.hold.shorted`. A hold's set that takes the units goes
    back whole, with its other components (rows at the same location): the stock rows it changed,
    as they are now, are answered, so that the receipt reads them afresh."""
    left = excess
    changed: dict[LineKey, asyncpg.Record] = {}
    for candidate in await transfer_repository.holds_to_shorten(conn, key):
        if left == 0:
            break
        hold_id = candidate["hold_id"]
        found = await repository.get_hold(conn, hold_id)
        assert found is not None
        bundles = await bundle_repository.hold_bundles(conn, hold_id)
        changes, sets = shortening(key, min(left, candidate["open"]), found[1], bundles)
        for line_key, quantity in changes:
            row = await repository.change_stock(conn, line_key, held=-quantity)
            await ledger.record(conn, outbox, row, kind="release", held_delta=-quantity, hold_id=hold_id, reason=reason)
            changed[line_key] = row
        await repository.settle_hold_lines(conn, hold_id, changes, "released")
        if sets:
            await bundle_repository.settle_hold_bundles(conn, hold_id, sets, "released")
        found = await repository.get_hold(conn, hold_id)
        assert found is not None
        state = settled_state(found[1].values())
        if state is not HoldState(found[0]["state"]):
            await repository.update_hold(conn, hold_id, state=state)
            found = await repository.get_hold(conn, hold_id)
            assert found is not None
        # What went, in the owner's terms: a set by its SKU in whole sets, the units of `key` held alone.
        gone = [(bundle_key.sku, count) for bundle_key, count in sets]
        alone = dict(changes).get(key, 0) - sum(count * bundles[b].components[key.sku] for b, count in sets)
        if alone:
            gone.append((key.sku, alone))
        await outbox.add(
            conn,
            "hold.shorted",
            pb.HoldChanged(
                hold=messages.hold(*found, (await bundle_repository.hold_bundles(conn, hold_id)).values()),
                lines=[pb.HoldLine(location_id=key.location_id, sku=sku, quantity=units) for sku, units in gone],
                shorted_by_transfer_id=transfer_id,
            ),
        )
        left -= min(left, dict(changes).get(key, 0))
    if left:
        # The rest is held by holds another transaction is settling right now: try the receipt again.
        raise Aborted(f"holds of {key.sku} at {key.location_id} are changing; retry with the same request_id")
    return changed
