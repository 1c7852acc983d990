"""A reservation held at its store on units still in transit (the chat's pool allows them) whose
transfer arrives short: inventory shortens the reservation's hold (`inventory.hold.shorted`), and the
reservation keeps what is left and says what went (`reservations.reservation.shorted`), or is
cancelled when nothing is left.

Pools hold for the whole database, so these tests run on a stack of their own."""

from __future__ import annotations

from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as inv
from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock_platform.invariants import run_checks, snapshot_of
from omnistock_platform.testing.catalogue import define_set
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.orders.support import Shop
from tests.integration.reservations.support import create_request


async def test_a_short_transfer_shortens_the_reservations_promised_in_transit(fresh_stack: Stack) -> None:
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    chat, admin = stack.stub("reservations", role="chat_agent"), stack.stub("reservations", role="admin")
    lamp, vase = await shop.sku("Lamp"), await shop.sku("Vase")
    moving = await shop.in_transit_to_store({lamp: 3, vase: 2}, on_shelf={lamp: 1}, at_hub={lamp: 10, vase: 10})
    store = moving.store

    # Three customers reserve what is on the shelf and on its way: 4 lamps and 2 vases in all.
    first = (await chat.CreateReservation(create_request(store, [(lamp, 2)]))).reservation
    second = (await chat.CreateReservation(create_request(store, [(lamp, 2), (vase, 1)]))).reservation
    third = (await chat.CreateReservation(create_request(store, [(vase, 1)]))).reservation
    assert first.status == second.status == third.status == pb.RESERVATION_STATUS_ACTIVE

    async def reservation(reservation_id: str) -> pb.Reservation:
        return (await admin.GetReservation(pb.GetReservationRequest(reservation_id=reservation_id))).reservation

    # Two of three lamps arrive, and no vase: 3 lamps on hand for 4 promised, no vase for 2. The
    # newest promises give back what is missing: a lamp and a vase from the second, the third's vase.
    await shop.inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(
            request_id=unique_id(),
            transfer_id=moving.transfer_id,
            lines=[inv.TransferArrival(sku=lamp, received=2)],
        )
    )

    async def settled() -> bool:
        # Each SKU a hold loses is told on its own (one hold.shorted per hold and SKU): the second
        # reservation loses its vase and one lamp in either order.
        third_now, second_now = await reservation(third.reservation_id), await reservation(second.reservation_id)
        shortened = [(line.sku, line.quantity) for line in second_now.lines]
        return third_now.status == pb.RESERVATION_STATUS_CANCELLED and shortened == [(lamp, 1)]

    await wait_until(settled, what="the third reservation cancelled and the second shortened to one lamp")
    assert "did not arrive" in (await reservation(third.reservation_id)).cancel_reason
    shortened = await reservation(second.reservation_id)
    assert shortened.status == pb.RESERVATION_STATUS_ACTIVE
    assert [(line.sku, line.quantity) for line in shortened.lines] == [(lamp, 1)]
    untouched = await reservation(first.reservation_id)
    assert [(line.sku, line.quantity) for line in untouched.lines] == [(lamp, 2)]
    level = await shop.level(store, lamp)
    assert (level.on_hand, level.held) == (3, 3)
    assert (await shop.level(store, vase)).held == 0


async def test_a_short_transfer_gives_back_whole_sets_of_a_reservation(fresh_stack: Stack) -> None:
    """A reservation of sets whose sofa is still on its way: the sofa not arriving gives back a whole
    set (the sofa's units and the set's cushions), never a part of one, and the reservation keeps the
    sets that are whole; collecting then sells exactly those."""
    stack = fresh_stack
    shop = Shop(stack, stack.stub("inventory", role="admin"), stack.stub("orders", role="admin"))
    chat, admin = stack.stub("reservations", role="chat_agent"), stack.stub("reservations", role="admin")
    sofa, cushion = await shop.sku("Sofa"), await shop.sku("Cushion")
    moving = await shop.in_transit_to_store({sofa: 1}, on_shelf={sofa: 1, cushion: 4})
    store = moving.store
    bundle = await define_set(shop.inventory, {sofa: 1, cushion: 2})

    reserved = (await chat.CreateReservation(create_request(store, [(bundle, 2)]))).reservation
    assert reserved.status == pb.RESERVATION_STATUS_ACTIVE

    async def reservation() -> pb.Reservation:
        return (
            await admin.GetReservation(pb.GetReservationRequest(reservation_id=reserved.reservation_id))
        ).reservation

    # The sofa on its way does not come: one set is given back whole.
    await shop.inventory.ReceiveTransfer(
        inv.ReceiveTransferRequest(request_id=unique_id(), transfer_id=moving.transfer_id, lines=[])
    )
    (bundle_line,) = (await shop.hold(reserved.hold_id)).bundles
    assert (bundle_line.sku, bundle_line.released) == (bundle, 1)
    assert [(level.on_hand, level.held) for level in [await shop.level(store, s) for s in (sofa, cushion)]] == [
        (1, 1),
        (4, 2),
    ]

    async def shortened() -> bool:
        return [(line.sku, line.quantity) for line in (await reservation()).lines] == [(bundle, 1)]

    await wait_until(shortened, what="the reservation shortened to the one whole set")

    # The store's pickup task asks for what the reservation still holds: one set, as its parts.
    fulfilment = stack.stub("fulfilment", role="admin")

    async def task_lines() -> list[tuple[str, int, list[tuple[str, int]]]]:
        listed = await fulfilment.ListTasks(fpb.ListTasksRequest(location_id=store))
        (task,) = [t for t in listed.tasks if t.reservation_id == reserved.reservation_id]
        return [(line.sku, line.quantity, [(c.sku, c.quantity) for c in line.components]) for line in task.lines]

    async def task_shortened() -> bool:
        return [(sku, units) for sku, units, _ in await task_lines()] == [(bundle, 1)]

    await wait_until(task_shortened, what="the pickup task shortened to the one set")
    assert sorted((await task_lines())[0][2]) == sorted([(sofa, 1), (cushion, 2)])
    collected = await stack.stub("reservations", role="pos", locations=[store]).CollectReservation(
        pb.CollectReservationRequest(request_id=unique_id(), store_id=store, pickup_code=reserved.pickup_code)
    )
    assert collected.reservation.status == pb.RESERVATION_STATUS_COLLECTED
    assert [(level.on_hand, level.held) for level in [await shop.level(store, s) for s in (sofa, cushion)]] == [
        (0, 0),
        (2, 0),
    ]
    found = run_checks(await snapshot_of(stack.settings))
    assert [v for v in found if reserved.hold_id in v.subject or reserved.reservation_id in v.subject] == []
