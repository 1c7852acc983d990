"""Metrics against a running stack: every service as its own process serves Prometheus metrics on
its own port, with what an operator watches (calls, outbox, consumer lag, database pool, holds and
shortfalls, reservations), and the alert rules and the dashboard in deploy/ name only metrics the
services export. The names come from the services' own endpoints, so a metric added to a service
is known here as soon as it is exported."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from omnistock.common.v1 import common_pb2
from omnistock.inventory.v1 import inventory_pb2 as ipb
from omnistock.reservations.v1 import reservations_pb2 as rpb
from omnistock_platform.registry import installed_services
from omnistock_platform.services import ServiceName
from omnistock_platform.testing.plugin import isolated_run
from omnistock_platform.testing.processes import ServiceProcess
from omnistock_platform.testing.stack import Stack, unique_id
from omnistock_platform.testing.waiting import wait_until
from tests.deploy.test_address_mode import started
from tests.e2e.test_fulfilment_journey1 import HAMBURG, receive, upsert_location, upsert_sku
from tests.integration.fulfilment.support import request_id

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "omnistock.json"
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# Words of PromQL that look like metric names.
PROMQL_WORDS = frozenset(
    {"sum", "by", "rate", "increase", "max", "min", "histogram_quantile", "le", "or", "and", "unless", "without"}
)
TIMEOUT = 20.0
SERVICES = installed_services()

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(port: int) -> tuple[set[str], Samples]:
    """The names a /metrics page declares (every sample name each family can have) and its samples."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    names: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        names |= sample_names(family.name, family.type)
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return names, samples


def sample_names(name: str, kind: str) -> set[str]:
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
    }.get(kind, ("",))
    return {name + suffix for suffix in suffixes} | {name}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(v for found, v in samples.get(name, []) if all(found.get(k) == want for k, want in labels.items()))


