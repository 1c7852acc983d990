"""The gRPC face of orders: each method hands its request to the use case that owns it."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from omnistock.orders.v1 import orders_pb2, orders_pb2_grpc
from omnistock_orders.entrypoints.return_servicer import ReturnMethods
from omnistock_orders.service_layer.cancelling import OrderCancellation
from omnistock_orders.service_layer.editing import OrderEditing
from omnistock_orders.service_layer.fulfilment_holds import OrderHolds
from omnistock_orders.service_layer.placing import OrderPlacement
from omnistock_orders.service_layer.queries import OrderQueries
from omnistock_orders.service_layer.returns import OrderReturns

FULL_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name
Context: TypeAlias = grpc.aio.ServicerContext


class OrdersServicer(ReturnMethods, orders_pb2_grpc.OrdersServiceServicer):
    def __init__(
        self,
        placement: OrderPlacement,
        queries: OrderQueries,
        cancellation: OrderCancellation,
        holds: OrderHolds,
        returns: OrderReturns,
        editing: OrderEditing,
    ) -> None:
        self.placement = placement
        self.queries = queries
        self.cancellation = cancellation
        self.holds = holds
        self.returns = returns
        self.editing = editing

    async def QuoteRouting(
        self, request: orders_pb2.QuoteRoutingRequest, context: Context
    ) -> orders_pb2.QuoteRoutingResponse:
        return await self.placement.quote(request)

    async def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: Context
    ) -> orders_pb2.CreateOrderResponse:
        return await self.placement.create(request)

    async def GetOrder(self, request: orders_pb2.GetOrderRequest, context: Context) -> orders_pb2.GetOrderResponse:
        return await self.queries.get(request)

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: Context
    ) -> orders_pb2.ListOrdersResponse:
        return await self.queries.list(request)

    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: Context
    ) -> orders_pb2.CancelOrderResponse:
        return await self.cancellation.cancel(request)

    async def HoldOrder(self, request: orders_pb2.HoldOrderRequest, context: Context) -> orders_pb2.HoldOrderResponse:
        return await self.holds.hold(request)

    async def ReleaseOrderHold(
        self, request: orders_pb2.ReleaseOrderHoldRequest, context: Context
    ) -> orders_pb2.ReleaseOrderHoldResponse:
        return await self.holds.release(request)

    async def EditOrder(self, request: orders_pb2.EditOrderRequest, context: Context) -> orders_pb2.EditOrderResponse:
        return await self.editing.edit(request)
