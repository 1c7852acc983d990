"""gRPC translation only: each RPC hands its request to a use case."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from omnistock.reservations.v1 import reservations_pb2 as pb
from omnistock.reservations.v1 import reservations_pb2_grpc
from omnistock_reservations.service_layer.creating import Creating
from omnistock_reservations.service_layer.lifecycle import Lifecycle

Context: TypeAlias = grpc.aio.ServicerContext


class ReservationsServicer(reservations_pb2_grpc.ReservationsServiceServicer):
    def __init__(self, creating: Creating, lifecycle: Lifecycle) -> None:
        self.creating = creating
        self.lifecycle = lifecycle

    async def CreateReservation(
        self, request: pb.CreateReservationRequest, context: Context
    ) -> pb.CreateReservationResponse:
        return await self.creating.create(request)

    async def GetReservation(self, request: pb.GetReservationRequest, context: Context) -> pb.GetReservationResponse:
        return await self.lifecycle.get(request)

    async def ListReservations(
        self, request: pb.ListReservationsRequest, context: Context
    ) -> pb.ListReservationsResponse:
        return await self.lifecycle.list(request)

    async def ExtendReservation(
        self, request: pb.ExtendReservationRequest, context: Context
    ) -> pb.ExtendReservationResponse:
        return await self.lifecycle.extend(request)

    async def CancelReservation(
        self, request: pb.CancelReservationRequest, context: Context
    ) -> pb.CancelReservationResponse:
        return await self.lifecycle.cancel(request)

    async def CollectReservation(
        self, request: pb.CollectReservationRequest, context: Context
    ) -> pb.CollectReservationResponse:
        return await self.lifecycle.collect(request)

    async def MarkReservationReady(
        self, request: pb.MarkReservationReadyRequest, context: Context
    ) -> pb.MarkReservationReadyResponse:
        return await self.lifecycle.mark_ready(request)

    async def ConvertReservation(
        self, request: pb.ConvertReservationRequest, context: Context
    ) -> pb.ConvertReservationResponse:
        return await self.lifecycle.convert(request)
