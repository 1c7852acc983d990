"""The delivery log of a subscription, and its dead letters replayed."""

from __future__ import annotations

import uuid

import asyncpg

from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock_platform.db import Database
from omnistock_platform.errors import FailedPrecondition, NotFound, PreconditionViolation
from omnistock_platform.idempotency import IdempotencyStore
from omnistock_platform.paging import key_after, key_token, page_of
from omnistock_platform.validation import Validator
from omnistock_webhooks.adapters import messages, repository
from omnistock_webhooks.domain.delivery import State
from omnistock_webhooks.service_layer.subscriptions import check_subscription_id

MAX_REPLAY_IDS = 1000


def _before(check: Validator, token: str) -> int | None:
    """The delivery id a page token of `key_token` holds: None for no token."""
    key = key_after(token)
    if not key:
        return None
    if key.isascii() and key.isdigit() and 0 < int(key) < 2**63:
        return int(key)
    check.fail("page_token", "is not a token this service issued")
    return None


def _delivery_id(check: Validator, field: str, value: str) -> int | None:
    if value.isascii() and value.isdigit() and 0 < len(value) <= 18:
        return int(value)
    check.fail(field, "is not a delivery id")
    return None


async def _require_subscription(conn: asyncpg.Connection, subscription_id: str, *, lock: bool = False) -> None:
    if await repository.get_subscription(conn, subscription_id, lock=lock) is None:
        raise NotFound("subscription", subscription_id, field="subscription_id")


class Deliveries:
    def __init__(self, db: Database, idempotency: IdempotencyStore) -> None:
        self.db = db
        self.idempotency = idempotency

    async def list(self, request: pb.ListDeliveriesRequest) -> pb.ListDeliveriesResponse:
        check = Validator()
        check_subscription_id(check, "subscription_id", request.subscription_id)
        if request.state not in messages.STATE_OF_PROTO and request.state != pb.DELIVERY_STATE_UNSPECIFIED:
            check.fail("state", f"unknown value {request.state}")
        if request.event_id:
            try:
                uuid.UUID(request.event_id)
            except ValueError:
                check.fail("event_id", "is not an event id (a UUID)")
        size = check.page_size("page_size", request.page_size)
        before = _before(check, request.page_token)
        check.raise_if_invalid()
        state = messages.STATE_OF_PROTO.get(request.state)
        async with self.db.connection() as conn:
            await _require_subscription(conn, request.subscription_id)
            rows = await repository.list_deliveries(
                conn, request.subscription_id, state, request.event_id or None, before, size + 1
            )
            page, following = page_of(rows, size, lambda last: key_token(str(last["delivery_id"])))
            attempts = await repository.attempts_of(conn, [row["delivery_id"] for row in page])
        return pb.ListDeliveriesResponse(
            deliveries=[messages.delivery(row, attempts.get(row["delivery_id"], [])) for row in page],
            next_page_token=following,
        )

    async def replay(self, request: pb.ReplayDeliveriesRequest) -> pb.ReplayDeliveriesResponse:
        check = Validator()
        check.request_id("request_id", request.request_id, required=True)
        check_subscription_id(check, "subscription_id", request.subscription_id)
        if len(request.delivery_ids) > MAX_REPLAY_IDS:
            check.fail("delivery_ids", f"must name at most {MAX_REPLAY_IDS} deliveries (or none: every dead one)")
            named: list[int] = []
        else:
            parsed = [_delivery_id(check, f"delivery_ids[{i}]", v) for i, v in enumerate(request.delivery_ids)]
            named = sorted({value for value in parsed if value is not None})
        check.raise_if_invalid()

        async def work(conn: asyncpg.Connection) -> pb.ReplayDeliveriesResponse:
            await _require_subscription(conn, request.subscription_id, lock=True)
            if named:
                states = await repository.states_of(conn, request.subscription_id, named)
                missing = [value for value in named if value not in states]
                if missing:
                    raise NotFound("delivery", ", ".join(str(value) for value in missing[:10]), field="delivery_ids")
                alive = [value for value in named if states[value] != State.DEAD.value]
                if alive:
                    raise FailedPrecondition(
                        f"only dead deliveries can be replayed; {len(alive)} named are not",
                        [
                            PreconditionViolation("DELIVERY_STATE", str(value), f"is {states[value]}, not dead")
                            for value in alive[:10]
                        ],
                    )
            replayed = await repository.replay(conn, request.subscription_id, named or None)
            if replayed:
                await repository.notify(conn)
            return pb.ReplayDeliveriesResponse(replayed=replayed)

        return await self.idempotency.run(
            self.db, "ReplayDeliveries", request.request_id, request, pb.ReplayDeliveriesResponse, work
        )
