"""What fulfilment tells reservations: the items are at the desk, and the customer has them."""

from __future__ import annotations

import grpc

from omnistock.reservations.v1 import reservations_pb2, reservations_pb2_grpc
from omnistock_platform.grpc.client import remote_call


class ReservationsClient:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = reservations_pb2_grpc.ReservationsServiceStub(channel)

    async def mark_ready(self, request_id: str, reservation_id: str) -> None:
        request = reservations_pb2.MarkReservationReadyRequest(request_id=request_id, reservation_id=reservation_id)
        await remote_call("reservations", self._stub.MarkReservationReady(request))

    async def collect(self, request_id: str, store_id: str, pickup_code: str) -> None:
        """Commits the reservation's hold: the sale is complete."""
        request = reservations_pb2.CollectReservationRequest(
            request_id=request_id, store_id=store_id, pickup_code=pickup_code
        )
        await remote_call("reservations", self._stub.CollectReservation(request))
