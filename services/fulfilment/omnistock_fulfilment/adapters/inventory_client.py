"""What fulfilment asks of inventory: give back units not found, correct stock, and sell what leaves."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import grpc

from omnistock.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from omnistock_platform.errors import NotFound
from omnistock_platform.grpc.client import remote_call


def _hold_lines(location_id: str, quantities: Mapping[str, int]) -> list[inventory_pb2.HoldLineRequest]:
    lines = [
        inventory_pb2.HoldLineRequest(location_id=location_id, sku=sku, quantity=quantity)
        for sku, quantity in sorted(quantities.items())
        if quantity > 0
    ]
    if not lines:
        # Inventory reads no lines as "the whole hold", every location of the order included.
        raise ValueError("a release or commit for one location needs at least one line")
    return lines


class InventoryClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = inventory_pb2_grpc.InventoryServiceStub(channel)

    async def knows_location(self, location_id: str) -> bool:
        """Whether inventory has the location (asked now: one created a moment ago is known)."""
        try:
            await remote_call(
                "inventory", self._stub.GetLocation(inventory_pb2.GetLocationRequest(location_id=location_id))
            )
        except NotFound:
            return False
        return True

    async def hold(self, hold_id: str) -> inventory_pb2.Hold | None:
        """The hold as inventory has it now; None when inventory does not know it."""
        try:
            response = await remote_call("inventory", self._stub.GetHold(inventory_pb2.GetHoldRequest(hold_id=hold_id)))
        except NotFound:
            return None
        return response.hold

    async def bundles(self, hold_id: str, location_id: str) -> dict[str, dict[str, int]]:
        """The bundle lines a hold has at a location: bundle SKU -> its components (units per set),
        as they were when it was held. A hold inventory does not know has none."""
        hold = await self.hold(hold_id)
        if hold is None:
            return {}
        return {
            bundle.sku: {component.sku: component.quantity for component in bundle.components}
            for bundle in hold.bundles
            if bundle.location_id == location_id
        }

    async def open_at(self, hold_id: str, location_id: str) -> dict[str, int]:
        """What a hold still holds at a location and may give back: units by SKU, sets by bundle
        SKU. Nothing for a hold that ended or that inventory does not know."""
        hold = await self.hold(hold_id)
        if hold is None or hold.state != inventory_pb2.HOLD_STATE_ACTIVE:
            return {}
        found: dict[str, int] = {}
        here = [(line.sku, line.open) for line in hold.lines if line.location_id == location_id]
        here += [(bundle.sku, bundle.open) for bundle in hold.bundles if bundle.location_id == location_id]
        for sku, units in here:
            found[sku] = found.get(sku, 0) + units
        return found

    async def release(
        self, request_id: str, hold_id: str, location_id: str, quantities: Mapping[str, int], reason: str
    ) -> None:
        request = inventory_pb2.ReleaseHoldRequest(
            request_id=request_id, hold_id=hold_id, lines=_hold_lines(location_id, quantities), reason=reason
        )
        await remote_call("inventory", self._stub.ReleaseHold(request))

    async def released_under(self, request_id: str) -> bool:
        """Whether inventory gave units back under `request_id` already (a crash cut short what was
        to follow): read from inventory's record of the request ids this service used."""
        request = inventory_pb2.GetRequestRecordRequest(change_request_id=request_id)
        answer = await remote_call("inventory", self._stub.GetRequestRecord(request))
        return answer.HasField("record") and answer.record.method == "ReleaseHold" and answer.record.answered

    async def write_off(
        self, request_id: str, location_id: str, sku: str, units: int, note: str, observed_at: datetime | None = None
    ) -> None:
        """Stock that is not on the shelf: on hand goes down by `units` as shrinkage. Holds that
        counted on those units (another order's, taken once the pick's own hold gave them back) are
        shortened by what is missing: their owners learn it and route it elsewhere. `observed_at`:
        when the units were found missing (a count scanned since has missed them already)."""
        request = inventory_pb2.AdjustStockRequest(
            request_id=request_id,
            location_id=location_id,
            sku=sku,
            reason=inventory_pb2.ADJUSTMENT_REASON_SHRINKAGE,
            delta=-units,
            note=note,
            shorten_holds=True,
        )
        if observed_at is not None:
            request.observed_at.FromDatetime(observed_at)
        await remote_call("inventory", self._stub.AdjustStock(request))

    async def commit(
        self, request_id: str, hold_id: str, location_id: str, quantities: Mapping[str, int], document_ref: str
    ) -> None:
        request = inventory_pb2.CommitHoldRequest(
            request_id=request_id,
            hold_id=hold_id,
            lines=_hold_lines(location_id, quantities),
            document_ref=document_ref,
        )
        await remote_call("inventory", self._stub.CommitHold(request))
