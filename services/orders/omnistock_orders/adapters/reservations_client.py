"""What orders asks of reservations: read a reservation, and take its hold over."""

from __future__ import annotations

import grpc

from omnistock.reservations.v1 import reservations_pb2, reservations_pb2_grpc
from omnistock_platform.grpc.client import remote_call


class ReservationsClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = reservations_pb2_grpc.ReservationsServiceStub(channel)

    async def get(self, reservation_id: str) -> reservations_pb2.Reservation:
        request = reservations_pb2.GetReservationRequest(reservation_id=reservation_id)
        response = await remote_call("reservations", self._stub.GetReservation(request))
        return response.reservation

    async def convert(
        self, request: reservations_pb2.ConvertReservationRequest
    ) -> reservations_pb2.ConvertReservationResponse:
        return await remote_call("reservations", self._stub.ConvertReservation(request))
