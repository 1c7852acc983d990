"""Managing subscriptions over gRPC: what is refused (and changes nothing), idempotency, secrets
that are answered once, paging, and the event catalogue."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock_platform.events.catalogue import read_catalogue
from omnistock_platform.grpc.errors import details_of
from omnistock_platform.grpc.reflection import contract_files
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.integration.webhooks.conftest import delete, deliveries, subscribe
from tests.integration.webhooks.receiver import Receiver

GOOD = "http://127.0.0.1:9/hooks"


async def all_subscriptions(webhooks: Any) -> list[pb.Subscription]:
    found: list[pb.Subscription] = []
    token = ""
    while True:
        page = await webhooks.ListSubscriptions(pb.ListSubscriptionsRequest(page_size=2, page_token=token))
        found.extend(page.subscriptions)
        token = page.next_page_token
        if not token:
            return found


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return {
        v.field: v.description for bad in details_of(error, error_details_pb2.BadRequest) for v in bad.field_violations
    }


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "is required"),
        ("ftp://127.0.0.1/x", "must start with"),
        ("http://user:secret@127.0.0.1/x", "user name or password"),
        ("http://127.0.0.1/x#part", "fragment"),
        ("http://10.1.2.3/x", "outside the networks"),  # private: only loopback in the tests
        ("http://169.254.169.254/latest/meta-data", "outside the networks"),
        ("http://[::ffff:10.0.0.1]/x", "outside the networks"),
        ("http://0.0.0.0:80/x", "outside the networks"),
        ("http://2130706433/x", "neither a host name nor an IP address"),  # 127.0.0.1 to inet_aton
        ("http://127.1/x", "neither a host name nor an IP address"),
        ("http://0x7f000001/x", "neither a host name nor an IP address"),
        ("http://exa mple.com/x", "without spaces"),
        ("http://münchen.example/x", "ASCII"),
        ("http:///x", "must name a host"),
        ("http://127.0.0.1:99999/x", "is not a URL"),
        ("http://example.com/" + "x" * 2048, "at most 2048"),
    ],
)
async def test_a_url_that_may_not_be_reached_is_refused_and_nothing_is_made(webhooks: Any, url: str, why: str) -> None:
    before = len(await all_subscriptions(webhooks))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await webhooks.CreateSubscription(
            pb.CreateSubscriptionRequest(request_id=unique_id(), url=url, event_types=[">"])
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert why in violations(refused.value)["url"]
    assert len(await all_subscriptions(webhooks)) == before


async def test_event_types_must_match_the_catalogue(webhooks: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await webhooks.CreateSubscription(
            pb.CreateSubscriptionRequest(
                request_id=unique_id(),
                url=GOOD,
                event_types=["inventory.stock.change", "orders.>.x", "Orders.order.created", "orders.order.*"],
                max_attempts=101,
            )
        )
    found = violations(refused.value)
    assert "matches no event type" in found["event_types[0]"]
    assert "only as its last token" in found["event_types[1]"]
    assert "lower-case" in found["event_types[2]"]
    assert "event_types[3]" not in found
    assert "between 1 and 100" in found["max_attempts"]
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await webhooks.CreateSubscription(pb.CreateSubscriptionRequest(request_id=unique_id(), url=GOOD))
    assert "at least one" in violations(empty.value)["event_types"]


async def test_create_answers_the_secret_once_and_a_retry_the_same(webhooks: Any) -> None:
    request = pb.CreateSubscriptionRequest(
        request_id=unique_id(), url=GOOD, event_types=["orders.order.*", "orders.order.*"], description="ERP"
    )
    first = await webhooks.CreateSubscription(request)
    try:
        again = await webhooks.CreateSubscription(request)
        assert again == first
        assert first.secret.startswith("whsec_") and len(first.secret) > 40
        assert list(first.subscription.event_types) == ["orders.order.*"]
        got = await webhooks.GetSubscription(
            pb.GetSubscriptionRequest(subscription_id=first.subscription.subscription_id)
        )
        assert first.secret not in str(got) and "secret" not in {f.name for f, _ in got.subscription.ListFields()}
        listed = await all_subscriptions(webhooks)
        assert first.secret not in str(listed)
        assert first.subscription.subscription_id in {s.subscription_id for s in listed}
        with pytest.raises(grpc.aio.AioRpcError) as reused:
            await webhooks.CreateSubscription(
                pb.CreateSubscriptionRequest(request_id=request.request_id, url=GOOD, event_types=[">"])
            )
        assert reused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        await delete(webhooks, first.subscription.subscription_id)


async def test_update_changes_only_the_named_fields(webhooks: Any) -> None:
    created = await webhooks.CreateSubscription(
        pb.CreateSubscriptionRequest(request_id=unique_id(), url=GOOD, event_types=[">"], description="before")
    )
    subscription_id = created.subscription.subscription_id
    try:
        updated = await webhooks.UpdateSubscription(
            pb.UpdateSubscriptionRequest(
                request_id=unique_id(),
                subscription=pb.Subscription(
                    subscription_id=subscription_id, description="after", url="http://127.0.0.1:10/other"
                ),
                update_mask={"paths": ["description"]},
            )
        )
        assert updated.subscription.description == "after" and updated.subscription.url == GOOD
        for mask, field in ((["secret"], "update_mask.paths[0]"), ([], "update_mask")):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await webhooks.UpdateSubscription(
                    pb.UpdateSubscriptionRequest(
                        request_id=unique_id(),
                        subscription=pb.Subscription(subscription_id=subscription_id),
                        update_mask={"paths": mask},
                    )
                )
            assert field in violations(refused.value)
        with pytest.raises(grpc.aio.AioRpcError) as private:
            await webhooks.UpdateSubscription(
                pb.UpdateSubscriptionRequest(
                    request_id=unique_id(),
                    subscription=pb.Subscription(subscription_id=subscription_id, url="http://192.168.1.1/"),
                    update_mask={"paths": ["url"]},
                )
            )
        assert "subscription.url" in violations(private.value)
        again = await webhooks.GetSubscription(pb.GetSubscriptionRequest(subscription_id=subscription_id))
        assert again.subscription.url == GOOD
    finally:
        await delete(webhooks, subscription_id)


@pytest.mark.parametrize("unknown", ["00000000-0000-4000-8000-000000000000", "not-an-id"], ids=["uuid", "other-form"])
async def test_unknown_ids_are_not_found(webhooks: Any, unknown: str) -> None:
    """Any id of the form ids have names nothing here unless it names a subscription: NOT_FOUND, as an
    unknown order or task id is elsewhere, even where it is no UUID as subscription ids are."""
    calls = [
        webhooks.GetSubscription(pb.GetSubscriptionRequest(subscription_id=unknown)),
        webhooks.DeleteSubscription(pb.DeleteSubscriptionRequest(request_id=unique_id(), subscription_id=unknown)),
        webhooks.ListDeliveries(pb.ListDeliveriesRequest(subscription_id=unknown)),
        webhooks.RotateSubscriptionSecret(
            pb.RotateSubscriptionSecretRequest(request_id=unique_id(), subscription_id=unknown)
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await call
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await webhooks.GetSubscription(pb.GetSubscriptionRequest(subscription_id="not an id!"))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(malformed.value)) == ["subscription_id"]


async def test_only_dead_deliveries_are_replayed(webhooks: Any, receiver: Receiver, world: Any) -> None:

    subscription = await subscribe(webhooks, receiver, ["inventory.stock.changed"])
    try:
        store = await world.store()
        sku = await world.sku()
        await world.receive(store, sku, 1)

        async def delivered() -> list[pb.Delivery]:
            log = await deliveries(webhooks, subscription.subscription_id, state=pb.DELIVERY_STATE_DELIVERED)
            return [d for d in log if sku in d.ordering_key]

        await wait_until(lambda: _nonempty(delivered), what="the delivery made")
        (done,) = await delivered()
        with pytest.raises(grpc.aio.AioRpcError) as alive:
            await webhooks.ReplayDeliveries(
                pb.ReplayDeliveriesRequest(
                    request_id=unique_id(),
                    subscription_id=subscription.subscription_id,
                    delivery_ids=[done.delivery_id],
                )
            )
        assert alive.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "DELIVERY_STATE" in str(details_of(alive.value, error_details_pb2.PreconditionFailure))
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await webhooks.ReplayDeliveries(
                pb.ReplayDeliveriesRequest(
                    request_id=unique_id(), subscription_id=subscription.subscription_id, delivery_ids=["999999999999"]
                )
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await webhooks.ReplayDeliveries(
                pb.ReplayDeliveriesRequest(
                    request_id=unique_id(), subscription_id=subscription.subscription_id, delivery_ids=["x1"]
                )
            )
        assert "delivery_ids[0]" in violations(malformed.value)
    finally:
        await delete(webhooks, subscription.subscription_id)


async def _nonempty(read: Any) -> bool:
    return bool(await read())


async def test_the_catalogue_is_served_and_a_partner_cannot_manage_subscriptions(stack: Stack, webhooks: Any) -> None:
    served: list[pb.EventType] = []
    token = ""
    while True:  # in pages of 7
        page = await webhooks.ListEventTypes(pb.ListEventTypesRequest(page_size=7, page_token=token))
        assert len(page.event_types) <= 7
        served.extend(page.event_types)
        token = page.next_page_token
        if not token:
            break
    catalogue = read_catalogue(contract_files())
    assert [t.type for t in served] == list(catalogue)
    stock = next(t for t in served if t.type == "inventory.stock.changed")
    assert stock.payload_type == "omnistock.inventory.v1.StockChanged"
    assert list(stock.ordering_key) == ["level.location_id", "level.sku"]
    for role in ("storefront", "chat_agent", "pos", "warehouse"):
        stub = stack.stub("webhooks", role=role, locations=["STORE-X"])
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.ListSubscriptions(pb.ListSubscriptionsRequest())
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
