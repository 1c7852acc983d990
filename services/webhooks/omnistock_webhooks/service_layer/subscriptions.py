"""Subscriptions: create, read, change, delete, rotate their secret; and the event types they may name."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg

from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.errors import NotFound
from omnistock_platform.events.catalogue import EventEntry
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.paging import key_after, key_token, page_after, page_of, page_token
from omnistock_platform.validation import Validator
from omnistock_webhooks.adapters import messages, repository
from omnistock_webhooks.domain.networks import AllowedNetworks
from omnistock_webhooks.domain.subscription import check_event_types, check_max_attempts, check_url, new_secret
from omnistock_webhooks.settings import WebhooksSettings

MAX_DESCRIPTION = 200
DEFAULT_KEEP_PREVIOUS = timedelta(hours=24)
MAX_KEEP_PREVIOUS = timedelta(days=7)
UPDATABLE = ("url", "event_types", "description", "paused", "max_attempts")


def check_subscription_id(check: Validator, field: str, value: str) -> None:
    """An id of the form every service's ids have (a subscription's is a UUID): one of that form that
    names no subscription is NOT_FOUND, as an unknown order or task id is, not a malformed one."""
    check.identifier(field, value)


class Subscriptions:
    def __init__(
        self,
        db: Database,
        idempotency: IdempotencyStore,
        settings: WebhooksSettings,
        networks: AllowedNetworks,
        catalogue: Mapping[str, EventEntry],
    ) -> None:
        self.db = db
        self.idempotency = idempotency
        self.settings = settings
        self.networks = networks
        self.catalogue = catalogue

    def _check_fields(self, check: Validator, prefix: str, request: Any, names: tuple[str, ...]) -> list[str]:
        """Validates the subscription fields among `names`; answers the event types kept."""
        kept: list[str] = []
        if "url" in names:
            check_url(check, f"{prefix}url", request.url, self.networks, self.settings.webhook_require_https)
        if "event_types" in names:
            kept = check_event_types(check, f"{prefix}event_types", list(request.event_types), self.catalogue)
        if "description" in names:
            check.text(f"{prefix}description", request.description, max_length=MAX_DESCRIPTION)
        if "max_attempts" in names:
            check_max_attempts(check, f"{prefix}max_attempts", request.max_attempts)
        return kept

    async def _answer(self, conn: asyncpg.Connection, subscription_id: str) -> pb.Subscription:
        row = await repository.get_subscription(conn, subscription_id)
        if row is None:
            raise NotFound("subscription", subscription_id, field="subscription_id")
        counts = await repository.delivery_counts(conn, [subscription_id])
        return messages.subscription(row, counts.get(subscription_id, (0, 0)))

    async def create(self, request: pb.CreateSubscriptionRequest) -> pb.CreateSubscriptionResponse:
        check = Validator()
        check.request_id("request_id", request.request_id, required=True)
        event_types = self._check_fields(check, "", request, UPDATABLE)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.CreateSubscriptionResponse:
            secret = new_secret()
            row = await repository.insert_subscription(
                conn,
                str(uuid.uuid4()),
                request.url,
                event_types,
                request.description,
                request.paused,
                request.max_attempts,
                secret,
            )
            return pb.CreateSubscriptionResponse(subscription=messages.subscription(row), secret=secret)

        return await self.idempotency.run(
            self.db, "CreateSubscription", request.request_id, request, pb.CreateSubscriptionResponse, work
        )

    async def get(self, request: pb.GetSubscriptionRequest) -> pb.GetSubscriptionResponse:
        check = Validator()
        check_subscription_id(check, "subscription_id", request.subscription_id)
        check.raise_if_invalid()
        async with self.db.connection() as conn:
            return pb.GetSubscriptionResponse(subscription=await self._answer(conn, request.subscription_id))

    async def list(self, request: pb.ListSubscriptionsRequest) -> pb.ListSubscriptionsResponse:
        check = Validator()
        size = check.page_size("page_size", request.page_size)
        after = page_after(request.page_token)
        if after is not None:
            check_subscription_id(check, "page_token", after[1])
        check.raise_if_invalid()
        async with self.db.connection() as conn:
            rows = await repository.list_subscriptions(conn, after, size + 1)
            page, following = page_of(
                rows, size, lambda last: page_token(last["created_at"], last_id=str(last["subscription_id"]))
            )
            counts = await repository.delivery_counts(conn, [row["subscription_id"] for row in page])
        return pb.ListSubscriptionsResponse(
            subscriptions=[messages.subscription(row, counts.get(row["subscription_id"], (0, 0))) for row in page],
            next_page_token=following,
        )

    async def update(self, request: pb.UpdateSubscriptionRequest) -> pb.UpdateSubscriptionResponse:
        check = Validator()
        check.request_id("request_id", request.request_id, required=True)
        wanted = request.subscription
        check_subscription_id(check, "subscription.subscription_id", wanted.subscription_id)
        paths = request.update_mask.paths
        if not paths:
            check.fail("update_mask", f"must name the fields to change: {', '.join(UPDATABLE)}")
        for index, path in enumerate(paths):  # indexes as sent: a path given twice shifts none
            if path not in UPDATABLE:
                check.fail(f"update_mask.paths[{index}]", f"{path!r} cannot be changed; only {', '.join(UPDATABLE)}")
        named = tuple(dict.fromkeys(path for path in paths if path in UPDATABLE))
        event_types = self._check_fields(check, "subscription.", wanted, named)
        check.raise_if_invalid()
        values: dict[str, Any] = {
            "url": wanted.url,
            "event_types": event_types,
            "description": wanted.description,
            "paused": wanted.paused,
            "max_attempts": wanted.max_attempts,
        }
        changes = {column: values[column] for column in named}

        async def work(conn: asyncpg.Connection) -> pb.UpdateSubscriptionResponse:
            if await repository.get_subscription(conn, wanted.subscription_id, lock=True) is None:
                raise NotFound("subscription", wanted.subscription_id, field="subscription.subscription_id")
            await repository.update_subscription(conn, wanted.subscription_id, changes)
            if changes.get("paused") is False:
                await repository.notify(conn)  # resumed: its queued deliveries are due
            return pb.UpdateSubscriptionResponse(subscription=await self._answer(conn, wanted.subscription_id))

        return await self.idempotency.run(
            self.db, "UpdateSubscription", request.request_id, request, pb.UpdateSubscriptionResponse, work
        )

    async def delete(self, request: pb.DeleteSubscriptionRequest) -> pb.DeleteSubscriptionResponse:
        check = Validator()
        check.request_id("request_id", request.request_id, required=True)
        check_subscription_id(check, "subscription_id", request.subscription_id)
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.DeleteSubscriptionResponse:
            await repository.lock_subscription_queues(conn, request.subscription_id)
            if await repository.get_subscription(conn, request.subscription_id, lock=True) is None:
                raise NotFound("subscription", request.subscription_id, field="subscription_id")
            dropped = await repository.delete_subscription(conn, request.subscription_id)
            return pb.DeleteSubscriptionResponse(dropped_deliveries=dropped)

        return await self.idempotency.run(
            self.db, "DeleteSubscription", request.request_id, request, pb.DeleteSubscriptionResponse, work
        )

    async def rotate(self, request: pb.RotateSubscriptionSecretRequest) -> pb.RotateSubscriptionSecretResponse:
        check = Validator()
        check.request_id("request_id", request.request_id, required=True)
        check_subscription_id(check, "subscription_id", request.subscription_id)
        keep = DEFAULT_KEEP_PREVIOUS
        if request.HasField("keep_previous_for"):
            keep = check.duration("keep_previous_for", request.keep_previous_for) or timedelta(0)
            check.check(timedelta(0) <= keep <= MAX_KEEP_PREVIOUS, "keep_previous_for", "must be between 0 and 7 days")
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.RotateSubscriptionSecretResponse:
            if await repository.get_subscription(conn, request.subscription_id, lock=True) is None:
                raise NotFound("subscription", request.subscription_id, field="subscription_id")
            secret = new_secret()
            await repository.rotate_secret(conn, request.subscription_id, secret, keep)
            subscription = await self._answer(conn, request.subscription_id)
            return pb.RotateSubscriptionSecretResponse(subscription=subscription, secret=secret)

        return await self.idempotency.run(
            self.db,
            "RotateSubscriptionSecret",
            request.request_id,
            request,
            pb.RotateSubscriptionSecretResponse,
            work,
        )

    def event_types(self, request: pb.ListEventTypesRequest) -> pb.ListEventTypesResponse:
        check = Validator()
        size = check.page_size("page_size", request.page_size)
        after = key_after(request.page_token)
        check.raise_if_invalid()
        page, following = page_of(
            [entry for event_type, entry in self.catalogue.items() if event_type > after],
            size,
            lambda last: key_token(last.type),
        )
        return pb.ListEventTypesResponse(
            event_types=[messages.event_type(entry) for entry in page], next_page_token=following
        )