def promql_metrics(expr: str) -> set[str]:
    """The metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names, label values, durations or Grafana variables."""
    stripped = re.sub(r'"[^"]*"', '""', expr)  # label values
    stripped = re.sub(r"\{[^}]*\}", "", stripped)  # label matchers
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # ranges, $__rate_interval
    stripped = re.sub(r"\b(by|without)\s*\([^)]*\)", "", stripped)  # grouping labels
    words = set(re.findall(r"(?<![\w$.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()", stripped))
    return {word for word in words if word not in PROMQL_WORDS and not re.fullmatch(r"e\d*", word)}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> Iterator[str]:
    document = json.loads(DASHBOARD.read_text())
    for panel in document["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]


def test_the_alert_rules_and_dashboard_are_well_formed_and_every_alert_has_its_runbook() -> None:
    rules = alert_rules()
    assert rules, "no alert rules"
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor == rule["alert"].lower(), rule
        assert anchor in headings, f"docs/operations.md has no section {rule['alert']}"
        assert promql_metrics(rule["expr"]), rule
    assert len({rule["alert"] for rule in rules}) == len(rules), "two alerts share a name"
    document = json.loads(DASHBOARD.read_text())
    assert document["uid"] and document["title"]
    panels = [panel for panel in document["panels"] if panel["type"] != "row"]
    assert panels and all(panel.get("targets") for panel in panels)
    assert len({panel["id"] for panel in document["panels"]}) == len(document["panels"])


def test_metric_names_are_found_in_promql() -> None:
    assert promql_metrics(
        'sum by (service, le) (rate(omnistock_rpc_seconds_bucket{code=~"OK|X"}[$__rate_interval])) / up > 1e3'
    ) == {"omnistock_rpc_seconds_bucket", "up"}
    assert promql_metrics("histogram_quantile(0.99, sum by (le) (rate(a_b[5m]))) > 0.5") == {"a_b"}


@pytest.mark.skipif(not {"inventory", "reservations", "fulfilment"} <= set(SERVICES), reason="needs the services")
async def test_every_service_serves_the_metrics_the_alerts_and_the_dashboard_use(
    omnistock_servers: tuple[str, str], tmp_path: Path
) -> None:
    async with (
        isolated_run(*omnistock_servers, label="metrics") as settings,
        started(settings, SERVICES, tmp_path) as running,
    ):
        stack = Stack(settings, addresses={service: process.address for service, process in running.items()})
        try:
            await run_a_reservation_and_a_shortfall(stack)
            ports = {service: process.metrics_port for service, process in running.items()}
            scraped = await scraped_when_measured(running, ports)
        finally:
            await stack.close()

    for service, (names, samples) in scraped.items():
        # Every service: its calls, its database pool, its outbox, its process.
        assert {"omnistock_rpc_total", "omnistock_rpc_seconds_bucket", "process_cpu_seconds_total"} <= names, service
        assert value(samples, "omnistock_db_pool_max_connections", service=service) == settings.db_pool_max, service
        assert any(labels["service"] == service for labels, _ in samples["omnistock_outbox_unpublished_events"])
        assert any(
            labels["service"] == service for labels, _ in samples["omnistock_outbox_oldest_unpublished_age_seconds"]
        )
        # Only its own consumers, each with its lag.
        consumers = {labels["consumer"] for labels, _ in samples.get("omnistock_consumer_pending_messages", [])}
        assert all(consumer.startswith(f"{service}-") for consumer in consumers), (service, consumers)

    inventory, reservations, fulfilment = (scraped[s][1] for s in ("inventory", "reservations", "fulfilment"))
    assert value(inventory, "omnistock_holds_total", channel="chat") >= 1
    assert value(inventory, "omnistock_shortfalls_total", channel="web") >= 1
    assert value(inventory, "omnistock_rpc_total", service="inventory", method="Hold", code="OK") >= 1
    assert value(reservations, "omnistock_reservation_events_total", event="created", channel="chat") >= 1
    assert value(reservations, "omnistock_outbox_published_total", service="reservations") >= 1
    assert (
        value(fulfilment, "omnistock_consumer_events_total", consumer="fulfilment-reservations", outcome="handled") >= 1
    )
    assert value(fulfilment, "omnistock_consumer_pending_messages", consumer="fulfilment-reservations") == 0
    assert value(fulfilment, "omnistock_db_pool_wait_seconds_count", service="fulfilment") >= 1

    exported = set().union(*(names for names, _ in scraped.values())) | PROMETHEUS_OWN
    for rule in alert_rules():
        missing = promql_metrics(rule["expr"]) - exported
        assert not missing, f"alert {rule['alert']} names metrics no service exports: {sorted(missing)}"
    for expr in dashboard_exprs():
        missing = promql_metrics(expr) - exported
        assert not missing, f"dashboard query {expr!r} names metrics no service exports: {sorted(missing)}"


async def run_a_reservation_and_a_shortfall(stack: Stack) -> None:
    admin = stack.stub("inventory")
    branch = await upsert_location(admin, ipb.LOCATION_KIND_STORE, "Hamburg", HAMBURG)
    green = await upsert_sku(admin, "green")
    await receive(admin, branch, green, 1)
    await stack.stub("reservations", role="chat_agent").CreateReservation(
        rpb.CreateReservationRequest(
            request_id=request_id(),
            channel=common_pb2.CHANNEL_CHAT,
            customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Ada Green", email="ada@example.com"),
            store_id=branch,
            lines=[common_pb2.SkuQuantity(sku=green, quantity=1)],
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stack.stub("reservations", role="storefront").CreateReservation(
            rpb.CreateReservationRequest(
                request_id=request_id(),
                channel=common_pb2.CHANNEL_WEB,
                customer=rpb.Customer(customer_id=unique_id("CUST-"), name="Bob Blue", email="bob@example.com"),
                store_id=branch,
                lines=[common_pb2.SkuQuantity(sku=green, quantity=1)],
            )
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def scraped_when_measured(
    running: dict[ServiceName, ServiceProcess], ports: dict[ServiceName, int]
) -> dict[ServiceName, tuple[set[str], Samples]]:
    """Every service's page, once fulfilment has handled the reservation and measured its lag, and
    reservations counted the event published."""
    pages: dict[ServiceName, tuple[set[str], Samples]] = {}

    async def ready() -> bool:
        for service, port in ports.items():
            pages[service] = await asyncio.to_thread(scrape, port)
        fulfilment = pages["fulfilment"][1]
        return (
            value(fulfilment, "omnistock_consumer_events_total", consumer="fulfilment-reservations", outcome="handled")
            >= 1
            and any(
                labels.get("consumer") == "fulfilment-reservations"
                for labels, _ in fulfilment.get("omnistock_consumer_pending_messages", [])
            )
            and value(fulfilment, "omnistock_consumer_pending_messages", consumer="fulfilment-reservations") == 0
            # The relay counts a batch once JetStream acknowledged it, which a consumer may beat.
            and value(pages["reservations"][1], "omnistock_outbox_published_total", service="reservations") >= 1
        )

    await wait_until(ready, TIMEOUT, interval=0.5, what="fulfilment to handle the reservation and measure its lag")
    assert set(pages) == set(running)
    return pages
