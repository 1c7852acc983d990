"""`omnistock webhooks ...`: partners' subscriptions to the events, their delivery log and dead
letters (docs/webhooks.md). Every command calls the webhooks service as admin by default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from google.protobuf import duration_pb2, field_mask_pb2
from omnistock_client import OmnistockClient
from omnistock_client.lookups import all_pages

from omnistock.webhooks.v1 import webhooks_pb2 as pb
from omnistock_cli.acting import Call, acting
from omnistock_cli.commands import data, label, until, when
from omnistock_cli.context import fail
from omnistock_cli.groups import add_group
from omnistock_cli.output import console, emit, err_console, table
from omnistock_platform.auth import Role
from omnistock_platform.settings import parse_duration

STATES = {
    "pending": pb.DELIVERY_STATE_PENDING,
    "delivered": pb.DELIVERY_STATE_DELIVERED,
    "dead": pb.DELIVERY_STATE_DEAD,
}
IdArgument = Annotated[str, typer.Argument(metavar="SUBSCRIPTION", help="The subscription id.")]
EventOption = Annotated[
    list[str] | None,
    typer.Option(
        "--event",
        "-e",
        help="An event type or pattern (inventory.stock.changed, orders.order.*, reservations.>, >); repeat for more.",
    ),
]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="A note for people.")]
AttemptsOption = Annotated[
    int | None, typer.Option("--max-attempts", min=0, max=100, help="Attempts before a delivery is dead (0: default).")
]


def _rows(subscriptions: list[pb.Subscription]) -> list[list[Any]]:
    return [
        [
            s.subscription_id,
            s.url,
            ", ".join(s.event_types),
            "paused" if s.paused else "active",
            s.pending_deliveries,
            s.dead_deliveries,
            s.description,
        ]
        for s in subscriptions
    ]


COLUMNS = ["subscription", "url", "events", "state", "pending", "dead", "description"]


def _show(subscription: pb.Subscription, as_json: bool, secret: str = "") -> None:
    if as_json:
        emit({**data(subscription), **({"secret": secret} if secret else {})}, as_json=True, render=None)
        return
    console.print(table(None, COLUMNS, _rows([subscription])))
    if subscription.HasField("previous_secret_expire_time"):
        console.print(f"previous secret still signs until {until(subscription.previous_secret_expire_time)}")
    if secret:
        console.print(f"secret: {secret}")
        err_console.print("Keep the secret now: it is never shown again (rotate-secret makes a new one).")


@acting(Role.ADMIN, works_at=False)
def create(
    url: Annotated[str, typer.Argument(metavar="URL", help="Where deliveries are POSTed (https://...).")],
    events: EventOption = None,
    description: DescriptionOption = None,
    max_attempts: AttemptsOption = None,
    paused: Annotated[bool, typer.Option("--paused", help="Queue events but send none until resumed.")] = False,
    *,
    call: Call,
) -> None:
    """Subscribe an endpoint to events; prints its signing secret, once."""
    if not events:
        fail("name the events with --event", hint="for example --event inventory.stock.changed, or --event '>'")
    request = pb.CreateSubscriptionRequest(
        request_id=call.request_id,
        url=url,
        event_types=events,
        description=description or "",
        max_attempts=max_attempts or 0,
        paused=paused,
    )
    reply = call.ask(lambda client: client.webhooks.CreateSubscription, request)
    _show(reply.subscription, call.as_json, reply.secret)


@acting(Role.ADMIN, writes=False, works_at=False)
def list_subscriptions(*, call: Call) -> None:
    """Every subscription, with its queued and dead deliveries."""

    async def work(client: OmnistockClient) -> list[pb.Subscription]:
        request = pb.ListSubscriptionsRequest()
        return await all_pages(client, client.webhooks.ListSubscriptions, request, "subscriptions")

    subscriptions = call.run(work)
    call.emit(
        {"subscriptions": [data(s) for s in subscriptions]},
        render=table(None, COLUMNS, _rows(subscriptions)) if subscriptions else "No subscriptions.",
    )


@acting(Role.ADMIN, writes=False, works_at=False)
def show(subscription_id: IdArgument, *, call: Call) -> None:
    """One subscription (never its secret)."""
    request = pb.GetSubscriptionRequest(subscription_id=subscription_id)
    _show(call.ask(lambda client: client.webhooks.GetSubscription, request).subscription, call.as_json)


@acting(Role.ADMIN, works_at=False)
def update(
    subscription_id: IdArgument,
    url: Annotated[str | None, typer.Option("--url", help="A new URL.")] = None,
    events: EventOption = None,
    description: DescriptionOption = None,
    max_attempts: AttemptsOption = None,
    pause: Annotated[
        bool | None, typer.Option("--pause/--resume", help="Stop sending (events are queued) or start again.")
    ] = None,
    *,
    call: Call,
) -> None:
    """Change a subscription: only what is given changes."""
    wanted = pb.Subscription(subscription_id=subscription_id)
    paths: list[str] = []
    if url is not None:
        wanted.url, paths = url, [*paths, "url"]
    if events:
        wanted.event_types.extend(events)
        paths.append("event_types")
    if description is not None:
        wanted.description, paths = description, [*paths, "description"]
    if max_attempts is not None:
        wanted.max_attempts, paths = max_attempts, [*paths, "max_attempts"]
    if pause is not None:
        wanted.paused, paths = pause, [*paths, "paused"]
    if not paths:
        fail("nothing to change", hint="give --url, --event, --description, --max-attempts, --pause or --resume")
    request = pb.UpdateSubscriptionRequest(
        request_id=call.request_id,
        subscription=wanted,
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )
    _show(call.ask(lambda client: client.webhooks.UpdateSubscription, request).subscription, call.as_json)


@acting(Role.ADMIN, works_at=False)
def delete(
    subscription_id: IdArgument,
    *,
    call: Call,
) -> None:
    """Delete a subscription, its queued deliveries and its log."""
    request = pb.DeleteSubscriptionRequest(request_id=call.request_id, subscription_id=subscription_id)
    reply = call.ask(lambda client: client.webhooks.DeleteSubscription, request)
    call.emit(data(reply), render=f"Deleted; {reply.dropped_deliveries} queued deliveries dropped.")


@acting(Role.ADMIN, works_at=False)
def rotate_secret(
    subscription_id: IdArgument,
    keep_previous: Annotated[
        str, typer.Option("--keep-previous", help="How long the old secret also signs (0 for not at all).")
    ] = "24h",
    *,
    call: Call,
) -> None:
    """Give a subscription a new signing secret; prints it, once."""
    keep = parse_duration(keep_previous)
    if not isinstance(keep, timedelta) or keep < timedelta(0):
        fail(f"--keep-previous {keep_previous!r} is not a duration", hint="write it like 0, 30m, 24h or 7d")
    request = pb.RotateSubscriptionSecretRequest(
        request_id=call.request_id,
        subscription_id=subscription_id,
        keep_previous_for=duration_pb2.Duration(seconds=int(keep.total_seconds())),
    )
    reply = call.ask(lambda client: client.webhooks.RotateSubscriptionSecret, request)
    _show(reply.subscription, call.as_json, reply.secret)


def _attempts(delivery: pb.Delivery) -> str:
    if not delivery.attempts:
        return ""
    last = delivery.attempts[-1]
    outcome = last.error or (str(last.status_code) if _answered(last) else "running")
    latency = f" {last.latency.ToTimedelta().total_seconds() * 1000:.0f} ms" if last.HasField("latency") else ""
    return f"{len(delivery.attempts)}, last: {outcome}{latency}"


def _answered(attempt: pb.DeliveryAttempt) -> bool:
    """Whether the attempt has its outcome (an attempt still running has no status, error or latency)."""
    return bool(attempt.status_code or attempt.error or attempt.HasField("latency"))


def _next(delivery: pb.Delivery, paused: bool) -> str:
    """When a pending delivery is tried: behind the earlier one of its key, once the subscription is
    resumed, due now, or later."""
    if delivery.waiting_for_earlier or not delivery.next_attempt_time.seconds:
        return "after the earlier delivery of its key"
    if delivery.attempts and not _answered(delivery.attempts[-1]):
        return "being tried now"
    if paused:
        return "when the subscription is resumed"
    if delivery.next_attempt_time.ToDatetime(tzinfo=UTC) <= datetime.now(UTC):
        return f"{when(delivery.next_attempt_time)} (due now)"
    return until(delivery.next_attempt_time)


@acting(Role.ADMIN, writes=False, works_at=False)
def deliveries(
    subscription_id: IdArgument,
    state: Annotated[str | None, typer.Option("--state", help="pending, delivered or dead (the dead letters).")] = None,
    event: Annotated[str | None, typer.Option("--event-id", help="Only the delivery of this event.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 50,
    *,
    call: Call,
) -> None:
    """A subscription's delivery log: each delivery with its attempts, newest first."""
    if state is not None and state.lower() not in STATES:
        fail(f"unknown state {state!r}", hint=f"one of {', '.join(STATES)}")
    request = pb.ListDeliveriesRequest(
        subscription_id=subscription_id,
        state=STATES[state.lower()] if state else pb.DELIVERY_STATE_UNSPECIFIED,  # type: ignore[arg-type]
        event_id=event or "",
        page_size=min(limit, 500),
    )

    async def work(client: OmnistockClient) -> tuple[bool, list[pb.Delivery]]:
        found = await all_pages(client, client.webhooks.ListDeliveries, request, "deliveries", limit=limit)
        if not any(d.state == pb.DELIVERY_STATE_PENDING for d in found):
            return False, found
        asked = pb.GetSubscriptionRequest(subscription_id=subscription_id)
        return (await client.call(client.webhooks.GetSubscription, asked)).subscription.paused, found

    paused, found = call.run(work)
    rows = [
        [
            d.delivery_id,
            d.event_type,
            d.ordering_key,
            label(d.state, pb.DeliveryState, "DELIVERY_STATE_"),
            _attempts(d),
            when(d.create_time),
            _next(d, paused) if d.state == pb.DELIVERY_STATE_PENDING else when(d.finish_time),
            d.event_id,
        ]
        for d in found
    ]
    columns = ["delivery", "event", "key", "state", "attempts", "queued", "next / finished", "event id"]
    call.emit(
        {"deliveries": [data(d) for d in found]},
        render=table(None, columns, rows) if rows else "No deliveries.",
    )


