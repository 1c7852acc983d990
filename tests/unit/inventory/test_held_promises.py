"""Quote equals commit where a location has every item for the channel only by counting units on
their way (a pool's units in transit, a backorderable SKU's announced units): FindAvailability
promises the pickup a reservation of the items made then commits, and the delivery an order's plan
there commits (docs/promises.md, "Units held while still on their way"), for every shelf, hold,
safety stock, pool, announced delivery and set of shipped transfers.

FindAvailability's side is its own code: the page (`StockLevels._ranked`, which decides which
locations are promised as a hold of the items), what the hold waits for (`hold_awaits`, with the
transfers only where `in_transit_for` says they are read) and the promises (`after_hold`). The
reservation's side is the rule it applies to the rows as its hold left them (as `BatchGetStock`
answers them): `awaited_once_held` and `pickup_once_arrived`; the order's is its plan's:
`beyond_shelf` of the rows it read, `awaited`, `delivery_promise`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import event, given, settings
from hypothesis import strategies as st

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock_inventory.adapters import messages
from omnistock_inventory.domain.stock import Pool
from omnistock_inventory.service_layer.promises import after_hold
from omnistock_inventory.service_layer.stock import StockLevels, hold_awaits, in_transit_for
from omnistock_inventory.service_layer.stock_view import StockView
from omnistock_inventory.settings import InventorySettings
from omnistock_orders.service_layer.planning import delivery_promise
from omnistock_platform.promise_messages import (
    awaited,
    awaited_once_held,
    beyond_shelf,
    calendar_of,
    pickup_once_arrived,
    promise_message,
)

# Monday 7 Dec 2026, 11:00 in Berlin: the end of a FindAvailability bucket, so its kept promises
# are those of this very moment.
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SETTINGS = pb.PromiseSettings(
    time_zone="Europe/Berlin",
    opening_hours=[pb.OpeningHours(weekday=day, opens="09:00", closes="20:00") for day in range(1, 7)],
    pickup_preparation_minutes=90,
    order_cutoff="15:00",
    carrier_lead_times=[pb.CarrierLeadTime(region="DE-BE", business_days=1)],
)
PLACE = {
    "location_id": "mitte",
    "name": "Mitte",
    "kind": "store",
    "city": "Berlin",
    "latitude": 52.52,
    "longitude": 13.4,
    "routing_rank": 1,
    "ships": True,
    "pickup": True,
    "till_sales": True,
    "active": True,
    "promise_settings": messages.stored_promise_settings(SETTINGS),
}
ORIGINS = {"spandau": "Spandau warehouse", "leipzig": "Leipzig warehouse"}
HOURS = st.integers(-48, 20 * 24)

transfers = st.lists(
    st.builds(
        dict,
        origin=st.sampled_from(sorted(ORIGINS)),
        quantity=st.integers(1, 4),
        arrival_in=st.none() | HOURS,  # hours from now; None: no expected arrival
        owned=st.booleans(),  # a ship-to-store transfer's, for its own reservation
    ),
    max_size=3,
)


def at(hours: int) -> datetime:
    return NOW + timedelta(hours=hours)


def transfer_messages(given: list[dict[str, Any]]) -> list[pb.Transfer]:
    found = []
    for index, each in enumerate(given):
        transfer = pb.Transfer(
            transfer_id=f"T{index}",
            origin_location_id=each["origin"],
            destination_location_id="mitte",
            status=pb.TRANSFER_STATUS_SHIPPED,
            hold_owner="reservation:R1" if each["owned"] else "",
            lines=[pb.TransferLine(sku="sofa", quantity=each["quantity"])],
        )
        if each["arrival_in"] is not None:
            expected = Timestamp()
            expected.FromDatetime(at(each["arrival_in"]))
            transfer.expected_arrival_at.CopyFrom(expected)
        found.append(transfer)
    return found


def via(waiting: Any) -> str:
    """The origin's name, as both sides read it."""
    return ORIGINS.get(waiting.origin_location_id, "") if waiting is not None else ""


