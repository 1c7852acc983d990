"""An order allocated at a store on units still in transit (its channel's pool allows them) whose
transfer arrives short: inventory shortens the order's hold (`inventory.hold.shorted`), orders routes
the missing units elsewhere, never to the store they were to arrive at, and fulfilment shrinks the
store's pick task to what is left.

Pools hold for the whole database, so these tests run on a stack of their own."""

from __future__ import annotations

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.orders.v1 import orders_pb2 as pb
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.db import Database
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, LEIPZIG, SPANDAU, Shop, allocated, ship_request
from tests.integration.orders.test_fulfilment_holds import task_of

APP = common_pb2.CHANNEL_APP


async def group(shop: Shop, *location_ids: str) -> str:
    group_id = unique_id("group-")
    await shop.inventory.UpsertLocationGroup(
        inv.UpsertLocationGroupRequest(
            request_id=unique_id(),
            group=inv.LocationGroup(group_id=group_id, display_name=group_id, location_ids=list(location_ids)),
        )
    )
    return group_id


async def test_a_short_transfer_reroutes_the_units_an_order_was_promised_in_transit(fresh_stack: Stack) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    store, other_store = await shop.location(BERLIN), await shop.location(SPANDAU)
    hub = await shop.location(LEIPZIG, warehouse=True)
    sofa = await shop.sku()
    await shop.receive(hub, sofa, 10)
    await shop.receive(other_store, sofa, 5)
    stores = await group(shop, store, other_store)  # the app sells from the stores only
    await shop.inventory.SetChannelPools(
        inv.SetChannelPoolsRequest(
            request_id=unique_id(),
            channel=APP,
            pools=[inv.ChannelPool(group_id=stores, allow_transfer_in_transit=True)],
        )
    )
    transfer = (
        await shop.inventory.CreateTransfer(
            inv.CreateTransferRequest(
                request_id=unique_id(),
                origin_location_id=hub,
                destination_location_id=store,
                lines=[inv.TransferLineRequest(sku=sofa, quantity=3)],
            )
        )
    ).transfer
    await shop.inventory.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=transfer.transfer_id))

    # The app sells the three sofas on their way to the store nearest the customer.
    order = (await shop.orders_as("app").CreateOrder(ship_request([(sofa, 3)], to=BERLIN, channel=APP))).order
    assert allocated(order) == {store: {sofa: 3}}
    (at_store,) = order.allocations
    await task_of(stack, store, at_store.allocation_id)

    # One arrives: the two that never will are taken off the order's hold and found at the other store.
    await shop.inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=transfer.transfer_id,
            lines=[inv.TransferArrival(sku=sofa, received=1)],
        )
    )
    rerouted = await shop.wait_for_order(order.order_id, lambda o: len(o.allocations) == 2)
    assert allocated(rerouted) == {store: {sofa: 1}, other_store: {sofa: 2}}
    assert rerouted.status == pb.ORDER_STATUS_ALLOCATED
    assert "arrived short" in rerouted.decision.explanation
    hold = await shop.hold(at_store.hold_id)
    assert [(line.quantity, line.released, line.open) for line in hold.lines] == [(3, 2, 1)]
    assert (await shop.level(store, sofa)).held == 1
    assert (await shop.level(other_store, sofa)).held == 2
    # The store's pick task now asks for the one sofa that is there.
    task = await task_of(stack, store, at_store.allocation_id, lambda t: [line.quantity for line in t.lines] == [1])
    assert [(line.sku, line.quantity) for line in task.lines] == [(sofa, 1)]

    database = Database(stack.settings.database_url or "", min_size=1, max_size=2)
    await database.connect()
    try:
        assert await check_invariants(database) == []
    finally:
        await database.close()
