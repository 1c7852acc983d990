"""gRPC translation only: each RPC hands its request to a use case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias, TypeVar

import grpc
from google.protobuf.message import Message

from omnistock.inventory.v1 import inventory_pb2 as pb
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock_inventory.service_layer.catalogue import Catalogue
from omnistock_inventory.service_layer.counts import Counts
from omnistock_inventory.service_layer.hold_edits import HoldEdits
from omnistock_inventory.service_layer.holds import Holds
from omnistock_inventory.service_layer.pools import Pools
from omnistock_inventory.service_layer.request_records import RequestRecords
from omnistock_inventory.service_layer.stock import StockLevels
from omnistock_inventory.service_layer.transfers import Transfers
from omnistock_inventory.service_layer.watch import StockWatcher

Context: TypeAlias = grpc.aio.ServicerContext
Changed = TypeVar("Changed", bound=Message)


class InventoryServicer(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(
        self,
        catalogue: Catalogue,
        stock: StockLevels,
        holds: Holds,
        watcher: StockWatcher,
        counts: Counts,
        transfers: Transfers,
        pools: Pools,
        hold_edits: HoldEdits,
        request_records: RequestRecords,
    ) -> None:
        self.catalogue = catalogue
        self.stock = stock
        self.holds = holds
        self.watcher = watcher
        self.counts = counts
        self.transfers = transfers
        self.pools = pools
        self.hold_edits = hold_edits
        self.request_records = request_records

    async def _with_token(self, response: Changed) -> Changed:
        """A write's answer with its consistency token: a read passing it sees the change (docs/reads.md).
        Taking it brings this process's memory up to the write, so a caller's next read here sees it
        even without the token."""
        response.consistency_token = await self.stock.view.token()  # type: ignore[attr-defined]
        return response

    async def UpsertLocation(self, request: pb.UpsertLocationRequest, context: Context) -> pb.UpsertLocationResponse:
        return await self._with_token(await self.catalogue.upsert_location(request))

    async def GetLocation(self, request: pb.GetLocationRequest, context: Context) -> pb.GetLocationResponse:
        return await self.catalogue.get_location(request)

    async def BatchGetLocations(
        self, request: pb.BatchGetLocationsRequest, context: Context
    ) -> pb.BatchGetLocationsResponse:
        return await self.catalogue.batch_get_locations(request)

    async def ListLocations(self, request: pb.ListLocationsRequest, context: Context) -> pb.ListLocationsResponse:
        return await self.catalogue.list_locations(request)

    async def UpsertSku(self, request: pb.UpsertSkuRequest, context: Context) -> pb.UpsertSkuResponse:
        return await self._with_token(await self.catalogue.upsert_sku(request))

    async def GetSku(self, request: pb.GetSkuRequest, context: Context) -> pb.GetSkuResponse:
        return await self.catalogue.get_sku(request)

    async def BatchGetSkus(self, request: pb.BatchGetSkusRequest, context: Context) -> pb.BatchGetSkusResponse:
        return await self.catalogue.batch_get_skus(request)

    async def ListSkus(self, request: pb.ListSkusRequest, context: Context) -> pb.ListSkusResponse:
        return await self.catalogue.list_skus(request)

    async def ReceiveStock(self, request: pb.ReceiveStockRequest, context: Context) -> pb.ReceiveStockResponse:
        return await self._with_token(await self.stock.receive(request))

    async def AdjustStock(self, request: pb.AdjustStockRequest, context: Context) -> pb.AdjustStockResponse:
        return await self._with_token(await self.stock.adjust(request))

    async def SetSafetyStock(self, request: pb.SetSafetyStockRequest, context: Context) -> pb.SetSafetyStockResponse:
        return await self._with_token(await self.stock.set_safety_stock(request))

    async def ExpectStock(self, request: pb.ExpectStockRequest, context: Context) -> pb.ExpectStockResponse:
        return await self._with_token(await self.stock.expect(request))

    async def GetStock(self, request: pb.GetStockRequest, context: Context) -> pb.GetStockResponse:
        return await self.stock.get(request)

    async def BatchGetStock(self, request: pb.BatchGetStockRequest, context: Context) -> pb.BatchGetStockResponse:
        return await self.stock.batch_get(request)

    async def FindAvailability(
        self, request: pb.FindAvailabilityRequest, context: Context
    ) -> pb.FindAvailabilityResponse:
        return await self.stock.find_availability(request)

    async def WatchStock(self, request: pb.WatchStockRequest, context: Context) -> AsyncIterator[pb.WatchStockResponse]:
        async for message in self.watcher.watch(request):
            yield message

    async def ListMovements(self, request: pb.ListMovementsRequest, context: Context) -> pb.ListMovementsResponse:
        return await self.stock.list_movements(request)

    async def Hold(self, request: pb.HoldRequest, context: Context) -> pb.HoldResponse:
        return await self._with_token(await self.holds.hold(request))

    async def GetHold(self, request: pb.GetHoldRequest, context: Context) -> pb.GetHoldResponse:
        return await self.holds.get(request)

    async def ListHolds(self, request: pb.ListHoldsRequest, context: Context) -> pb.ListHoldsResponse:
        return await self.holds.list_holds(request)

    async def ReleaseHold(self, request: pb.ReleaseHoldRequest, context: Context) -> pb.ReleaseHoldResponse:
        return await self._with_token(await self.holds.release(request))

    async def GetRequestRecord(
        self, request: pb.GetRequestRecordRequest, context: Context
    ) -> pb.GetRequestRecordResponse:
        return await self.request_records.get(request)

    async def AdjustHold(self, request: pb.AdjustHoldRequest, context: Context) -> pb.AdjustHoldResponse:
        return await self._with_token(await self.hold_edits.adjust(request))

    async def CommitHold(self, request: pb.CommitHoldRequest, context: Context) -> pb.CommitHoldResponse:
        return await self._with_token(await self.holds.commit(request))

    async def ExtendHold(self, request: pb.ExtendHoldRequest, context: Context) -> pb.ExtendHoldResponse:
        return await self.holds.extend(request)

    async def TransferHold(self, request: pb.TransferHoldRequest, context: Context) -> pb.TransferHoldResponse:
        return await self.holds.transfer(request)

    async def CreateCount(self, request: pb.CreateCountRequest, context: Context) -> pb.CreateCountResponse:
        return await self.counts.create(request)

    async def GetCount(self, request: pb.GetCountRequest, context: Context) -> pb.GetCountResponse:
        return await self.counts.get(request)

    async def ListCounts(self, request: pb.ListCountsRequest, context: Context) -> pb.ListCountsResponse:
        return await self.counts.list_counts(request)

    async def ListCountLines(self, request: pb.ListCountLinesRequest, context: Context) -> pb.ListCountLinesResponse:
        return await self.counts.list_lines(request)

    async def RecordCount(self, request: pb.RecordCountRequest, context: Context) -> pb.RecordCountResponse:
        return await self.counts.record(request)

    async def ReviewCount(self, request: pb.ReviewCountRequest, context: Context) -> pb.ReviewCountResponse:
        return await self.counts.review(request)

    async def ApproveCount(self, request: pb.ApproveCountRequest, context: Context) -> pb.ApproveCountResponse:
        return await self.counts.approve(request)

    async def CompleteCount(self, request: pb.CompleteCountRequest, context: Context) -> pb.CompleteCountResponse:
        return await self._with_token(await self.counts.complete(request))

    async def CancelCount(self, request: pb.CancelCountRequest, context: Context) -> pb.CancelCountResponse:
        return await self.counts.cancel(request)

    async def CreateTransfer(self, request: pb.CreateTransferRequest, context: Context) -> pb.CreateTransferResponse:
        return await self._with_token(await self.transfers.create(request))

    async def ShipTransfer(self, request: pb.ShipTransferRequest, context: Context) -> pb.ShipTransferResponse:
        return await self._with_token(await self.transfers.ship(request))

    async def ReceiveTransfer(self, request: pb.ReceiveTransferRequest, context: Context) -> pb.ReceiveTransferResponse:
        return await self._with_token(await self.transfers.receive(request))

    async def CancelTransfer(self, request: pb.CancelTransferRequest, context: Context) -> pb.CancelTransferResponse:
        return await self._with_token(await self.transfers.cancel(request))

    async def GetTransfer(self, request: pb.GetTransferRequest, context: Context) -> pb.GetTransferResponse:
        return await self.transfers.get(request)

    async def ListTransfers(self, request: pb.ListTransfersRequest, context: Context) -> pb.ListTransfersResponse:
        return await self.transfers.list_transfers(request)

    async def UpsertLocationGroup(
        self, request: pb.UpsertLocationGroupRequest, context: Context
    ) -> pb.UpsertLocationGroupResponse:
        return await self.pools.upsert_group(request)

    async def ListLocationGroups(
        self, request: pb.ListLocationGroupsRequest, context: Context
    ) -> pb.ListLocationGroupsResponse:
        return await self.pools.list_groups(request)

    async def SetChannelPools(self, request: pb.SetChannelPoolsRequest, context: Context) -> pb.SetChannelPoolsResponse:
        return await self.pools.set_channel_pools(request)

    async def ListChannelPools(
        self, request: pb.ListChannelPoolsRequest, context: Context
    ) -> pb.ListChannelPoolsResponse:
        return await self.pools.list_channel_pools(request)
