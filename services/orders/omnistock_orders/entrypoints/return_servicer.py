"""The return methods of the orders gRPC face: each hands its request to the returns use case."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from omnistock.orders.v1 import orders_pb2
from omnistock_orders.service_layer.returns import OrderReturns

Context: TypeAlias = grpc.aio.ServicerContext


class ReturnMethods:
    returns: OrderReturns

    async def CreateReturn(
        self, request: orders_pb2.CreateReturnRequest, context: Context
    ) -> orders_pb2.CreateReturnResponse:
        return await self.returns.create(request)

    async def GetReturn(self, request: orders_pb2.GetReturnRequest, context: Context) -> orders_pb2.GetReturnResponse:
        return await self.returns.get(request)

    async def ListReturns(
        self, request: orders_pb2.ListReturnsRequest, context: Context
    ) -> orders_pb2.ListReturnsResponse:
        return await self.returns.list(request)

    async def ReceiveReturn(
        self, request: orders_pb2.ReceiveReturnRequest, context: Context
    ) -> orders_pb2.ReceiveReturnResponse:
        return await self.returns.receive(request)

    async def CancelReturn(
        self, request: orders_pb2.CancelReturnRequest, context: Context
    ) -> orders_pb2.CancelReturnResponse:
        return await self.returns.cancel(request)
