"""The gRPC face of fulfilment: each method hands its request to the use case that owns it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from omnistock.fulfilment.v1 import fulfilment_pb2, fulfilment_pb2_grpc
from omnistock_fulfilment.service_layer.watch import TaskWatch
from omnistock_fulfilment.service_layer.work import TaskWork

FULL_NAME = fulfilment_pb2.DESCRIPTOR.services_by_name["FulfilmentService"].full_name


class FulfilmentServicer(fulfilment_pb2_grpc.FulfilmentServiceServicer):
    def __init__(self, work: TaskWork, watch: TaskWatch) -> None:
        self.work = work
        self.watch = watch

    async def ListTasks(
        self, request: fulfilment_pb2.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> fulfilment_pb2.ListTasksResponse:
        return await self.work.list_tasks(request)

    async def GetTask(
        self, request: fulfilment_pb2.GetTaskRequest, context: grpc.aio.ServicerContext
    ) -> fulfilment_pb2.GetTaskResponse:
        return await self.work.get_task(request)

    async def StartPicking(
        self, request: fulfilment_pb2.StartPickingRequest, context: grpc.aio.ServicerContext
    ) -> fulfilment_pb2.StartPickingResponse:
        return await self.work.start_picking(request)

    async def ConfirmPick(
        self, request: fulfilment_pb2.ConfirmPickRequest, context: grpc.aio.ServicerContext
    ) -> fulfilment_pb2.ConfirmPickResponse:
        return await self.work.confirm_pick(request)

    async def Pack(
        self, request: fulfilment_pb2.PackRequest, context: grpc.aio.ServicerContext
    ) -> fulfilment_pb2.PackResponse:
        return await self.work.pack(request)

    async def Ship(
        self, request: fulfilment_pb2.ShipRequest, context: grpc.aio.ServicerContext
    ) -> fulfilment_pb2.ShipResponse:
        return await self.work.ship(request)

    async def MarkReadyForPickup(
        self, request: fulfilment_pb2.MarkReadyForPickupRequest, context: grpc.aio.ServicerContext
    ) -> fulfilment_pb2.MarkReadyForPickupResponse:
        return await self.work.mark_ready_for_pickup(request)

    async def HandOver(
        self, request: fulfilment_pb2.HandOverRequest, context: grpc.aio.ServicerContext
    ) -> fulfilment_pb2.HandOverResponse:
        return await self.work.hand_over(request)

    async def WatchTasks(
        self, request: fulfilment_pb2.WatchTasksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fulfilment_pb2.WatchTasksResponse]:
        async for response in self.watch.watch(request):
            yield response