@acting(Role.ADMIN, works_at=False)
def replay(
    subscription_id: IdArgument,
    delivery_ids: Annotated[
        list[str] | None, typer.Argument(metavar="DELIVERY", help="Dead deliveries to send again; none: all.")
    ] = None,
    *,
    call: Call,
) -> None:
    """Send dead deliveries again, with a fresh set of attempts."""
    request = pb.ReplayDeliveriesRequest(
        request_id=call.request_id, subscription_id=subscription_id, delivery_ids=delivery_ids or []
    )
    reply = call.ask(lambda client: client.webhooks.ReplayDeliveries, request)
    call.emit(data(reply), render=f"{reply.replayed} dead deliveries queued again.")


@acting(Role.ADMIN, writes=False, works_at=False)
def events(*, call: Call) -> None:
    """The event catalogue: every event type a subscription may name (docs/events.md)."""

    async def work(client: OmnistockClient) -> list[pb.EventType]:
        return await all_pages(client, client.webhooks.ListEventTypes, pb.ListEventTypesRequest(), "event_types")

    types = call.run(work)
    rows = [[t.type, t.payload_type, ", ".join(t.ordering_key) or "none"] for t in types]
    call.emit(
        {"event_types": [data(t) for t in types]},
        render=table(None, ["type", "payload", "ordered by"], rows),
    )


EXAMPLES = ("omnistock webhooks events", "omnistock webhooks list")


def register(app: typer.Typer) -> None:
    add_group(
        app,
        "webhooks",
        "Webhooks: subscriptions of partners' HTTP endpoints to events, deliveries and dead letters.",
        {
            "create": create,
            "list": list_subscriptions,
            "show": show,
            "update": update,
            "delete": delete,
            "rotate-secret": rotate_secret,
            "deliveries": deliveries,
            "replay": replay,
            "events": events,
        },
    )
