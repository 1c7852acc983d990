"""A connection to the services with deadlines, retries and a token."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import grpc
from google.rpc.error_details_pb2 import RetryInfo

from omnistock.fulfilment.v1 import fulfilment_pb2_grpc
from omnistock.insights.v1 import insights_pb2_grpc
from omnistock.inventory.v1 import inventory_pb2_grpc
from omnistock.orders.v1 import orders_pb2_grpc
from omnistock.reservations.v1 import reservations_pb2_grpc
from omnistock.webhooks.v1 import webhooks_pb2_grpc
from omnistock_platform.grpc.client import open_channel
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.services import SERVICES, ServiceName
from omnistock_platform.settings import Settings

ResponseT = TypeVar("ResponseT")

# Codes after which the same request (same request_id) may safely be sent again.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


# However long a service asks a client to wait before it retries, it waits at most this long.
MAX_SERVER_DELAY = 30.0


def new_request_id() -> str:
    """A fresh idempotency key: keep it for every retry of the same intent."""
    return str(uuid.uuid4())


@dataclass
class RetryPolicy:
    attempts: int = 6
    first_backoff: float = 0.1
    max_backoff: float = 2.0
    deadline: float = 10.0

    def backoff(self, attempt: int) -> float:
        # Full jitter keeps many retrying clients from arriving together.
        return random.uniform(0, min(self.max_backoff, self.first_backoff * 2**attempt))

    def wait(self, attempt: int, error: grpc.aio.AioRpcError) -> float:
        """Seconds before the next attempt: the backoff, but never sooner than the service asked
        (its RetryInfo, sent with RESOURCE_EXHAUSTED and UNAVAILABLE), up to MAX_SERVER_DELAY."""
        asked = max((d.retry_delay.ToTimedelta().total_seconds() for d in details_of(error, RetryInfo)), default=0.0)
        return max(self.backoff(attempt), min(asked, MAX_SERVER_DELAY))


@dataclass
class OmnistockClient:
    channels: dict[ServiceName, grpc.aio.Channel]
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # The bearer token each call sends (as of now): who the calls are made as.
    token: Callable[[], str] = field(default=lambda: "", repr=False)

    @classmethod
    def connect(
        cls,
        settings: Settings,
        token: str | Callable[[], str],
        *,
        addresses: dict[ServiceName, str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Self:
        """Channels to every service; `addresses` overrides the settings' addresses."""
        get_token = token if callable(token) else (lambda: token)
        chosen = addresses or {}
        channels = {name: open_channel(settings, name, get_token, address=chosen.get(name)) for name in SERVICES}
        return cls(channels, retry or RetryPolicy(deadline=settings.default_deadline.total_seconds()), get_token)

    @property
    def inventory(self) -> inventory_pb2_grpc.InventoryServiceStub:
        return inventory_pb2_grpc.InventoryServiceStub(self.channels["inventory"])

    @property
    def reservations(self) -> reservations_pb2_grpc.ReservationsServiceStub:
        return reservations_pb2_grpc.ReservationsServiceStub(self.channels["reservations"])

    @property
    def orders(self) -> orders_pb2_grpc.OrdersServiceStub:
        return orders_pb2_grpc.OrdersServiceStub(self.channels["orders"])

    @property
    def fulfilment(self) -> fulfilment_pb2_grpc.FulfilmentServiceStub:
        return fulfilment_pb2_grpc.FulfilmentServiceStub(self.channels["fulfilment"])

    @property
    def insights(self) -> insights_pb2_grpc.InsightsServiceStub:
        return insights_pb2_grpc.InsightsServiceStub(self.channels["insights"])

    @property
    def webhooks(self) -> webhooks_pb2_grpc.WebhooksServiceStub:
        return webhooks_pb2_grpc.WebhooksServiceStub(self.channels["webhooks"])

    async def call(
        self, method: Callable[..., Awaitable[ResponseT]], request: Any, *, deadline: float | None = None
    ) -> ResponseT:
        """Call with a deadline and retry what may be retried, with the same request
        (and so the same request_id): the service answers a retry like the first try."""
        timeout = deadline if deadline is not None else self.retry.deadline
        for attempt in range(self.retry.attempts):
            try:
                return await method(request, timeout=timeout)
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE or attempt == self.retry.attempts - 1:
                    raise
                await asyncio.sleep(self.retry.wait(attempt, error))
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self.channels.values()))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
