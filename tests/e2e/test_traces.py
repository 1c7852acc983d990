"""Journeys 1 and 2 traced. A chat agent's reservation of the last green sofa is one trace, from the
reservations service through inventory's hold, the relay that publishes the events, and on to
fulfilment creating the store's pickup task, and to the channel watching the SKU. The services
run in this process, exporting to memory; the tree asserted is the one `omnistock trace` draws."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from google.protobuf import duration_pb2
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from omnistock.common.v1 import common_pb2
from omnistock.fulfilment.v1 import fulfilment_pb2 as fpb
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform import telemetry
from omnistock_platform.registry import installed_services
from omnistock_platform.testing.plugin import isolated_run
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from omnistock_platform.traces import SpanRecord, tree
from tests.e2e.test_fulfilment_journey1 import HAMBURG, receive, upsert_location, upsert_sku
from tests.integration.fulfilment.support import request_id

TIMEOUT = 15.0


@pytest_asyncio.fixture(scope="module")
async def traced(omnistock_servers: tuple[str, str]) -> AsyncIterator[tuple[Stack, InMemorySpanExporter]]:
    """Every service, started while tracing to memory is installed; tracing is off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = telemetry.new_provider("", [exporter], batch=False)
    telemetry.install(provider)
    try:
        async with isolated_run(*omnistock_servers, label="traced") as settings:
            running = Stack(settings)
            await running.start(*installed_services())
            try:
                yield running, exporter
            finally:
                await running.close()
    finally:
        telemetry.uninstall()
        provider.shutdown()


def records(exporter: InMemorySpanExporter) -> list[SpanRecord]:
    return [SpanRecord.of(span) for span in exporter.get_finished_spans()]


def only(spans: list[SpanRecord], what: str) -> SpanRecord:
    assert len(spans) == 1, f"expected one {what}, found {len(spans)}"
    return spans[0]


def children(spans: list[SpanRecord], parent: SpanRecord) -> list[SpanRecord]:
    return [span for span in spans if span.parent_id == parent.span_id]


def below(spans: list[SpanRecord], parent: SpanRecord) -> list[SpanRecord]:
    """Every descendant of `parent`."""
    found, frontier = [], [parent]
    while frontier:
        nxt = [span for node in frontier for span in children(spans, node)]
        found += nxt
        frontier = nxt
    return found