@settings(max_examples=1000, deadline=None)
@given(
    on_hand=st.integers(0, 6),
    held=st.integers(0, 3),
    safety=st.integers(0, 3),
    incoming=st.integers(0, 6),
    incoming_in=st.none() | HOURS,
    backorder=st.booleans(),
    shipped=transfers,
    pool=st.none()
    | st.builds(
        Pool,
        group_id=st.just("stores"),
        cap_percent=st.sampled_from([50, 100, 100]),
        buffer_units=st.sampled_from([0, 0, 1]),
        allow_in_transit=st.booleans(),
        allow_transfer_in_transit=st.booleans(),
    ),
    quantity=st.integers(1, 5),
    flags=st.sampled_from([(True, True), (True, False), (False, True)]),
)
def test_find_availability_promises_what_the_reservation_and_the_order_then_made_commit(
    on_hand: int,
    held: int,
    safety: int,
    incoming: int,
    incoming_in: int | None,
    backorder: bool,
    shipped: list[dict[str, Any]],
    pool: Pool | None,
    quantity: int,
    flags: tuple[bool, bool],
) -> None:
    place = {**PLACE, "pickup": flags[0], "ships": flags[1]}
    in_transit = sum(each["quantity"] for each in shipped)
    reserved = sum(each["quantity"] for each in shipped if each["owned"])
    # Holds never go beyond what the stock row allows (the database's check constraint).
    held = min(held, on_hand + incoming + in_transit - reserved)
    row = {
        "location_id": "mitte",
        "sku": "sofa",
        "on_hand": on_hand,
        "held": held,
        "safety_stock": safety,
        "incoming": incoming,
        "next_incoming_at": at(incoming_in) if incoming_in is not None and incoming else None,
        "in_transit": in_transit,
        "in_transit_reserved": reserved,
        "version": 3,
        "updated_at": NOW,
        "allow_backorder": backorder,
        **place,
    }
    pools = None if pool is None else {"mitte": [pool]}
    request = pb.FindAvailabilityRequest(
        items=[common_pb2.SkuQuantity(sku="sofa", quantity=quantity)],
        channel=common_pb2.CHANNEL_CHAT,
        ship_to_region="DE-BE",
    )
    stock_levels = StockLevels.__new__(StockLevels)
    stock_levels.view = StockView(None, InventorySettings())  # type: ignore[arg-type]  # its promises only
    waiting: list[tuple[int, dict[str, int], Any]] = []
    ranked = stock_levels._ranked(
        request, {"sofa": quantity}, {"mitte": place}, {"mitte": [row]}.__getitem__, 10, pools, None,
        clock=NOW, waiting=waiting,
    )  # fmt: skip
    if not ranked or not ranked[0].complete:
        event("refused")
        return  # the hold would be refused: nothing to commit
    [entry] = ranked
    location = entry.location
    all_shipped = transfer_messages(shipped)
    # FindAvailability: as `StockLevels._on_the_way` answers a location on the page's waiting list.
    promised = list(entry.promises)
    if waiting:
        [(_, beyond, here)] = waiting
        read = all_shipped if in_transit_for(beyond, here) else []
        held_for = hold_awaits("mitte", beyond, here, read)
        named = via(held_for) if location.pickup else ""  # the origin's name is said by a pickup only
        promised = after_hold(location, waiting=held_for, via=named, region="DE-BE", now=NOW)
    offered = {promise.kind: promise for promise in promised}
    delivered = offered.pop(common_pb2.PROMISE_KIND_DELIVERY, None)
    assert len(offered) <= 1
    pickup = next(iter(offered.values()), None)

    # The reservation made then: the rows as its hold left them, as BatchGetStock answers them.
    after = messages.stock_level({**row, "held": held + quantity}, backorder=backorder, pools=[pool] if pool else None)
    reservation_waits = awaited_once_held("mitte", [after], all_shipped)
    event(
        "on the shelf"
        if reservation_waits is None
        else "no date"
        if reservation_waits.arrival is None
        else "via transfer"
        if reservation_waits.origin_location_id
        else "on receipt"
    )
    committed = pickup_once_arrived(
        calendar_of(SETTINGS),
        NOW,
        location_id="mitte",
        place="Mitte",
        waiting=reservation_waits,
        via=via(reservation_waits),
    )
    assert pickup == (promise_message(committed) if committed is not None and location.pickup else None)

    # The order shipped from there: its plan reads the rows before its hold.
    before = messages.stock_level(row, backorder=backorder, pools=[pool] if pool else None)
    missing = beyond_shelf([before], {"sofa": quantity})
    order_waits = awaited("mitte", missing, [before], all_shipped)
    if not location.ships or (order_waits is not None and order_waits.arrival is None):
        assert delivered is None  # not shipped from there, or no date can be promised: the plan gives none
    else:
        arrival = order_waits.arrival if order_waits is not None else None
        assert delivered == promise_message(delivery_promise(location, NOW, "DE-BE", "DE", arrival))
