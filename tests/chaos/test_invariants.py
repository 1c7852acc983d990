"""The invariant checker itself: quiet on a consistent system, and each kind of broken promise a
crash could leave (a hold nobody owns, a sale without its record, a task made twice, an event
never published or never in the stream) is named by its check.

The services run in-process against a database and a stream of the test's own, so that the
other tests' data (holds taken by hand, events published by hand) does not disturb the checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio

from omnistock.common.v1 import common_pb2
from omnistock.orders.v1 import orders_pb2 as opb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.auth import Role
from omnistock_platform.db import Database, create_database, drop_database, with_database
from omnistock_platform.events.bus import EventBus
from omnistock_platform.invariants import check_all
from omnistock_platform.migrations import upgrade_async
from omnistock_platform.registry import installed_services
from omnistock_platform.settings import Settings
from omnistock_platform.testing.stack import Stack
from omnistock_platform.testing.waiting import wait_until
from tests.chaos.workload import OK, Traffic

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def own_stack(omnistock_servers: tuple[str, str], omnistock_settings: Settings) -> AsyncIterator[Stack]:
    admin_url, nats_url = omnistock_servers
    run = uuid.uuid4().hex[:10]
    database = f"omnistock_invariants_{run}"
    await create_database(admin_url, database)
    settings = omnistock_settings.model_copy(
        update={
            "database_url": with_database(admin_url, database),
            "nats_url": nats_url,
            "stream_name": f"OMNISTOCK_INVARIANTS_{run.upper()}",
            "subject_prefix": f"omnistock_invariants_{run}",
            # The changes cut short that the test puts in place stay for the checker to find.
            "resume_after": timedelta(hours=1),
        }
    )
    await upgrade_async(settings, installed_services())
    stack = Stack(settings)
    await stack.start(*installed_services())
    yield stack
    await stack.close()
    bus = EventBus(settings, "invariants-cleanup")
    await bus.connect()
    try:
        await bus.js.delete_stream(settings.stream_name)
    finally:
        await bus.close()
    await drop_database(admin_url, database)


async def quiet(db: Database) -> bool:
    for schema in installed_services():
        if await db.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"):
            return False
    return True


async def test_quiet_when_consistent_and_names_each_broken_promise(own_stack: Stack) -> None:
    settings = own_stack.settings
    traffic = Traffic(settings, dict(own_stack.addresses), seed=7)
    db = Database(settings.database_url or "", min_size=1, max_size=2)
    await db.connect()
    try:
        shop = await traffic.open_shop(stores=1, warehouses=1, skus=1, units=10)
        store, sku = shop.stores[0], shop.skus[0]
        reserve = rpb.CreateReservationRequest(
            request_id=str(uuid.uuid4()),
            channel=common_pb2.CHANNEL_CHAT,
            customer=rpb.Customer(customer_id="CUST-1", name="Ada"),
            store_id=store,
            lines=[common_pb2.SkuQuantity(sku=sku, quantity=2)],
        )
        intent, made = await traffic.intend(
            "reserve", traffic.client(Role.CHAT_AGENT), "CreateReservation", "reservations", reserve
        )
        assert intent.outcome == OK, intent
        order = opb.CreateOrderRequest(
            request_id=str(uuid.uuid4()),
            channel=common_pb2.CHANNEL_WEB,
            customer_id="CUST-2",
            lines=[opb.OrderLineRequest(sku=sku, quantity=1)],
            method=common_pb2.FULFILMENT_METHOD_PICKUP,
            store_id=store,
        )
        intent, placed = await traffic.intend("order", traffic.client(Role.STOREFRONT), "CreateOrder", "orders", order)
        assert intent.outcome == OK, intent

        async def settled() -> bool:
            tasks = await db.fetchval("SELECT count(*) FROM fulfilment.tasks")
            return tasks == 2 and await quiet(db)

        await wait_until(settled, timeout=20, what="both tasks made and every event published")
        await wait_until(lambda: _no_violations(settings, db), timeout=20, what="a consistent system to check clean")

        reservation_id = made.reservation.reservation_id
        allocation = placed.order.allocations[0]
        # The reservation forgets its hold (as if a crash lost the write): the hold is orphaned.
        await db.execute(
            "UPDATE reservations.reservations SET status = 'cancelled' WHERE reservation_id = $1", reservation_id
        )
        # The allocation says shipped, but nothing was committed.
        await db.execute(
            "UPDATE orders.allocations SET status = 'shipped' WHERE allocation_id = $1", allocation.allocation_id
        )
        # The same allocation announced twice made a second task.
        await db.execute(
            "INSERT INTO fulfilment.tasks (task_id, kind, source_key, location_id, status, order_id, allocation_id,"
            " reservation_id, hold_id, pickup_code, method, lines, promise_at, carrier, tracking_number,"
            " withdrawn_reason)"
            " SELECT $1, kind, source_key || ':again', location_id, status, order_id, allocation_id, reservation_id,"
            " hold_id, pickup_code, method, lines, promise_at, carrier, tracking_number, withdrawn_reason"
            " FROM fulfilment.tasks WHERE allocation_id = $2",
            str(uuid.uuid4()),
            allocation.allocation_id,
        )
        # One event stuck in an outbox, one marked published that never reached the stream.
        for published in ("NULL", "now() - interval '1 minute'"):
            await db.execute(
                "INSERT INTO orders.outbox (event_id, subject, envelope, created_at, published_at)"
                f" VALUES ($1, 'omnistock.test', '\\x00', now() - interval '1 minute', {published})",
                str(uuid.uuid4()),
            )

        # A shipment begun (inventory was about to be asked) and never answered nor finished.
        await db.execute(
            "INSERT INTO fulfilment.idempotency (request_id, method, fingerprint, request, created_at)"
            " VALUES ('ship-cut-short', 'Ship', '\\x00', '\\x00', now() - interval '1 minute')"
        )

        found = await check_all(settings, stream=True, db=db)
        checks = {violation.check for violation in found}
        assert {
            "active hold without a live owner",
            "sale and commit disagree",
            "duplicated task",
            "task disagrees with its source",
            "outbox event not published",
            "published event missing from the stream",
            "change left unfinished",
        } <= checks, "\n".join(map(str, found))
        subjects = {violation.subject for violation in found}
        assert made.reservation.hold_id in subjects and allocation.hold_id in subjects
        assert "fulfilment Ship ship-cut-short" in subjects
    finally:
        await traffic.close()
        await db.close()


async def _no_violations(settings: Settings, db: Database) -> bool:
    found = await check_all(settings, stream=True, db=db)
    if found:
        print("\n".join(map(str, found)))
    return not found
