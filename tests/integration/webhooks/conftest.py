"""Fixtures for webhooks tests: the service as the back office calls it, partners' receivers on
loopback, and the catalogue, stores and SKUs the events come from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import pytest_asyncio

from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.reservations.support import World
from tests.integration.webhooks.receiver import Receiver


@pytest_asyncio.fixture
async def webhooks(stack: Stack) -> Any:
    return stack.stub("webhooks", role="admin")


@pytest_asyncio.fixture
async def world(stack: Stack) -> World:
    return World(stack)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


async def subscribe(webhooks: Any, receiver: Receiver, event_types: list[str], **fields: Any) -> pb.Subscription:
    """A subscription for the receiver; the receiver checks signatures with its secret."""
    response = await webhooks.CreateSubscription(
        pb.CreateSubscriptionRequest(request_id=unique_id(), url=receiver.url, event_types=event_types, **fields)
    )
    receiver.secret = response.secret
    return response.subscription  # type: ignore[no-any-return]


async def deliveries(webhooks: Any, subscription_id: str, **query: Any) -> list[pb.Delivery]:
    """Every delivery of the subscription (all pages), newest first."""
    found: list[pb.Delivery] = []
    token = ""
    while True:
        page = await webhooks.ListDeliveries(
            pb.ListDeliveriesRequest(subscription_id=subscription_id, page_size=500, page_token=token, **query)
        )
        found.extend(page.deliveries)
        token = page.next_page_token
        if not token:
            return found


async def delete(webhooks: Any, subscription_id: str) -> None:
    """Subscriptions of one test must not keep receiving the events of the next ones."""
    await webhooks.DeleteSubscription(
        pb.DeleteSubscriptionRequest(request_id=unique_id(), subscription_id=subscription_id)
    )


async def arrived(receiver: Receiver, event_ids: set[str], timeout: float = 20.0) -> None:
    def every() -> bool:
        return event_ids <= {r.event_id for r in receiver.accepted()}

    await wait_until(every, timeout=timeout, what=f"{len(event_ids)} deliveries at {receiver.url}")


async def recorded(
    webhooks: Any, subscription_id: str, event_ids: set[str], timeout: float = 20.0
) -> list[pb.Delivery]:
    """The deliveries of these events once the log shows each delivered: the receiver has its
    answer before the service has written down the attempt."""

    async def done() -> bool:
        log = await deliveries(webhooks, subscription_id, state=pb.DELIVERY_STATE_DELIVERED)
        return event_ids <= {d.event_id for d in log}

    await wait_until(done, timeout=timeout, what=f"{len(event_ids)} deliveries recorded as delivered")
    return [d for d in await deliveries(webhooks, subscription_id) if d.event_id in event_ids]
