"""Turning a plan into one inventory hold, and the hold back into the order's allocations."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2
from omnistock.orders.v1 import orders_pb2
from omnistock_orders.adapters.inventory_client import InventoryClient
from omnistock_orders.domain.order import Allocation, AllocationStatus
from omnistock_platform.errors import Aborted, FailedPrecondition, InvalidArgument
from omnistock_platform.owners import order_owner

# A hold that lost a race inside inventory (ABORTED) is simply asked for again, a few times.
ABORTED_RETRIES = 4
# A release refused because the hold changed under it is read and asked again, a few times.
RELEASE_ATTEMPTS = 4
_EXPIRED = "hold-expired"
# Promises of a moment the customer comes to the store for the items.
PICKUP_PROMISES = frozenset(
    {
        common_pb2.PROMISE_KIND_PICKUP,
        common_pb2.PROMISE_KIND_PICKUP_VIA_TRANSFER,
        common_pb2.PROMISE_KIND_PICKUP_ON_RECEIPT,
    }
)


def derived_request_id(order_id: str, *parts: str) -> str:
    """The request id of a call made on the order's behalf: the same each time that step is repeated."""
    return ":".join(("order", order_id, *parts))


def expiry_request_id(order_id: str, fulfilment_hold_id: str) -> str:
    """The request id of the cancellation of an order whose fulfilment hold ran out."""
    return derived_request_id(order_id, _EXPIRED, fulfilment_hold_id)


def expired_hold_of(order_id: str, request_id: str) -> str | None:
    """The fulfilment hold whose running out a cancellation's request id names (None: any other)."""
    prefix = derived_request_id(order_id, _EXPIRED, "")
    return request_id.removeprefix(prefix) or None if request_id.startswith(prefix) else None


def digest(quantities: Mapping[tuple[str, str], int]) -> str:
    text = ",".join(f"{location}/{sku}={quantity}" for (location, sku), quantity in sorted(quantities.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def lasting_past_promise(
    ttl: timedelta, plan: orders_pb2.RoutingPlan, *, ceiling: timedelta, now: datetime | None = None
) -> timedelta:
    """How long an order's hold runs: `ttl`, unless the plan promises a pickup after that (the store
    closed for days, units on their way); then `ttl` from the promised moment, so the units never go
    back on sale before the customer was told to come for them. Never beyond `ceiling` (inventory's
    longest hold). A delivery's date is not when its units leave: a shipment keeps `ttl`."""
    if not plan.HasField("promise") or plan.promise.kind not in PICKUP_PROMISES:
        return ttl
    promised = plan.promise.at.ToDatetime(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if now + ttl >= promised:
        return ttl
    return min(ceiling, promised - now + ttl)


def hold_request(
    *,
    order_id: str,
    request_id: str,
    channel: common_pb2.Channel.ValueType,
    plan: orders_pb2.RoutingPlan,
    ttl: timedelta,
    selling_location_id: str = "",
    commit_now: bool = False,
) -> inventory_pb2.HoldRequest:
    """One all-or-nothing hold for every allocation of the plan."""
    duration = duration_pb2.Duration()
    duration.FromTimedelta(ttl)
    return inventory_pb2.HoldRequest(
        request_id=request_id,
        owner=order_owner(order_id),
        channel=channel,
        lines=[
            inventory_pb2.HoldLineRequest(location_id=allocation.location_id, sku=line.sku, quantity=line.quantity)
            for allocation in plan.allocations
            for line in allocation.lines
        ],
        ttl=duration,
        selling_location_id=selling_location_id,
        commit_now=commit_now,
    )


def allocations_from(
    plan: orders_pb2.RoutingPlan, hold_id: str, status: AllocationStatus = AllocationStatus.HELD
) -> list[Allocation]:
    """One allocation per planned location, all under the one hold."""
    return [
        Allocation(
            allocation_id=str(uuid.uuid4()),
            location_id=planned.location_id,
            hold_id=hold_id,
            lines={line.sku: line.quantity for line in planned.lines},
            status=status,
            distance_km=planned.distance_km,
        )
        for planned in plan.allocations
    ]


async def take(inventory: InventoryClient, request: inventory_pb2.HoldRequest) -> inventory_pb2.Hold:
    """Ask inventory for the hold; a Shortfall goes to the caller, a lost internal race is retried."""
    for attempt in range(ABORTED_RETRIES):
        try:
            return await inventory.hold(request)
        except Aborted:
            if attempt == ABORTED_RETRIES - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


async def open_at(inventory: InventoryClient, hold_id: str, location_id: str) -> dict[str, int]:
    """What the hold still has open at the location, by SKU (a set by its bundle SKU); {} once it ended."""
    hold = await inventory.get_hold(hold_id)
    if hold.state != inventory_pb2.HOLD_STATE_ACTIVE:
        return {}
    return {line.sku: line.open for line in hold.lines if line.location_id == location_id}


async def _still_held(inventory: InventoryClient, allocation: Allocation) -> dict[tuple[str, str], int]:
    """What the allocation's hold still has open of its units at its location ({} once it ended)."""
    open_here = await open_at(inventory, allocation.hold_id, allocation.location_id)
    here = allocation.location_id
    units = {(here, sku): min(quantity, open_here.get(sku, 0)) for sku, quantity in allocation.lines.items()}
    return {key: quantity for key, quantity in units.items() if quantity > 0}


async def release(
    inventory: InventoryClient, order_id: str, allocation: Allocation, why: str, reason: str
) -> dict[str, int]:
    """Give back what the allocation still holds. A hold that already ended (expired, committed,
    released) has nothing left to give back, which is fine. Returns the units released."""
    units = await _still_held(inventory, allocation)
    for attempt in range(RELEASE_ATTEMPTS):
        if not units:
            return {}
        request_id = derived_request_id(order_id, why, allocation.allocation_id, digest(units))
        try:
            await inventory.release(request_id, allocation.hold_id, units, reason)
        except (FailedPrecondition, InvalidArgument):
            # The hold ended or shrank between our read and the release (a short pick gave units back,
            # a shipment took some): what is left of it is given back. Unchanged, the refusal stands.
            again = await _still_held(inventory, allocation)
            if again and (again == units or attempt == RELEASE_ATTEMPTS - 1):
                raise
            units = again
            continue
        return {sku: quantity for (_, sku), quantity in units.items()}
    return {}