@pytest.mark.skipif("reservations" not in installed_services(), reason="needs the reservations service")
async def test_a_reservation_is_one_trace_from_the_channel_to_the_pickup_task(
    traced: tuple[Stack, InMemorySpanExporter],
) -> None:
    stack, exporter = traced
    admin = stack.stub("inventory")
    branch = await upsert_location(admin, ipb.LOCATION_KIND_STORE, "Hamburg", HAMBURG)
    green = await upsert_sku(admin, "green")
    await receive(admin, branch, green, 1)

    watch = stack.stub("inventory", role="chat_agent").WatchStock(
        ipb.WatchStockRequest(skus=[green], channel=common_pb2.CHANNEL_CHAT)
    )
    snapshot = await asyncio.wait_for(watch.read(), TIMEOUT)
    assert snapshot.snapshot_complete
    exporter.clear()

    reservation = (
        await stack.stub("reservations", role="chat_agent").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_CHAT,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada Green", email="ada@example.com"),
                store_id=branch,
                lines=[common_pb2.SkuQuantity(sku=green, quantity=1)],
            )
        )
    ).reservation
    change = await asyncio.wait_for(watch.read(), TIMEOUT)
    assert [(level.sku, level.held) for level in change.levels] == [(green, 1)]
    watch.cancel()

    reservations_subject = f"{stack.settings.subject_prefix}.reservations.reservation.created"
    tasks_subject = f"{stack.settings.subject_prefix}.fulfilment.task.created"

    def pickup_task_traced() -> bool:
        spans = records(exporter)
        made = [s for s in spans if s.name == f"process {reservations_subject}" and s.service == "fulfilment"]
        return any(
            any(t.name == f"publish {tasks_subject}" for t in below(spans, m))
            and any("fulfilment.tasks" in str(t.attributes.get("db.statement", "")) for t in below(spans, m))
            for m in made
        )

    await wait_until(pickup_task_traced, TIMEOUT, what="fulfilment's pickup task in the reservation's trace")
    tasks = await stack.stub("fulfilment", role="pos", locations=[branch]).ListTasks(
        fpb.ListTasksRequest(location_id=branch)
    )
    assert [task.reservation_id for task in tasks.tasks] == [reservation.reservation_id]

    # The other consumers' handling and the relays' acknowledgements end on their own time: wait
    # until every span exported so far has its parent exported too, and the publications are in.
    prefix = stack.settings.subject_prefix
    expected = {f"publish {prefix}.{event}" for event in ("inventory.stock.changed", "inventory.hold.created")}

    def complete() -> bool:
        spans = records(exporter)
        roots = [s for s in spans if s.kind == "SERVER" and s.name.endswith("ReservationsService/CreateReservation")]
        if len(roots) != 1:
            return False
        trace = [s for s in spans if s.trace_id == roots[0].trace_id]
        ids = {s.span_id for s in trace}
        return all(s.parent_id in ids for s in trace if s is not roots[0]) and expected | {
            f"publish {reservations_subject}"
        } <= {s.name for s in trace}

    await wait_until(complete, TIMEOUT, what="every span of the trace, with its parent")
    spans = records(exporter)
    root = only(
        [s for s in spans if s.kind == "SERVER" and s.name.endswith("ReservationsService/CreateReservation")],
        "CreateReservation server span",
    )
    trace = [s for s in spans if s.trace_id == root.trace_id]
    drawn = tree(trace)
    print(f"\ntrace {root.trace_id}\n{drawn}")

    # The channel's call is the root; everything below belongs to it.
    assert root.service == "reservations" and root.parent_id == ""
    assert root.attributes.get(telemetry.REQUEST_ID_ATTRIBUTE), drawn

    # reservations -> inventory: the hold, a client span in reservations and the server span in inventory.
    hold_client = only(
        [s for s in children(trace, root) if s.kind == "CLIENT" and s.name.endswith("InventoryService/Hold")],
        "Hold client span",
    )
    assert hold_client.service == "reservations", drawn
    hold_server = only(children(trace, hold_client), "Hold server span")
    assert (hold_server.service, hold_server.kind) == ("inventory", "SERVER"), drawn
    assert hold_server.name.endswith("InventoryService/Hold"), drawn
    assert any(s.attributes.get("db.system") == "postgresql" for s in below(trace, hold_server)), drawn

    # inventory -> the relay: the hold's events are published in the same trace, and the watching
    # channel is handed the stock change.
    inventory_published = {s.name for s in children(trace, hold_server) if s.kind == "PRODUCER"}
    assert expected <= inventory_published, drawn
    stock_changed = next(
        s for s in children(trace, hold_server) if s.name.endswith("inventory.stock.changed") and s.kind == "PRODUCER"
    )
    assert any(s.name == "deliver WatchStock" and s.service == "inventory" for s in children(trace, stock_changed))

    # reservations' own event, published by its relay, handled by fulfilment: the pickup task.
    published = only(
        [s for s in children(trace, root) if s.name == f"publish {reservations_subject}"], "reservation.created publish"
    )
    assert (published.service, published.kind) == ("reservations", "PRODUCER"), drawn
    handled = only(
        [s for s in children(trace, published) if s.service == "fulfilment"], "fulfilment's handling of the event"
    )
    assert handled.kind == "CONSUMER", drawn
    assert handled.attributes.get("messaging.consumer.group.name") == "fulfilment-reservations", drawn
    inserts = [
        s
        for s in below(trace, handled)
        if str(s.attributes.get("db.statement", "")).lstrip().upper().startswith("INSERT")
        and "fulfilment.tasks" in str(s.attributes.get("db.statement", ""))
    ]
    assert inserts and all(s.service == "fulfilment" for s in inserts), drawn
    assert any(s.name == f"publish {tasks_subject}" for s in children(trace, handled)), drawn

    # Nothing of the trace failed.
    assert [s.name for s in trace if s.status == "ERROR"] == [], drawn


