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
owners learn what is missing from the event.
"""

from __future__ import annotations

import asyncpg

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages, repository, transfer_repository
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
) -> None:
    """Give `excess` units back from the holds at a locked row (see the module), with a `RELEASE`
    movement per hold and `inventory.hold.shorted`."""
    left = excess
    for candidate in await transfer_repository.holds_to_shorten(conn, key):
        if left == 0:
            break
        quantity = min(left, candidate["open"])
        hold_id = candidate["hold_id"]
        row = await repository.change_stock(conn, key, held=-quantity)
        await ledger.record(conn, outbox, row, kind="release", held_delta=-quantity, hold_id=hold_id, reason=reason)
        await repository.settle_hold_lines(conn, hold_id, [(key, quantity)], "released")
        found = await repository.get_hold(conn, hold_id)
        assert found is not None
        state = settled_state(found[1].values())
        if state is not HoldState(found[0]["state"]):
            await repository.update_hold(conn, hold_id, state=state)
            found = await repository.get_hold(conn, hold_id)
            assert found is not None
        await outbox.add(
            conn,
            "hold.shorted",
            pb.HoldChanged(
                hold=messages.hold(*found),
                lines=[pb.HoldLine(location_id=key.location_id, sku=key.sku, quantity=quantity)],
                shorted_by_transfer_id=transfer_id,
            ),
        )
        left -= quantity
    if left:
        # The rest is held by holds another transaction is settling right now: try the receipt again.
        raise Aborted(f"holds of {key.sku} at {key.location_id} are changing; retry with the same request_id")
