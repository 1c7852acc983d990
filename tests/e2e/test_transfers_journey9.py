"""Journey 9, "the empty shelf refilled": a store runs short of a bestseller; a transfer from the
warehouse is shipped, shows as incoming at the store, is received with one unit damaged, and every
channel sees the new stock at once — through the real inventory and orders, as each person would act."""

from __future__ import annotations

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock_inventory.service_layer.verify import check_invariants
from omnistock_platform.testing.events import EventTap
from omnistock_platform.testing.stack import Stack, unique_id
from tests.integration.orders.support import BERLIN, Shop, store_request


async def test_a_store_short_of_a_bestseller_is_refilled_from_the_warehouse(stack: Stack, db, tap: EventTap) -> None:
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    store = await shop.location(BERLIN, city="Berlin")
    warehouse = await shop.location((52.53, 13.2), warehouse=True, city="Berlin")
    sofa = await shop.sku("Green velvet sofa", 129900)
    await shop.receive(store, sofa, 3)
    await shop.receive(warehouse, sofa, 20)

    clerk = stack.stub("inventory", token=stack.token("pos", locations=[store], subject="clerk-anna"))
    picker = stack.stub("inventory", token=stack.token("warehouse", locations=[warehouse], subject="picker-omar"))
    till = stack.stub("orders", role="pos", locations=[store])
    web = stack.stub("inventory", role="storefront")

    # The till sells two; one sofa is left on the shelf and the store asks the warehouse for six.
    await till.CreateOrder(store_request([(sofa, 2)], store, carry_out=True))
    assert (await shop.level(store, sofa)).on_hand == 1
    asked = (
        await clerk.CreateTransfer(
            inv.CreateTransferRequest(
                request_id=unique_id(),
                origin_location_id=warehouse,
                destination_location_id=store,
                lines=[inv.TransferLineRequest(sku=sofa, quantity=6)],
                note="bestseller running out",
            )
        )
    ).transfer

    # The warehouse ships: the sofas leave its on hand and are on their way to the store.
    shipped = await picker.ShipTransfer(inv.ShipTransferRequest(request_id=unique_id(), transfer_id=asked.transfer_id))
    assert shipped.transfer.status == inv.TRANSFER_STATUS_SHIPPED
    await tap.wait_for(
        lambda e, p: e.type == "inventory.transfer.shipped" and p.transfer.transfer_id == asked.transfer_id
    )
    at_store = await web.GetStock(inv.GetStockRequest(sku=sofa, location_id=store, channel=common_pb2.CHANNEL_WEB))
    (incoming,) = at_store.levels
    assert (incoming.on_hand, incoming.in_transit, incoming.available) == (1, 6, 1)  # incoming, not yet sellable
    assert (await shop.level(warehouse, sofa)).on_hand == 14

    # The van arrives: five good sofas and one with a torn cushion.
    received = await clerk.ReceiveTransfer(
        inv.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=asked.transfer_id,
            lines=[inv.TransferArrival(sku=sofa, received=5, damaged=1)],
        )
    )
    (line,) = received.transfer.lines
    assert (line.quantity, line.received, line.damaged, line.short, line.over) == (6, 5, 1, 0, 0)
    event = await tap.wait_for(
        lambda e, p: e.type == "inventory.transfer.received" and p.transfer.transfer_id == asked.transfer_id
    )
    assert event[1].transfer.lines[0].damaged == 1

    # Every channel sees the six sofas at once: the web shop and the till alike.
    level = await web.GetStock(inv.GetStockRequest(sku=sofa, location_id=store, channel=common_pb2.CHANNEL_WEB))
    assert [(s.on_hand, s.in_transit, s.available) for s in level.levels] == [(6, 0, 6)]
    order = (await stack.stub("orders", role="storefront").CreateOrder(store_request([(sofa, 4)], store))).order
    assert [allocation.location_id for allocation in order.allocations] == [store]

    # The ledger tells the whole story on both sides, and replays to the counters.
    def story(location_id: str) -> list[tuple[int, int]]:
        return [(m.kind, m.on_hand_delta) for m in movements[location_id] if m.document_ref.startswith("transfer:")]

    movements = {
        location_id: list(
            (await shop.inventory.ListMovements(inv.ListMovementsRequest(location_id=location_id, sku=sofa))).movements
        )
        for location_id in (store, warehouse)
    }
    assert story(warehouse) == [(inv.MOVEMENT_KIND_TRANSFER_OUT, -6)]
    assert sorted(story(store)) == sorted(
        [(inv.MOVEMENT_KIND_TRANSFER_IN_TRANSIT, 0), (inv.MOVEMENT_KIND_TRANSFER_IN, 5)]
    )
    assert sum(m.on_hand_delta for m in movements[store]) == (await shop.level(store, sofa)).on_hand == 6
    assert await check_invariants(db) == []