async def test_a_refused_call_is_in_its_trace_with_its_status(traced: tuple[Stack, InMemorySpanExporter]) -> None:
    stack, exporter = traced
    exporter.clear()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.stub("inventory", role="chat_agent").GetSku(ipb.GetSkuRequest(sku=unique_id("NO-SUCH-")))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    await wait_until(lambda: any(s.kind == "SERVER" for s in records(exporter)), TIMEOUT, what="the server span")
    server = only([s for s in records(exporter) if s.kind == "SERVER"], "GetSku server span")
    assert server.name.endswith("InventoryService/GetSku")
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    # The caller's mistake, not the service's: the span is not marked as failed.
    assert server.status != "ERROR"


@pytest.mark.skipif("reservations" not in installed_services(), reason="needs the reservations service")
async def test_an_expiry_is_one_trace_from_the_sweeper_to_the_withdrawn_task(
    traced: tuple[Stack, InMemorySpanExporter],
) -> None:
    """Journey 2: nobody collects; inventory's sweeper expires the hold, and its trace follows the
    event to reservations (the reservation expires) and on to fulfilment (the task is withdrawn)."""
    stack, exporter = traced
    admin = stack.stub("inventory")
    branch = await upsert_location(admin, ipb.LOCATION_KIND_STORE, "Hamburg", HAMBURG)
    green = await upsert_sku(admin, "green")
    await receive(admin, branch, green, 1)
    reservation = (
        await stack.stub("reservations", role="app").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_APP,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada Green", email="ada@example.com"),
                store_id=branch,
                lines=[common_pb2.SkuQuantity(sku=green, quantity=1)],
                hold_for=duration_pb2.Duration(seconds=1),
            )
        )
    ).reservation
    prefix = stack.settings.subject_prefix

    def expiry_traced() -> bool:
        """Fulfilment handled the expiry, and every span of that trace has its parent exported
        (the relays' acknowledgements and the consumers' acks end on their own time)."""
        spans = records(exporter)
        handled = [
            s
            for s in spans
            if s.name == f"process {prefix}.reservations.reservation.expired" and s.service == "fulfilment"
        ]
        if not handled:
            return False
        trace = [s for s in spans if s.trace_id == handled[0].trace_id]
        ids = {s.span_id for s in trace}
        return all(not s.parent_id or s.parent_id in ids for s in trace)

    await wait_until(expiry_traced, TIMEOUT, what="fulfilment handling the reservation's expiry, in a whole trace")
    spans = records(exporter)
    expiry = only(
        [s for s in spans if s.name == "expire hold" and s.attributes.get("omnistock.hold_id") == reservation.hold_id],
        "expiry of the reservation's hold",
    )
    trace = [s for s in spans if s.trace_id == expiry.trace_id]
    drawn = tree(trace)
    assert (expiry.service, expiry.kind, expiry.parent_id) == ("inventory", "INTERNAL", ""), drawn
    expired = only(
        [s for s in children(trace, expiry) if s.name == f"publish {prefix}.inventory.hold.expired"], "hold.expired"
    )
    followed = only(
        [s for s in children(trace, expired) if s.service == "reservations"], "reservations handling hold.expired"
    )
    reservation_expired = only(
        [s for s in children(trace, followed) if s.name == f"publish {prefix}.reservations.reservation.expired"],
        "reservation.expired",
    )
    withdrawn = only(
        [s for s in children(trace, reservation_expired) if s.service == "fulfilment"], "fulfilment's withdrawal"
    )
    assert any("fulfilment.tasks" in str(s.attributes.get("db.statement", "")) for s in below(trace, withdrawn)), drawn
