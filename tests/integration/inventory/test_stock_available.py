"""stock.available: published with exactly the stock changes that leave units available after giving
them, the same payload as their stock.changed; never with a hold's or a sale's, so a consumer that
waits for stock (orders' backorders) is not sent every hold."""

from __future__ import annotations

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.events.envelope import unpack_payload
from omnistock_platform.testing.stack import unique_id
from tests.integration.inventory.test_holds import hold_request


async def published(db: Database, location: str, sku: str) -> list[tuple[str, pb.StockChanged]]:
    """The row's stock events in outbox order: (type, payload)."""
    rows = await db.fetch("SELECT envelope FROM inventory.outbox WHERE subject LIKE '%.inventory.stock.%' ORDER BY id")
    found = []
    for row in rows:
        envelope = common_pb2.EventEnvelope.FromString(bytes(row["envelope"]))
        payload = unpack_payload(envelope)
        if isinstance(payload, pb.StockChanged) and (payload.level.location_id, payload.level.sku) == (location, sku):
            found.append((envelope.type, payload))
    return found


async def test_stock_available_goes_with_the_changes_that_give_units_and_never_with_a_hold(catalogue, db) -> None:
    store = await catalogue.location()
    sku = await catalogue.sku()
    inventory = catalogue.admin
    await catalogue.receive(store, sku, 5)
    first = (await inventory.Hold(hold_request([(store, sku, 3)]))).hold
    second = (await inventory.Hold(hold_request([(store, sku, 2)]))).hold  # nothing left available
    await inventory.ReleaseHold(pb.ReleaseHoldRequest(request_id=unique_id(), hold_id=first.hold_id))
    await inventory.CommitHold(
        pb.CommitHoldRequest(
            request_id=unique_id(),
            hold_id=second.hold_id,
            lines=[pb.HoldLineRequest(location_id=store, sku=sku, quantity=2)],
        )
    )
    sold = (
        await inventory.Hold(
            hold_request([(store, sku, 1)], channel=common_pb2.CHANNEL_POS, selling_location_id=store, commit_now=True)
        )
    ).hold
    assert sold.state == pb.HOLD_STATE_COMMITTED

    events = await published(db, store, sku)
    changed = [payload for kind, payload in events if kind == "inventory.stock.changed"]
    available = [payload for kind, payload in events if kind == "inventory.stock.available"]
    assert [(change.cause, change.level.available) for change in changed] == [
        (pb.MOVEMENT_KIND_RECEIPT, 5),
        (pb.MOVEMENT_KIND_HOLD, 2),
        (pb.MOVEMENT_KIND_HOLD, 0),
        (pb.MOVEMENT_KIND_RELEASE, 3),
        (pb.MOVEMENT_KIND_COMMIT, 3),
        (pb.MOVEMENT_KIND_HOLD, 2),
        (pb.MOVEMENT_KIND_COMMIT, 2),
    ]
    # The receipt's and the release's changes, each announced once, with the same payload.
    assert available == [changed[0], changed[3]]
    # Each right after its stock.changed, in outbox order (a consumer of both sees them in order).
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["inventory.stock.changed", "inventory.stock.available"]
    assert kinds.count("inventory.stock.available") == 2


async def test_a_change_that_leaves_nothing_available_is_not_announced(catalogue, db) -> None:
    store = await catalogue.location()
    sku = await catalogue.sku()
    await catalogue.receive(store, sku, 2)
    await catalogue.admin.Hold(hold_request([(store, sku, 2)]))
    await catalogue.admin.SetSafetyStock(
        pb.SetSafetyStockRequest(request_id=unique_id(), location_id=store, sku=sku, safety_stock=1)
    )
    events = await published(db, store, sku)
    assert [(kind, payload.cause) for kind, payload in events] == [
        ("inventory.stock.changed", pb.MOVEMENT_KIND_RECEIPT),
        ("inventory.stock.available", pb.MOVEMENT_KIND_RECEIPT),
        ("inventory.stock.changed", pb.MOVEMENT_KIND_HOLD),
        ("inventory.stock.changed", pb.MOVEMENT_KIND_SAFETY_STOCK),
    ]
