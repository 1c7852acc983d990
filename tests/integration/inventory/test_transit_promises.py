"""Units in transit promised to the channels whose pools allow it (`allow_transfer_in_transit`):
reads and holds at the destination count the units shipped there for those channels only, never
the units a ship-to-store transfer brings for its own reservation; a short receipt gives back what
will never arrive from the holds that promised it (`inventory.hold.shorted`); and however many
clients race, the allowed channel never holds more than on hand plus in transit, the others never
more than on hand.

Pools are set per channel for the whole database, so these tests run on a stack of their own."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters.transfer_checks import TRANSFER_CHECKS
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.db import Database
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.inventory.conftest import Catalogue
from tests.integration.inventory.test_holds import hold_request
from tests.integration.inventory.test_pools import group, level, own_db, set_pools, shop

__all__ = ["own_db", "shop"]  # fixtures shared with test_pools

WEB, APP, POS = common_pb2.CHANNEL_WEB, common_pb2.CHANNEL_APP, common_pb2.CHANNEL_POS


class _RolledBack(Exception):
    pass


async def shipped(shop: Catalogue, origin: str, destination: str, sku: str, quantity: int, **fields: str) -> str:
    """A transfer of `quantity` units, created and shipped: in transit at `destination`."""
    transfer = (
        await shop.admin.CreateTransfer(
            pb.CreateTransferRequest(
                request_id=unique_id(),
                origin_location_id=origin,
                destination_location_id=destination,
                lines=[pb.TransferLineRequest(sku=sku, quantity=quantity)],
                **fields,
            )
        )
    ).transfer
    await shop.admin.ShipTransfer(pb.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id))
    return transfer.transfer_id


async def refused(call: object, request: object) -> list[tuple[int, int]]:
    """The (requested, available) of each short line of a refused call."""
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request)  # type: ignore[operator]
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION, error.value
    return [
        (line.requested, line.available)
        for found in details_of(error.value, common_pb2.Shortfall)
        for line in found.lines
    ]


async def shorted_events(database: Database, hold_id: str) -> list[pb.HoldChanged]:
    found = []
    for row in await database.fetch(
        "SELECT envelope FROM inventory.outbox WHERE subject LIKE '%.inventory.hold.shorted' ORDER BY id"
    ):
        payload = pb.HoldChanged()
        common_pb2.EventEnvelope.FromString(row["envelope"]).payload.Unpack(payload)
        if payload.hold.hold_id == hold_id:
            found.append(payload)
    return found


async def test_units_in_transit_are_promised_to_allowed_channels_and_a_short_receipt_shortens_the_promise(
    shop: Catalogue, own_db: Database
) -> None:
    warehouse, store = await shop.location(kind=pb.LOCATION_KIND_WAREHOUSE), await shop.location()
    sofa = await shop.sku()
    await shop.receive(warehouse, sofa, 20)
    await shop.receive(store, sofa, 2)
    stores = await group(shop, "stores", store)
    await set_pools(shop, APP, pb.ChannelPool(group_id=stores, allow_transfer_in_transit=True))
    await set_pools(shop, WEB, pb.ChannelPool(group_id=stores))
    transfer_id = await shipped(shop, warehouse, store, sofa, 6)
    # A ship-to-store transfer's units are its reservation's: in transit, reserved, promised to nobody.
    await shipped(shop, warehouse, store, sofa, 3, hold_owner=f"reservation:{unique_id()}")

    app, web = await level(shop, store, sofa, APP), await level(shop, store, sofa, WEB)
    assert (app.on_hand, app.in_transit, app.in_transit_reserved) == (2, 9, 3)
    assert (app.available, app.pool_group_id) == (8, stores)  # 2 on hand + the 6 not reserved
    assert web.available == 2  # the web shop's pool does not allow units in transit
    assert (await level(shop, store, sofa, POS, selling=store)).available == 2  # a till has no pools
    # The channel's view of FindAvailability says the same.
    found = await shop.admin.FindAvailability(
        pb.FindAvailabilityRequest(items=[common_pb2.SkuQuantity(sku=sofa, quantity=1)], channel=APP)
    )
    at_store = [each for each in found.locations if each.location.location_id == store]
    assert [[lvl.available for lvl in each.levels] for each in at_store] == [[8]]

    # The app holds 7: 5 of them against the units in transit, so held exceeds on hand.
    promised = (await shop.admin.Hold(hold_request([(store, sofa, 7)], channel=APP))).hold
    after = await level(shop, store, sofa, APP)
    assert (after.on_hand, after.held, after.available) == (2, 7, 1)
    # Nobody else may take anything at the store now: every unit on hand is promised.
    assert await refused(shop.admin.Hold, hold_request([(store, sofa, 1)], channel=WEB)) == [(1, 0)]
    assert await refused(
        shop.admin.Hold, hold_request([(store, sofa, 1)], channel=POS, commit_now=True, selling_location_id=store)
    ) == [(1, 0)]
    # Nor can a sale carried out now by the allowed channel take units not yet there.
    assert await refused(shop.admin.Hold, hold_request([(store, sofa, 2)], channel=APP, commit_now=True)) == [(2, 0)]
    # The store cannot ship away units promised to customers either.
    assert await refused(
        shop.admin.CreateTransfer,
        pb.CreateTransferRequest(
            request_id=unique_id(),
            origin_location_id=store,
            destination_location_id=warehouse,
            lines=[pb.TransferLineRequest(sku=sofa, quantity=1)],
            hold_owner=f"reservation:{unique_id()}",
        ),
    ) == [(1, 0)]
    assert await check_invariants(own_db) == []

    # 4 arrive in good order, 1 damaged, 1 never: 6 on hand, nothing more in transit for channels.
    # 7 held would exceed what exists by 1: the promise is shortened by 1, in the receipt's transaction.
    await shop.admin.ReceiveTransfer(
        pb.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=transfer_id,
            lines=[pb.TransferArrival(sku=sofa, received=4, damaged=1)],
        )
    )
    final = await level(shop, store, sofa, APP)
    assert (final.on_hand, final.held, final.in_transit, final.in_transit_reserved) == (6, 6, 3, 3)
    hold = (await shop.admin.GetHold(pb.GetHoldRequest(hold_id=promised.hold_id))).hold
    assert hold.state == pb.HOLD_STATE_ACTIVE
    assert [(line.quantity, line.released, line.open) for line in hold.lines] == [(7, 1, 6)]
    (event,) = await shorted_events(own_db, promised.hold_id)
    assert event.shorted_by_transfer_id == transfer_id
    assert [(line.location_id, line.sku, line.quantity) for line in event.lines] == [(store, sofa, 1)]
    assert event.hold.owner == promised.owner
    # Now on hand, the promised units can be sold.
    await shop.admin.CommitHold(pb.CommitHoldRequest(request_id=unique_id(), hold_id=promised.hold_id))
    assert await check_invariants(own_db) == []


async def test_a_short_receipt_shortens_the_newest_promises_first_and_leaves_holds_on_hand_alone(
    shop: Catalogue, own_db: Database
) -> None:
    warehouse, store = await shop.location(kind=pb.LOCATION_KIND_WAREHOUSE), await shop.location()
    lamp = await shop.sku("Lamp")
    await shop.receive(warehouse, lamp, 10)
    await shop.receive(store, lamp, 1)
    stores = await group(shop, "stores", store)
    await set_pools(shop, APP, pb.ChannelPool(group_id=stores, allow_transfer_in_transit=True))
    transfer_id = await shipped(shop, warehouse, store, lamp, 4)
    till = (await shop.admin.Hold(hold_request([(store, lamp, 1)], channel=WEB))).hold  # the unit on hand
    older = (await shop.admin.Hold(hold_request([(store, lamp, 2)], channel=APP))).hold
    newer = (await shop.admin.Hold(hold_request([(store, lamp, 2)], channel=APP))).hold
    # Nothing arrives: all 4 promised units are gone; the newest promise goes first.
    await shop.admin.ReceiveTransfer(pb.ReceiveTransferRequest(request_id=unique_id(), transfer_id=transfer_id))
    states = {}
    for hold in (till, older, newer):
        now = (await shop.admin.GetHold(pb.GetHoldRequest(hold_id=hold.hold_id))).hold
        states[hold.hold_id] = (now.state, now.lines[0].open)
    assert states == {
        till.hold_id: (pb.HOLD_STATE_ACTIVE, 1),
        older.hold_id: (pb.HOLD_STATE_RELEASED, 0),
        newer.hold_id: (pb.HOLD_STATE_RELEASED, 0),
    }
    assert [len(await shorted_events(own_db, hold.hold_id)) for hold in (till, older, newer)] == [0, 1, 1]
    final = await level(shop, store, lamp, APP)
    assert (final.on_hand, final.held, final.in_transit) == (1, 1, 0)
    assert await check_invariants(own_db) == []


async def test_racing_holds_never_promise_more_than_each_channel_may_count(
    shop: Catalogue, fresh_stack: Stack, own_db: Database
) -> None:
    """40 app holds (whose pool counts units in transit), 40 web holds and 10 till sales (which do
    not) of one unit each race for 5 chairs on the shelf and 10 on their way. Every web hold and
    till sale left held within on hand, every app hold within on hand plus in transit, and every
    one of the 15 units was promised exactly once."""
    warehouse, store = await shop.location(kind=pb.LOCATION_KIND_WAREHOUSE), await shop.location()
    chair = await shop.sku("Chair")
    await shop.receive(warehouse, chair, 10)
    await shop.receive(store, chair, 5)
    stores = await group(shop, "stores", store)
    await set_pools(shop, APP, pb.ChannelPool(group_id=stores, allow_transfer_in_transit=True))
    await set_pools(shop, WEB, pb.ChannelPool(group_id=stores))
    await shipped(shop, warehouse, store, chair, 10)
    till = fresh_stack.stub("inventory", role="pos", locations=[store])

    async def attempt(call: object, request: pb.HoldRequest) -> bool:
        try:
            await call(request)  # type: ignore[operator]
            return True
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error  # a shortfall, never an error
            return False

    attempts = [
        attempt(shop.admin.Hold, hold_request([(store, chair, 1)], channel=channel))
        for _ in range(40)
        for channel in (APP, WEB)
    ] + [
        attempt(till.Hold, hold_request([(store, chair, 1)], channel=POS, commit_now=True, selling_location_id=store))
        for _ in range(10)
    ]
    won = await asyncio.gather(*attempts)
    assert sum(won) == 15  # every unit on hand or on its way promised once, none twice
    movements = await own_db.fetch(
        "SELECT h.channel, m.on_hand_after, m.held_after FROM inventory.movements m"
        " JOIN inventory.holds h USING (hold_id) WHERE m.kind = 'hold' AND m.location_id = $1 AND m.sku = $2",
        store,
        chair,
    )
    assert len(movements) == 15
    assert all(row["held_after"] <= row["on_hand_after"] for row in movements if row["channel"] != "app")
    assert all(row["held_after"] <= row["on_hand_after"] + 10 for row in movements if row["channel"] == "app")
    assert sum(row["channel"] == "app" for row in movements) >= 10  # the units on their way were the app's alone
    final = await level(shop, store, chair, APP)
    assert (final.held - final.on_hand, final.in_transit) == (10, 10)  # all 10 on their way are promised
    assert await check_invariants(own_db) == []


async def test_verify_names_holds_beyond_what_exists_and_reserved_units_off_the_transfers(
    shop: Catalogue, own_db: Database
) -> None:
    warehouse, store = await shop.location(kind=pb.LOCATION_KIND_WAREHOUSE), await shop.location()
    vase = await shop.sku("Vase")
    await shop.receive(warehouse, vase, 5)
    await shipped(shop, warehouse, store, vase, 3)
    found: list[tuple[str, str]] = []
    with pytest.raises(_RolledBack):
        async with own_db.transaction() as conn:
            # Held beyond on hand and the units in transit, as no channel could have promised it
            # (the constraint allows incoming of a SKU that cannot be backordered), and units shown
            # reserved with no ship-to-store transfer on its way.
            await conn.execute(
                "UPDATE inventory.stock SET incoming = 5, held = 6, in_transit_reserved = 1"
                " WHERE location_id = $1 AND sku = $2",
                store,
                vase,
            )
            for check, query in TRANSFER_CHECKS.items():
                found += [(check, row[0]) for row in await conn.fetch(query)]
            raise _RolledBack
    assert ("held exceeds on hand and the units in transit channels may count", f"{store}/{vase}") in found
    assert (
        "in transit reserved differs from the open ship-to-store transfers to the location",
        f"{store}/{vase}",
    ) in found
    assert await check_invariants(own_db) == []


async def test_a_count_need_not_find_on_the_shelf_the_units_held_against_units_in_transit(
    shop: Catalogue, fresh_stack: Stack, own_db: Database
) -> None:
    """2 on the shelf, 6 on their way, 7 promised to the app: a count that finds 1 posts (the 6 in
    transit still cover the rest of the promise); one that finds none is refused (HELD)."""
    warehouse, store = await shop.location(kind=pb.LOCATION_KIND_WAREHOUSE), await shop.location()
    rug = await shop.sku("Rug")
    await shop.receive(warehouse, rug, 6)
    await shop.receive(store, rug, 2)
    stores = await group(shop, "stores", store)
    await set_pools(shop, APP, pb.ChannelPool(group_id=stores, allow_transfer_in_transit=True))
    await shipped(shop, warehouse, store, rug, 6)
    await shop.admin.Hold(hold_request([(store, rug, 7)], channel=APP))
    clerk = fresh_stack.stub("inventory", role="pos", locations=[store])

    async def count(found: int) -> pb.Count:
        opened = (
            await clerk.CreateCount(
                pb.CreateCountRequest(
                    request_id=unique_id(),
                    location_id=store,
                    scope=pb.COUNT_SCOPE_SKUS,
                    skus=[rug],
                    variance_threshold=10,
                )
            )
        ).count
        await clerk.RecordCount(
            pb.RecordCountRequest(request_id=unique_id(), count_id=opened.count_id, sku=rug, quantity=found)
        )
        await clerk.ReviewCount(pb.ReviewCountRequest(request_id=unique_id(), count_id=opened.count_id))
        return opened

    nothing = await count(0)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await clerk.CompleteCount(pb.CompleteCountRequest(request_id=unique_id(), count_id=nothing.count_id))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    failures = details_of(refused.value, error_details_pb2.PreconditionFailure)
    assert [v.type for d in failures for v in d.violations] == ["HELD"]
    await clerk.CancelCount(pb.CancelCountRequest(request_id=unique_id(), count_id=nothing.count_id))
    one = await count(1)
    await clerk.CompleteCount(pb.CompleteCountRequest(request_id=unique_id(), count_id=one.count_id))
    after = await level(shop, store, rug, APP)
    assert (after.on_hand, after.held, after.in_transit, after.available) == (1, 7, 6, 0)
    assert await check_invariants(own_db) == []
